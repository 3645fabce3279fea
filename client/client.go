package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/strictjson"
)

// DefaultTimeout bounds each request of a [Client] made without
// [WithHTTPClient].
const DefaultTimeout = 60 * time.Second

// MaxResponseSize bounds what the client reads of one answer (a
// submission of 10,000 fingerprints is answered with about 12 MiB of
// receipts); a larger answer is an error, not read to its end.
const MaxResponseSize = 64 << 20

// A Client talks to one attestd server. It is safe for concurrent use.
//
// Every answer is checked before it is used: a JSON body must be one JSON
// value with no member given twice, in any spelling of its name (a reader
// that took the last of two "proof"s could be shown another proof than a
// careful one), no longer than [MaxResponseSize]; each receipt must be
// signed by a key the server publishes, for the time it names; each proof
// must be well-formed and for the fingerprint asked about. An answer that
// is not 2xx is a [*ProblemError].
type Client struct {
	api    *api.ClientWithResponses
	server string // the server's URL, without any user:password in it
	chunk  int

	mu   sync.Mutex
	keys []api.ReceiptKey // the server's receipt keys, as last fetched
}

// An Option configures a [Client] made by [New].
type Option func(*settings) error

type settings struct {
	apiKey string
	http   *http.Client
	tls    *tls.Config
	chunk  int
}

// WithAPIKey authenticates the client's submissions with an institution's
// API key (sent as a bearer token). Keep it out of source code and command
// lines: read it from the environment or a file.
func WithAPIKey(key string) Option {
	return func(s *settings) error {
		if key == "" || strings.ContainsAny(key, "\r\n") {
			return errors.New("client: the API key is empty or spans lines")
		}
		s.apiKey = key
		return nil
	}
}

// WithTLSConfig makes the client's HTTPS connections with tc: its
// Certificates authenticate the institution to a server that takes client
// certificates (serve --client-ca; no API key is needed then), and its
// RootCAs are the CAs trusted for the server's certificate instead of the
// system's. It cannot be combined with [WithHTTPClient]: give that
// client's transport the configuration instead.
func WithTLSConfig(tc *tls.Config) Option {
	return func(s *settings) error {
		if tc == nil {
			return errors.New("client: WithTLSConfig(nil)")
		}
		s.tls = tc
		return nil
	}
}

// WithHTTPClient sends the client's requests with hc (its transport,
// timeout, proxy, redirects) instead of a client with [DefaultTimeout].
// The answers are checked all the same.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return errors.New("client: WithHTTPClient(nil)")
		}
		s.http = hc
		return nil
	}
}

// WithChunkSize sets how many fingerprints [Client.Submit] sends in one
// request: 1 to [MaxPerRequest], [DefaultChunkSize] without this option.
// Smaller requests lose less to a failure half-way; larger ones make fewer
// round trips.
func WithChunkSize(n int) Option {
	return func(s *settings) error {
		if n < 1 || n > MaxPerRequest {
			return fmt.Errorf("client: chunk size %d: want 1 to %d", n, MaxPerRequest)
		}
		s.chunk = n
		return nil
	}
}

// New returns a client of the attestd server at serverURL (http:// or
// https://, e.g. "https://attestd.example.org").
//
// Only submissions need credentials: [WithAPIKey], or a client certificate
// with [WithTLSConfig]. Reading a proof, the server's keys and what it
// anchors on is public.
func New(serverURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("client: the server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: the server URL must start with http:// or https:// and name a host, like https://attestd.example.org")
	}
	s := settings{chunk: DefaultChunkSize}
	for _, o := range opts {
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	hc := s.http
	switch {
	case hc != nil && s.tls != nil:
		return nil, errors.New("client: WithTLSConfig and WithHTTPClient: give the TLS configuration to the HTTP client's transport")
	case hc == nil:
		t := http.DefaultTransport.(*http.Transport).Clone()
		if s.tls != nil {
			t.TLSClientConfig = s.tls.Clone()
		}
		hc = &http.Client{Timeout: DefaultTimeout, Transport: t}
	}
	apiOpts := []api.ClientOption{api.WithHTTPClient(checked{hc, MaxResponseSize})}
	if key := s.apiKey; key != "" {
		// The key lives in this closure only, not in a field that a %+v
		// of the Client would print.
		apiOpts = append(apiOpts, api.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
	}
	c, err := api.NewClientWithResponses(strings.TrimRight(serverURL, "/"), apiOpts...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	u.User = nil
	return &Client{api: c, server: strings.TrimRight(u.String(), "/"), chunk: s.chunk}, nil
}

// API returns the generated client of every operation of the HTTP API
// (package [api]), for one this package does not wrap. Its requests carry
// this client's credentials, and its answers get the same checks of their
// JSON (not of their receipts and proofs: check those yourself, as
// [Client.Submit] and [Client.Status] do).
func (c *Client) API() *api.ClientWithResponses { return c.api }

// Info returns what the server is (GET /v1/info): its receipt keys with
// their periods, the chains it anchors on with its anchoring address and
// sink on each, its batch interval and version.
func (c *Client) Info(ctx context.Context) (*api.Info, error) {
	resp, err := c.api.GetInfoWithResponse(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking the server what it is: %w", err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		return nil, problem("info", resp.HTTPResponse, resp.Body)
	}
	return resp.JSON200, nil
}

// checked is the client's HTTP doer: it bounds every answer and hands a
// JSON one to the generated code only once internal/strictjson.Check has
// found it to be one JSON value without duplicate or case-variant member
// names (the generated code decodes with encoding/json, which takes the
// last of two). Unknown members are left to the generated code, which
// ignores them, so a newer server may add some.
type checked struct {
	hc    *http.Client
	limit int // MaxResponseSize
}

func (d checked) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(d.limit)+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	if len(body) > d.limit {
		return nil, fmt.Errorf("%s %s: HTTP %d with an answer larger than %d bytes", req.Method, req.URL.Path, resp.StatusCode, d.limit)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/json" || mt == "application/problem+json" {
		if err := strictjson.Check(body); err != nil {
			return nil, fmt.Errorf("%s %s: HTTP %d with a malformed JSON body: %w", req.Method, req.URL.Path, resp.StatusCode, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
