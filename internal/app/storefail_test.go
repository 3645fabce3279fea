package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/redistest"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
	redisstore "github.com/attestd/attestd/internal/store/redis"
	"github.com/attestd/attestd/internal/tmpfstest"
)

// service is attestd run by Run for a test, on a dev chain of its own.
type service struct {
	t      *testing.T
	url    string
	apiKey string
	cancel context.CancelFunc
	done   <-chan error
	logs   *syncBuffer
}

func startService(t *testing.T, cfg Config) *service {
	t.Helper()
	dir := t.TempDir()
	chain, err := devchain.Start(devchain.Config{DataDir: filepath.Join(dir, "chain"), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	s := &service{t: t, apiKey: apiKey, logs: &syncBuffer{}}
	cfg.Listen = "127.0.0.1:0"
	cfg.Chains = []ChainConfig{{
		RPC: chain.RPCURL(), KeyFile: filepath.Join(dir, "chain", devchain.KeyFile),
		Anchor: anchor.Config{Confirmations: 1, PollInterval: 50 * time.Millisecond},
	}}
	cfg.APIKeysFile = keysFile
	cfg.Log = slog.New(slog.NewTextHandler(s.logs, nil))
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	s.url, s.done = start(t, ctx, cfg)
	t.Cleanup(func() {
		if s.cancel != nil {
			s.stop()
		}
	})
	return s
}

// stop shuts the service down and checks Run returned nil.
func (s *service) stop() {
	s.t.Helper()
	s.cancel()
	s.cancel = nil
	if err := <-s.done; err != nil {
		s.t.Errorf("Run: %v", err)
	}
}

// submit posts fps and returns the response.
func (s *service) submit(fps []fingerprint.Fingerprint) (*http.Response, string) {
	s.t.Helper()
	texts := make([]string, len(fps))
	for i, fp := range fps {
		texts[i] = fp.String()
	}
	body, _ := json.Marshal(map[string]any{"fingerprints": texts})
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/fingerprints", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *service) get(path string) (int, string) {
	s.t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of an unlabelled series in /metrics (-1 if absent).
func (s *service) metric(name string) float64 {
	s.t.Helper()
	_, body := s.get("/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

// eventually polls cond until it holds, failing after d with what.
func (s *service) eventually(d time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustAccept submits fps and wants 202.
func (s *service) mustAccept(fps []fingerprint.Fingerprint) {
	s.t.Helper()
	if resp, body := s.submit(fps); resp.StatusCode != http.StatusAccepted {
		s.t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
}

// mustRefuse submits fps and wants 503 + Retry-After as problem+json that
// names neither a file nor an address.
func (s *service) mustRefuse(fps []fingerprint.Fingerprint, hidden ...string) {
	s.t.Helper()
	resp, body := s.submit(fps)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		s.t.Fatalf("submit with the store unavailable: %d, Retry-After %q, %s: %s; want 503, Retry-After, problem+json",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
	}
	var p struct {
		Status int
		Detail string
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != 503 || !strings.Contains(p.Detail, "store is unavailable") {
		s.t.Fatalf("problem: %s (%v)", body, err)
	}
	for _, h := range hidden {
		if strings.Contains(body, h) {
			s.t.Fatalf("the problem shows %q: %s", h, body)
		}
	}
}

func fpsOf(tag string, n int) []fingerprint.Fingerprint {
	out := make([]fingerprint.Fingerprint, n)
	for i := range out {
		out[i] = fingerprint.Sum([]byte(fmt.Sprintf("%s %d", tag, i)))
	}
	return out
}

// TestServeFullDisk: the embedded store's file system runs full while
// fingerprints are pending. Submissions are refused with 503 +
// Retry-After (problem+json), /readyz is 503 naming the store and the
// cause, attestd_store_up is 0 and the failed seals count; reads still
// work. Once space is back the service is ready again, takes the refused
// submission, seals everything it acknowledged, and the store reopened
// after shutdown holds all of it, sealed.
func TestServeFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev chain")
	}
	data := tmpfstest.Mount(t, 24<<20)
	const interval = 3 * time.Second
	s := startService(t, Config{DataDir: data, Batch: batch.Config{Interval: interval}})
	start := time.Now()
	var acked []fingerprint.Fingerprint
	for i := range 3 {
		fps := fpsOf(fmt.Sprint("before ", i), 2000)
		s.mustAccept(fps)
		acked = append(acked, fps...)
	}
	filler := filepath.Join(data, "filler")
	tmpfstest.Fill(t, filler)
	if n := s.metric("attestd_pending_fingerprints"); n != 6000 {
		t.Fatalf("%v pending when the disk was full (%s after start), want 6000: the sealer ran first; the test needs a longer batch interval", n, time.Since(start))
	}
	refused := fpsOf("while full", 10000)
	s.mustRefuse(refused, data)
	s.eventually(2*interval+5*time.Second, "/readyz 503 naming the store and the full disk", func() bool {
		code, body := s.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "store") && strings.Contains(body, "no space left on device") &&
			strings.Contains(body, "sealing")
	})
	if up := s.metric("attestd_store_up"); up != 0 {
		t.Fatalf("attestd_store_up = %v on a full disk, want 0", up)
	}
	if n := s.metric("attestd_seal_failures_total"); n < 1 {
		t.Fatalf("attestd_seal_failures_total = %v on a full disk, want ≥ 1", n)
	}
	if code, body := s.get("/v1/fingerprints/" + acked[0].String()); code != http.StatusOK || !strings.Contains(body, `"pending"`) {
		t.Fatalf("reading an acknowledged fingerprint on a full disk: %d %s", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s.eventually(2*interval+10*time.Second, "ready again once space is back", func() bool {
		code, _ := s.get("/readyz")
		return code == http.StatusOK
	})
	if up := s.metric("attestd_store_up"); up != 1 {
		t.Fatalf("attestd_store_up = %v once space is back, want 1", up)
	}
	if n := s.metric("attestd_store_index_runs"); n < 0 {
		t.Fatal("attestd_store_index_runs is not exported")
	}
	s.mustAccept(refused)
	acked = append(acked, refused...)
	s.eventually(2*interval+10*time.Second, "everything sealed", func() bool {
		return s.metric("attestd_pending_fingerprints") == 0
	})
	s.stop()

	st, err := bolt.Open(bolt.Config{Path: filepath.Join(data, StoreFile)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, fp := range acked {
		e, err := st.Entry(context.Background(), fp)
		if err != nil || e.Pending() {
			t.Fatalf("acknowledged %s after a restart: %+v, %v; want sealed", fp, e, err)
		}
	}
}

// TestServeRedisDown: with Redis killed, submissions are refused with 503
// + Retry-After and /readyz is 503 naming the store; once Redis is back
// the service is ready again without a restart, takes submissions, and
// every fingerprint it acknowledged is in Redis, sealed.
func TestServeRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev chain and Redis")
	}
	rs := redistest.Start(t)
	s := startService(t, Config{DataDir: t.TempDir(), Store: rs.URL(), Batch: batch.Config{Interval: 200 * time.Millisecond}, LeaseTTL: 3 * time.Second})
	acked := fpsOf("before", 1000)
	s.mustAccept(acked)

	rs.Kill()
	s.mustRefuse(fpsOf("while down", 10), rs.Addr())
	s.eventually(10*time.Second, "/readyz 503 naming the store", func() bool {
		code, body := s.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "store")
	})
	if up := s.metric("attestd_store_up"); up != 0 {
		t.Fatalf("attestd_store_up = %v with Redis down, want 0", up)
	}

	rs.Restart()
	s.eventually(20*time.Second, "ready again once Redis is back", func() bool {
		code, _ := s.get("/readyz")
		return code == http.StatusOK
	})
	after := fpsOf("after", 1000)
	s.mustAccept(after)
	acked = append(acked, after...)
	s.eventually(20*time.Second, "everything sealed", func() bool {
		return s.metric("attestd_pending_fingerprints") == 0
	})
	s.stop()

	st, err := redisstore.Open(context.Background(), redisstore.Config{URL: rs.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, fp := range acked {
		e, err := st.Entry(context.Background(), fp)
		if err != nil || e.Pending() {
			t.Fatalf("acknowledged %s: %+v, %v; want sealed", fp, e, err)
		}
	}
	var _ store.Store = st
}
