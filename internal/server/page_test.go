package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/web"
)

// TestVerifierPage: / and /verifier.html serve the embedded page (checked
// against api/openapi.yaml like every response of the fixture's client),
// with its Content-Security-Policy and the other security headers; the
// download is an attachment; HEAD and other methods behave as for any
// route; and the requests are counted under their own route label.
func TestVerifierPage(t *testing.T) {
	f := newFixture(t, server.Config{})
	for _, path := range []string{"/", "/verifier.html"} {
		resp, body := f.do(http.MethodGet, path, nil, nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, web.Page()) {
			t.Fatalf("GET %s: %d, %d bytes (want the %d of the page)", path, resp.StatusCode, len(body), len(web.Page()))
		}
		for k, want := range map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Security-Policy": web.CSP(),
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, k, got, want)
			}
		}
		cd := resp.Header.Get("Content-Disposition")
		if (path == "/verifier.html") != strings.HasPrefix(cd, "attachment") {
			t.Errorf("GET %s: Content-Disposition %q", path, cd)
		}
		if resp, _ := f.do(http.MethodPost, path, nil, nil); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, resp.StatusCode)
		}
	}
	_, metrics := f.do(http.MethodGet, "/metrics", nil, nil)
	for _, route := range []string{`route="/"`, `route="/verifier.html"`} {
		if !bytes.Contains(metrics, []byte(route)) {
			t.Errorf("metrics have no series with %s", route)
		}
	}
}
