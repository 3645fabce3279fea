package server_test

// POST /v1/verify is public and each request reads the chain (finding 6 of
// the security review): it is rate limited per client address, its chain
// reads are cached, and a chain endpoint that does not answer gives 503 +
// Retry-After, never valid=false.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/verify"
)

// verifyServer is a second server over f's store, chain and anchoring
// address, with cfg and reader as its chain endpoint, on 127.0.0.1.
func (f *fixture) verifyServer(cfg server.Config, reader verify.Chain) (*httptest.Server, *metrics.Metrics) {
	f.t.Helper()
	keys, err := apikeys.Parse([]byte(keysFile))
	if err != nil {
		f.t.Fatal(err)
	}
	m := metrics.New(testVersion)
	cfg.Version = testVersion
	srv := server.New(cfg, server.Deps{
		Store: f.st, Keys: keys, Signer: f.signer, Sealer: f.sealer, Metrics: m,
		Chains: []server.Chain{{
			ID: f.anc.ChainID(), Anchorer: f.anc.Address(), Sink: f.anc.Sink(),
			Confirmations: f.anc.Confirmations(), Reader: reader,
		}},
		Ready: func(context.Context) (notReady, degraded []string) { return nil, nil },
	})
	ts := httptest.NewServer(srv.Handler())
	f.t.Cleanup(ts.Close)
	if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
		f.t.Fatalf("test server at %s, want 127.0.0.1", ts.URL)
	}
	return ts, m
}

// confirmedProof submits a fingerprint, anchors and confirms it, and
// returns a verify request for its proof.
func (f *fixture) confirmedProof() api.VerifyRequest {
	f.t.Helper()
	list := fps(f.t, 1)
	f.submit(keyA, list...)
	f.seal()
	f.confirm()
	st, _ := f.status(list[0])
	if st.Status != "confirmed" || st.Proof == nil {
		f.t.Fatalf("status %+v", st)
	}
	return api.VerifyRequest{Bundle: *st.Proof, Fingerprint: &list[0]}
}

// postVerify posts req to ts's /v1/verify with client c and extra headers.
func postVerify(t *testing.T, c *http.Client, ts *httptest.Server, req api.VerifyRequest, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/verify", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// clientFrom is an HTTP client whose connections come from local address ip
// (any of 127.0.0.0/8 is loopback on Linux).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// verifyOK posts req and requires a 200 with a result.
func verifyOK(t *testing.T, c *http.Client, ts *httptest.Server, req api.VerifyRequest, hdr map[string]string) api.VerifyResult {
	t.Helper()
	resp, body := postVerify(t, c, ts, req, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out api.VerifyResult
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// failingChain is a real endpoint whose reads from some point on fail.
type failingChain struct {
	verify.Chain
	headers bool // HeaderByNumber fails
}

var errDown = errors.New("connection refused")

func (c failingChain) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	if c.headers {
		return nil, errDown
	}
	return c.Chain.HeaderByNumber(ctx, n)
}

// TestVerifyEndpointDown: while the server's chain endpoint does not answer
// (a real go-ethereum client dialled to a closed port) or fails part-way,
// a true proof gets 503 problem+json with Retry-After, counted as
// undecided — not 200 valid=false. A false document is still false.
func TestVerifyEndpointDown(t *testing.T) {
	f := newFixture(t, server.Config{})
	req := f.confirmedProof()
	if out, body := f.verify(req); !out.Valid || out.Verdict != api.VerifyResultVerdictValid {
		t.Fatalf("baseline: the proof does not verify: %s", body)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	down, err := ethclient.Dial(closed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)

	for _, tc := range []struct {
		name   string
		reader verify.Chain
	}{
		{"unreachable", down},
		{"headers fail", failingChain{Chain: f.sim.Client(), headers: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, m := f.verifyServer(server.Config{}, tc.reader)
			resp, body := postVerify(t, ts.Client(), ts, req, nil)
			detail := checkProblem(t, resp, body, http.StatusServiceUnavailable, "/v1/verify")
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if !strings.Contains(detail, "could not decide") || !strings.Contains(detail, "nothing was found false") {
				t.Errorf("detail %q", detail)
			}
			if strings.Contains(string(body), closed) || strings.Contains(string(body), "refused") {
				t.Errorf("the problem shows the endpoint's error: %s", body)
			}
			if got := testutil.ToFloat64(m.VerifyResults.WithLabelValues("undecided")); got != 1 {
				t.Errorf("undecided results %v, want 1", got)
			}
			if got := testutil.ToFloat64(m.VerifyResults.WithLabelValues("invalid")); got != 0 {
				t.Errorf("invalid results %v, want 0", got)
			}
			// Evidence that is false needs no chain to be false.
			other := fp(t, "another document")
			bad := req
			bad.Fingerprint = &other
			out := verifyOK(t, ts.Client(), ts, bad, nil)
			if out.Verdict != api.VerifyResultVerdictInvalid || !failed(&out, "fingerprint") {
				t.Errorf("a false document while the endpoint is down: %+v", out)
			}
			for _, ch := range out.Checks {
				if ch.Detail != nil && (strings.Contains(*ch.Detail, closed) || strings.Contains(*ch.Detail, "refused")) {
					t.Errorf("check %s shows the endpoint's error: %s", ch.Name, *ch.Detail)
				}
			}
		})
	}
}

// TestVerifyRateLimitPerAddress: after its burst an address gets 429 with
// Retry-After (a forged X-Forwarded-For does not help); another address
// is unaffected.
func TestVerifyRateLimitPerAddress(t *testing.T) {
	f := newFixture(t, server.Config{})
	req := f.confirmedProof()
	const burst = 3
	ts, _ := f.verifyServer(server.Config{VerifyRate: 0.001, VerifyBurst: burst}, f.sim.Client())
	one, two := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i := range burst {
		if out := verifyOK(t, one, ts, req, nil); !out.Valid {
			t.Fatalf("request %d within the burst: %+v", i, out)
		}
	}
	for _, hdr := range []map[string]string{nil, {"X-Forwarded-For": "203.0.113.7"}, {"X-Real-IP": "203.0.113.8"}} {
		resp, body := postVerify(t, one, ts, req, hdr)
		checkProblem(t, resp, body, http.StatusTooManyRequests, "/v1/verify")
		if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Errorf("429 with Retry-After %q", ra)
		}
	}
	if out := verifyOK(t, two, ts, req, nil); !out.Valid {
		t.Fatalf("another address: %+v", out)
	}
}

// countingChain counts the reads that reach a real endpoint.
type countingChain struct {
	verify.Chain
	n atomic.Int64
}

func (c *countingChain) ChainID(ctx context.Context) (*big.Int, error) {
	c.n.Add(1)
	return c.Chain.ChainID(ctx)
}

func (c *countingChain) TransactionByHash(ctx context.Context, h common.Hash) (*types.Transaction, bool, error) {
	c.n.Add(1)
	return c.Chain.TransactionByHash(ctx, h)
}

func (c *countingChain) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	c.n.Add(1)
	return c.Chain.TransactionReceipt(ctx, h)
}

func (c *countingChain) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	c.n.Add(1)
	return c.Chain.HeaderByNumber(ctx, n)
}

// TestVerifyCachesChainReads: N identical verify requests read the chain
// far fewer than the N×3 times they would uncached, and all are valid. A
// format 2 bundle needs 3 reads (chain ID, the anchor block's header, the
// head: its evidence holds the rest).
func TestVerifyCachesChainReads(t *testing.T) {
	f := newFixture(t, server.Config{})
	req := f.confirmedProof()
	reader := &countingChain{Chain: f.sim.Client()}
	ts, _ := f.verifyServer(server.Config{VerifyRate: -1}, reader)
	const n = 40
	for i := range n {
		if out := verifyOK(t, ts.Client(), ts, req, nil); !out.Valid {
			t.Fatalf("request %d: %+v", i, out)
		}
	}
	// One verification is 3 reads; the head and block expire every few
	// seconds, so a slow machine adds a few.
	if got := reader.n.Load(); got < 3 || got > n/2 {
		t.Fatalf("%d identical requests made %d chain reads; uncached %d", n, got, 3*n)
	} else {
		t.Logf("%d identical requests made %d chain reads (uncached: %d)", n, got, 3*n)
	}
}
