package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/store"
)

// unavailableStore fails the calls a request makes as a full disk or an
// unreachable Redis does.
type unavailableStore struct {
	store.Store
	err error
}

func (s unavailableStore) Submit(context.Context, []store.Submission, int) ([]store.Record, int, error) {
	return nil, 0, s.err
}

func (s unavailableStore) Proof(context.Context, fingerprint.Fingerprint) (store.Proof, error) {
	return store.Proof{}, s.err
}

// TestStoreUnavailable: a store failure wrapping store.ErrUnavailable
// answers 503 with Retry-After as problem+json, on the submit and the read
// path, and the problem shows neither the file nor the address of the
// cause; any other store failure stays a 500.
func TestStoreUnavailable(t *testing.T) {
	f := newFixture(t, server.Config{})
	keys, err := apikeys.Parse([]byte(keysFile))
	if err != nil {
		t.Fatal(err)
	}
	const where = "/secret/data/attestd.db.log"
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"full disk", store.Unavailable(fmt.Errorf("bolt: committing to %s: write: %w", where, syscall.ENOSPC)), 503},
		{"redis down", fmt.Errorf("redis: submit: %w", store.Unavailable(fmt.Errorf("dial tcp 10.1.2.3:6379: %w", syscall.ECONNREFUSED))), 503},
		{"other", fmt.Errorf("bolt: bad entry in %s", where), 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server.New(server.Config{}, server.Deps{
				Store: unavailableStore{f.st, tc.err}, Keys: keys, Signer: f.signer, Sealer: f.sealer,
				Metrics: metrics.New(testVersion), Log: slog.New(slog.DiscardHandler),
			})
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			body := fmt.Sprintf(`{"fingerprints":[%q]}`, fp(t, "x"))
			for _, req := range []*http.Request{
				func() *http.Request {
					r, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/fingerprints", strings.NewReader(body))
					r.Header.Set("Authorization", "Bearer "+keyA)
					r.Header.Set("Content-Type", "application/json")
					return r
				}(),
				func() *http.Request {
					r, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/fingerprints/"+fp(t, "x"), nil)
					return r
				}(),
			} {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var p struct{ Status int }
				if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil || p.Status != tc.status {
					t.Fatalf("%s %s: %d %s %s; want %d problem+json", req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.status)
				}
				if got := resp.Header.Get("Retry-After"); (tc.status == 503) != (got != "") {
					t.Fatalf("%s %s: Retry-After %q with status %d", req.Method, req.URL.Path, got, tc.status)
				}
				if strings.Contains(string(b), where) || strings.Contains(string(b), "10.1.2.3") {
					t.Fatalf("the problem shows the cause's file or address: %s", b)
				}
			}
		})
	}
}
