package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// fakeTessera is an httptest server shaped like the POST /add of Tessera's
// POSIX personality (cmd/conformance/posix at v1.0.4): the request body is
// the entry, the answer 200 with the entry's index in decimal. answer, when
// set, replaces the answer. It records each entry and any Authorization.
type fakeTessera struct {
	*httptest.Server
	mu      sync.Mutex
	entries [][]byte
	ctypes  map[string]int
	auth    int
}

func newFakeTessera(t *testing.T, answer func(w http.ResponseWriter)) *fakeTessera {
	f := &fakeTessera{ctypes: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		idx := len(f.entries)
		f.entries = append(f.entries, b)
		f.ctypes[r.Header.Get("Content-Type")]++
		if r.Header.Get("Authorization") != "" {
			f.auth++
		}
		f.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		fmt.Fprintf(w, "%d", idx)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func submitJSON(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(append([]string{"submit", "--json"}, args...), &out)
	var rep map[string]any
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("report %q: %v (run: %v)", out.Bytes(), jerr, err)
	}
	return rep, err
}

// TestTesseraSubmit: with --target tessera each request is POST /add with
// one fingerprint's 32 bytes as the body and no API key, request k carries
// fingerprint start+k, and a 200 whose body is an index is acknowledged.
func TestTesseraSubmit(t *testing.T) {
	ts := newFakeTessera(t, nil)
	rep, err := submitJSON(t, "--target", "tessera", "--server", ts.URL, "--api-key", "not-for-tessera",
		"--run-id", "peer", "--start", "7", "--conns", "4", "--requests", "50", "--duration", "30s")
	if err != nil {
		t.Fatal(err)
	}
	if rep["requests"].(float64) != 50 || len(rep["errors"].(map[string]any)) != 0 || rep["target"] != "tessera" || rep["per_request"].(float64) != 1 {
		t.Errorf("report %v, want 50 acknowledged, no errors, target tessera, 1 per request", rep)
	}
	want := map[string]bool{}
	for i := uint64(7); i < 57; i++ {
		sum := fpSum("peer", i)
		want[string(sum[:])] = true
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.entries) != 50 {
		t.Fatalf("%d entries added, want 50", len(ts.entries))
	}
	for _, e := range ts.entries {
		if !want[string(e)] {
			t.Errorf("entry %x: not one of fingerprints 7…56 of run peer, as 32 bytes", e)
		}
		delete(want, string(e))
	}
	if ts.auth != 0 {
		t.Errorf("%d requests sent the API key to the peer", ts.auth)
	}
	if ts.ctypes["application/octet-stream"] != 50 {
		t.Errorf("content types %v, want application/octet-stream on each", ts.ctypes)
	}
}

// TestTesseraAnswers: only a 200 with an index in its body counts.
func TestTesseraAnswers(t *testing.T) {
	for _, c := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		status string
	}{
		{"no index", func(w http.ResponseWriter) { io.WriteString(w, "ok") }, "200 without an index"},
		{"empty", func(w http.ResponseWriter) {}, "200 without an index"},
		{"negative", func(w http.ResponseWriter) { io.WriteString(w, "-1") }, "200 without an index"},
		{"error", func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) }, "500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newFakeTessera(t, c.answer)
			rep, err := submitJSON(t, "--target", "tessera", "--server", ts.URL, "--conns", "2", "--requests", "10", "--duration", "30s")
			if err != nil {
				t.Fatal(err)
			}
			if n := rep["requests"].(float64); n != 0 {
				t.Errorf("%v requests acknowledged, want 0", n)
			}
			if n := rep["errors"].(map[string]any)[c.status]; n != float64(10) {
				t.Errorf("errors %v, want 10 %q", rep["errors"], c.status)
			}
		})
	}
}

func TestTesseraFlags(t *testing.T) {
	ts := newFakeTessera(t, nil)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "--target", "peer"}, "--target"},
		{[]string{"submit", "--target", "tessera", "--per-request", "2"}, "--per-request must be 1"},
		{[]string{"submit", "--target", "tessera", "--check"}, "--check is not supported"},
		{[]string{"read", "--target", "tessera", "--run-id", "r", "--population", "1"}, "for submit"},
		{[]string{"confirm", "--target", "tessera", "--api-key", "k"}, "for submit"},
	} {
		args := append(c.args, "--server", ts.URL, "--requests", "1", "--duration", "5s")
		if err := run(args, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %q: %v, want a refusal with %q", args, err, c.want)
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.entries) != 0 {
		t.Errorf("%d requests sent by refused runs", len(ts.entries))
	}
}

// TestTesseraKey: the key is one the personality's note.NewSigner takes,
// and a key file is new and not readable by others.
func TestTesseraKey(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"tessera-key", "bench.example/log"}, &out); err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(strings.TrimSpace(out.String()))
	if err != nil || s.Name() != "bench.example/log" {
		t.Fatalf("printed key %q: signer %v, %v", out.String(), s, err)
	}

	path := filepath.Join(t.TempDir(), "tessera.key")
	if err := run([]string{"tessera-key", "--out", path, "bench"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(path)
	if _, err := note.NewSigner(string(b)); err != nil {
		t.Errorf("key file %q: %v", b, err)
	}
	if err := run([]string{"tessera-key", "--out", path, "bench"}, io.Discard); err == nil {
		t.Error("an existing key file was overwritten")
	}
	for _, args := range [][]string{{"tessera-key"}, {"tessera-key", "a", "b"}, {"tessera-key", "bad+name"}} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}
