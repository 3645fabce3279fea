package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPool drives the generator's HTTP/1.1 client against net/http's
// server: requests arrive intact, every response framing is read whole,
// connections are reused unless the server closes them, and failures are
// errors, never hangs.
func TestPool(t *testing.T) {
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, r.Header.Get("Authorization")+"|"+r.Header.Get("Content-Type")+"|"+string(body))
	})
	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			io.WriteString(w, strings.Repeat(string(rune('a'+i)), 5000))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("GET /hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ts := httptest.NewUnstartedServer(mux)
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()

	p, err := newPool(ts.URL, 2, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx := context.Background()

	body := []byte(`{"fingerprints":["x"]}`)
	for range 5 {
		status, out, err := p.do(ctx, http.MethodPost, "/echo", []header{{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}}, body, true)
		if err != nil || status != http.StatusAccepted || string(out) != "Bearer k|application/json|"+string(body) {
			t.Fatalf("POST /echo = %d %q %v", status, out, err)
		}
	}
	status, out, err := p.do(ctx, http.MethodGet, "/chunked", nil, nil, true)
	if err != nil || status != http.StatusOK || len(out) != 15000 || !bytes.HasSuffix(out, []byte("ccccc")) {
		t.Fatalf("GET /chunked = %d, %d bytes, %v", status, len(out), err)
	}
	if status, _, err := p.do(ctx, http.MethodGet, "/missing", nil, nil, false); err != nil || status != http.StatusNotFound {
		t.Fatalf("GET /missing = %d %v", status, err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1 (keep-alive)", n)
	}
	if status, out, err := p.do(ctx, http.MethodGet, "/close", nil, nil, true); err != nil || status != http.StatusOK || string(out) != "bye" {
		t.Fatalf("GET /close = %d %q %v", status, out, err)
	}
	if _, _, err := p.do(ctx, http.MethodGet, "/missing", nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections after the server closed one, want 2", n)
	}

	// The per-request timeout, and cancellation.
	start := time.Now()
	if _, _, err := p.do(ctx, http.MethodGet, "/hang", nil, nil, false); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("GET /hang with a 2 s timeout: %v after %v", err, time.Since(start))
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, _, err := p.do(cctx, http.MethodGet, "/hang", nil, nil, false); err == nil || !errors.Is(cctx.Err(), context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("GET /hang cancelled after 100 ms: %v after %v", err, time.Since(start))
	}
	// The pool still works.
	if status, _, err := p.do(ctx, http.MethodGet, "/missing", nil, nil, false); err != nil || status != http.StatusNotFound {
		t.Fatalf("GET /missing after failures = %d %v", status, err)
	}
}

func TestPoolTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.URL.Path)
	}))
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	p, err := newPool(ts.URL, 1, 2*time.Second, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for range 2 {
		if status, out, err := p.do(context.Background(), http.MethodGet, "/x", nil, nil, true); err != nil || status != http.StatusOK || string(out) != "HTTP/1.1 /x" {
			t.Fatalf("GET over TLS = %d %q %v", status, out, err)
		}
	}
	// Without the test CA the certificate is refused.
	q, _ := newPool(ts.URL, 1, 2*time.Second, nil)
	if _, _, err := q.do(context.Background(), http.MethodGet, "/x", nil, nil, false); err == nil {
		t.Error("a certificate from an unknown CA was accepted")
	}
}
