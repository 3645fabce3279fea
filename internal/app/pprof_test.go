package app

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// TestPprofListener: the profiling listener takes a loopback address only,
// serves the profiles, and not the command line (it can hold a credential).
func TestPprofListener(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "example.com:6060", "10.0.0.1:0", "6060"} {
		ln, err := listenPprof(addr)
		var ce *ConfigError
		if err == nil || !errors.As(err, &ce) {
			if ln != nil {
				ln.Close()
			}
			t.Fatalf("listenPprof(%q) = %v, want a ConfigError", addr, err)
		}
	}
	ln, err := listenPprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { servePprof(ln, slog.New(slog.DiscardHandler)); close(done) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/debug/pprof/goroutine?debug=1"); code != http.StatusOK || len(body) == 0 {
		t.Fatalf("goroutine profile: %d %q", code, body)
	}
	if code, body := get("/debug/pprof/cmdline"); code == http.StatusOK {
		t.Fatalf("the command line is served: %q", body)
	}
	ln.Close()
	<-done
}
