package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
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
