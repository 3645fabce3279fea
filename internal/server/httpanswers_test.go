package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/server"
)

// rawServer serves the API with the http.Server attestd runs (timeouts,
// header limit) on 127.0.0.1, and sends it raw requests.
func rawServer(t *testing.T) func(req string) (*http.Response, []byte) {
	f := newFixture(t, server.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := f.srv.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return func(req string) (*http.Response, []byte) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		werr := make(chan error, 1)
		go func() { _, err := io.WriteString(c, req); werr <- err }()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%.60q: %v", req, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		<-werr // the server may stop reading a refused request: a write error is expected then
		return resp, body
	}
}

// TestServerAnswersAreProblems: what a client could expect as JSON is an
// RFC 9457 problem even where gin or net/http would answer otherwise: a
// trailing slash (gin's 301/307 redirect), an oversized request target
// (414) or header block (431) below net/http's own limit. An unknown Host
// is served as any other (the API has no virtual hosts and builds no URL
// from Host).
func TestServerAnswersAreProblems(t *testing.T) {
	do := rawServer(t)
	hdr := func(n int) string { return "X-Pad: " + strings.Repeat("p", n) + "\r\n" }
	for _, c := range []struct {
		name, req string
		status    int
		instance  string
	}{
		{"trailing slash GET", "GET /v1/info/ HTTP/1.1\r\nHost: x\r\n\r\n", 404, "/v1/info/"},
		{"trailing slash POST", "POST /v1/verify/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 404, "/v1/verify/"},
		{"trailing slash on a parameter", "GET /v1/batches/1/ HTTP/1.1\r\nHost: x\r\n\r\n", 404, "/v1/batches/1/"},
		{"fixed path", "GET /V1/Info HTTP/1.1\r\nHost: x\r\n\r\n", 404, "/V1/Info"},
		{"double slash", "GET //v1/info HTTP/1.1\r\nHost: x\r\n\r\n", 404, "//v1/info"},
		{"request target over the limit", "GET /v1/info?q=" + strings.Repeat("q", server.MaxHeaderBytes) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "/v1/info"},
		{"header block over the limit", "GET /v1/info HTTP/1.1\r\nHost: x\r\n" + hdr(server.MaxHeaderBytes/2) + strings.Replace(hdr(server.MaxHeaderBytes/2), "X-Pad", "X-Pad2", 1) + "\r\n", 431, "/v1/info"},
		{"unmatched route with a header block over the limit", "GET /nowhere HTTP/1.1\r\nHost: x\r\n" + hdr(server.MaxHeaderBytes) + "\r\n", 431, "/nowhere"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(c.req)
			checkProblem(t, resp, body, c.status, c.instance)
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("redirects to %s", loc)
			}
		})
	}

	// Just under the limit, and with a Host the server does not know, the
	// API answers as usual.
	for name, req := range map[string]string{
		"header block under the limit": "GET /v1/info HTTP/1.1\r\nHost: x\r\n" + hdr(server.MaxHeaderBytes-200) + "\r\n",
		"unknown Host":                 "GET /v1/info HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
		"absolute target, other host":  "GET http://attacker.example/v1/info HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		resp, body := do(req)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(body), `"receipt_keys"`) {
			t.Errorf("%s: %d %s %.100s", name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}

	// What net/http answers before any handler runs (the request cannot
	// be parsed, or breaks its hard limit) stays plain text; its status is
	// the one documented in SECURITY.md.
	for _, c := range []struct {
		name, req string
		status    int
	}{
		{"header block over net/http's limit", "GET /v1/info HTTP/1.1\r\nHost: x\r\n" + hdr(server.HardMaxHeaderBytes+8192) + "\r\n", 431},
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"malformed header", "GET /v1/info HTTP/1.1\r\nHost: x\r\nNo Colon Here\r\n\r\n", 400},
		{"missing Host", "GET /v1/info HTTP/1.1\r\n\r\n", 400},
		{"unknown protocol version", "GET /v1/info HTTP/3.0\r\nHost: x\r\n\r\n", 505},
		{"unsupported transfer encoding", "POST /v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"unknown expectation", "POST /v1/verify HTTP/1.1\r\nHost: x\r\nExpect: nothing\r\nContent-Length: 2\r\n\r\n{}", 417},
	} {
		resp, body := do(c.req)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %.100s, want %d", c.name, resp.StatusCode, body, c.status)
		}
	}
}
