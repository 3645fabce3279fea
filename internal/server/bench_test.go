package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/attestd/attestd/internal/server"
)

// BenchmarkGetFingerprint is the server side of a proof read (see
// docs/benchmarks.md) without the network: GET /v1/fingerprints/{fp} of a
// confirmed fingerprint through the whole handler chain (routing, metrics,
// store, proof assembly, JSON), into a reused response writer.
func BenchmarkGetFingerprint(b *testing.B) {
	f := newFixture(b, server.Config{})
	list := fps(b, maxBatch)
	f.submit(keyA, list...)
	f.seal()
	f.confirm()
	h := f.srv.Handler()
	reqs := make([]*http.Request, len(list))
	for i, fp := range list {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/v1/fingerprints/"+fp, nil)
	}
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, reqs[i%len(reqs)])
		if w.status != http.StatusOK || !bytes.Contains(w.body.Bytes(), []byte(`"anchors"`)) {
			b.Fatalf("GET %s: %d %s", reqs[i%len(reqs)].URL, w.status, w.body.Bytes())
		}
		i++
	}
}

// discardWriter is an http.ResponseWriter that keeps the last response.
type discardWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}
func (w *discardWriter) reset() {
	clear(w.header)
	w.status = 0
	w.body.Reset()
}

// BenchmarkSubmitFingerprints is the server side of one-fingerprint ingest in
// docs/benchmarks.md without the network: POST /v1/fingerprints of one new
// fingerprint from 16 submitters per core through the whole handler chain
// (authentication, admission against MaxPending, the store's group commit
// (not fsync'd here), receipt signing, JSON), while the sealer runs and
// seals each full batch it is poked about.
func BenchmarkSubmitFingerprints(b *testing.B) {
	f := newFixture(b, server.Config{MaxPending: 5_000_000})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.sealer.Run(ctx) })
	defer wg.Wait()
	defer cancel()
	h := f.srv.Handler()
	var next atomic.Uint64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Sprintf(`{"fingerprints":["%s"]}`, fp(b, fmt.Sprint(next.Add(1))))
			req := httptest.NewRequest(http.MethodPost, "/v1/fingerprints", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+keyA)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Errorf("POST: %d %s", w.Code, w.Body.Bytes())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
