package server_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/attestd/attestd/internal/server"
)

// seriesCount counts the attestd_ series of a scrape.
func seriesCount(mfs map[string]*dto.MetricFamily) int {
	n := 0
	for name, mf := range mfs {
		if strings.HasPrefix(name, "attestd_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}

// TestHostileRequestsAddNoSeries: whatever unauthenticated clients send —
// invented methods of 100 KB, random paths and queries, huge headers,
// other Host names — no metric gets a new series and /metrics does not
// grow. Every label of the HTTP histogram is from its fixed set.
func TestHostileRequestsAddNoSeries(t *testing.T) {
	f := newFixture(t, server.Config{})
	rnd := func(n int) string { return strings.ToUpper(rand.Text() + strings.Repeat("Q", max(0, n-26))) }
	hostile := func() []*http.Request {
		var out []*http.Request
		add := func(method, path string, hdr http.Header) {
			req, err := http.NewRequest(method, f.ts.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range hdr {
				req.Header[k] = v
			}
			out = append(out, req)
		}
		add("X"+rnd(100<<10), "/v1/info", nil)                // an invented 100 KB method
		add(strings.ToLower("get"), "/v1/info", nil)          // methods are case-sensitive
		add(http.MethodGet, "/"+rnd(2000), nil)               // an unknown path
		add(http.MethodGet, "/v1/fingerprints/"+rnd(64), nil) // a bad parameter
		add(http.MethodGet, "/v1/batches/"+rnd(30)+"?"+rnd(500)+"="+rnd(500), nil)
		add(http.MethodDelete, "/v1/verify/"+rnd(40), nil)
		add(http.MethodPut, "/v1/verify", nil) // 405
		add(http.MethodGet, "/v1/info", http.Header{"X-" + rnd(40): {rnd(20 << 10)}, "User-Agent": {rnd(10 << 10)}})
		add(http.MethodGet, "/v1/info", http.Header{"X-Big": {rnd(200 << 10)}}) // over the header limit
		r := out[len(out)-1]
		r.Host = rnd(50) + ".example"
		return out
	}
	send := func(reqs []*http.Request) {
		for _, req := range reqs {
			resp, err := f.ts.Client().Do(req)
			if err != nil {
				t.Fatalf("%.40s %.80s: %v", req.Method, req.URL, err)
			}
			resp.Body.Close()
		}
	}
	// One of each (and a scrape) creates the series they will ever use.
	send(hostile())
	scrape(t, f)
	mfs, before := scrape(t, f)
	n := seriesCount(mfs)
	for range 20 {
		send(hostile())
	}
	mfs, after := scrape(t, f)
	if got := seriesCount(mfs); got != n {
		t.Errorf("hostile requests added series: %d before, %d after", n, got)
	}
	if len(after) > len(before)+1024 {
		t.Errorf("/metrics grew from %d to %d bytes", len(before), len(after))
	}
	routes := map[string]bool{
		"/v1/fingerprints": true, "/v1/fingerprints/:fingerprint": true, "/v1/verify": true, "/v1/batches/:id": true,
		"/v1/info": true, "/healthz": true, "/readyz": true, "/metrics": true, "unmatched": true,
	}
	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "CONNECT": true, "OPTIONS": true, "TRACE": true, "other": true}
	codes := map[string]bool{"1xx": true, "2xx": true, "3xx": true, "4xx": true, "5xx": true, "other": true}
	seen := map[string]bool{}
	for _, m := range mfs["attestd_http_request_duration_seconds"].GetMetric() {
		r, me, c := label(m, "route"), label(m, "method"), label(m, "code")
		if !routes[r] || !methods[me] || !codes[c] {
			t.Errorf("series route=%.60q method=%.60q code=%.60q is outside the fixed sets", r, me, c)
		}
		seen[me] = true
	}
	if !seen["other"] {
		t.Error("the invented methods were not counted as method=\"other\"")
	}
	if bytes.Contains(after, []byte("QQQQ")) {
		t.Error("a client's text appears in /metrics")
	}
}
