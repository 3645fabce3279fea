package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/strictjson"
)

const (
	defaultServer = "http://127.0.0.1:8080"
	defaultRPC    = "http://127.0.0.1:8545"
)

// newClient returns an API client for server, adding the bearer key to
// every request when one is set. Its requests use the client certificate
// and CA of the command's TLS flags (withServerTLS) when their context
// carries them.
func newClient(server, apiKey string) (*api.ClientWithResponses, error) {
	if err := needScheme("the server URL (--server, ATTESTD_SERVER)", server, true); err != nil {
		return nil, err
	}
	opts := []api.ClientOption{api.WithHTTPClient(strictResponses{&http.Client{Timeout: 60 * time.Second, Transport: contextTransport{}}})}
	if apiKey != "" {
		opts = append(opts, api.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+apiKey)
			return nil
		}))
	}
	return api.NewClientWithResponses(strings.TrimRight(server, "/"), opts...)
}

// needScheme refuses an endpoint URL without a scheme ("127.0.0.1:8080"),
// which would otherwise fail later with a cryptic error (or, for
// JSON-RPC, be taken for an IPC socket path), and says what was probably
// meant. A plain host:port (or, with bareHost, a host name alone) is
// echoed in the hint; anything else (a path, something that may hold a
// credential) is left to the dialler.
func needScheme(what, raw string, bareHost bool) error {
	if strings.Contains(raw, "://") || raw == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(raw)
	if err != nil {
		if !bareHost || strings.ContainsAny(raw, "/\\@?#: ") {
			return nil // a path (an IPC socket), or not a host at all: leave it to the dialler
		}
		host = raw
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil || strings.ContainsAny(host, "/\\@?#") {
		return nil
	}
	scheme := "https://"
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		scheme = "http://"
	}
	return fmt.Errorf("%s %s has no scheme: did you mean %s%s?", what, raw, scheme, raw)
}

// strictResponses hands the generated client a JSON response only once
// internal/strictjson.Check has found it to be one JSON value without
// duplicate or case-variant member names: the generated code decodes with
// encoding/json, which would take the last of two "proof"s or "receipts".
// Unknown fields are left to the generated code, which ignores them, so a
// newer server may add some.
type strictResponses struct{ next api.HttpRequestDoer }

func (s strictResponses) Do(req *http.Request) (*http.Response, error) {
	resp, err := s.next.Do(req)
	if err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "application/problem+json" {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := strictjson.Check(body); err != nil {
		return nil, fmt.Errorf("%s %s: HTTP %d with a malformed JSON body: %w", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// problemError renders a non-2xx response, problem+json or not, as an error.
func problemError(op string, status int, body []byte) error {
	var p api.Problem
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		d := ""
		if p.Detail != nil {
			d = ": " + *p.Detail
		}
		return fmt.Errorf("%s: %d %s%s", op, status, p.Title, d)
	}
	return fmt.Errorf("%s: HTTP %d: %.200s", op, status, strings.TrimSpace(string(body)))
}
