package server_test

import (
	"bytes"
	"context"
	"mime"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/server"
)

func TestHealthAndReady(t *testing.T) {
	f := newFixture(t, server.Config{})
	ctx := context.Background()

	h, err := f.client.GetHealthWithResponse(ctx)
	if err != nil || h.StatusCode() != 200 || h.JSON200 == nil || h.JSON200.Status != "ok" {
		t.Fatalf("healthz: %v %+v", err, h)
	}

	cases := []struct {
		name    string
		reasons []string
		status  int
	}{
		{"ready", nil, 200},
		{"empty reasons are ready", []string{}, 200},
		{"one reason", []string{"store: unavailable"}, 503},
		{"two reasons", []string{"chain 1337: anchoring is failing", "store: unavailable"}, 503},
	}
	defer f.notReady.Store(nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.reasons == nil {
				f.notReady.Store(nil)
			} else {
				f.notReady.Store(&c.reasons)
			}
			r, err := f.client.GetReadyWithResponse(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.StatusCode() != c.status {
				t.Fatalf("readyz %d, want %d: %s", r.StatusCode(), c.status, r.Body)
			}
			if mt, _, _ := mime.ParseMediaType(r.HTTPResponse.Header.Get("Content-Type")); mt != "application/json" {
				t.Fatalf("readyz Content-Type %q", r.HTTPResponse.Header.Get("Content-Type"))
			}
			if c.status == 200 {
				if r.JSON200 == nil || r.JSON200.Status != "ready" || r.JSON200.Reasons != nil {
					t.Fatalf("readyz body %s", r.Body)
				}
				return
			}
			if r.JSON503 == nil || r.JSON503.Status != "not_ready" || strings.Join(r.JSON503.Reasons, "|") != strings.Join(c.reasons, "|") {
				t.Fatalf("readyz body %s, want reasons %q", r.Body, c.reasons)
			}
			// Liveness does not depend on readiness.
			if h, err := f.client.GetHealthWithResponse(ctx); err != nil || h.StatusCode() != 200 {
				t.Fatalf("healthz while not ready: %v %d", err, h.StatusCode())
			}
		})
	}
}

// TestReadyDegraded: a failing chain keeps the replica in rotation (200)
// but says so; a failing store as well takes it out (503).
func TestReadyDegraded(t *testing.T) {
	f := newFixture(t, server.Config{})
	ctx := context.Background()
	chain := []string{"chain 1337: anchoring is failing"}
	f.degraded.Store(&chain)
	r, err := f.client.GetReadyWithResponse(ctx)
	if err != nil || r.StatusCode() != 200 || r.JSON200 == nil || r.JSON200.Status != api.ReadinessStatusDegraded || len(r.JSON200.Reasons) != 1 {
		t.Fatalf("degraded readyz: %v %d %s", err, r.StatusCode(), r.Body)
	}
	st := []string{"store: unavailable"}
	f.notReady.Store(&st)
	r, err = f.client.GetReadyWithResponse(ctx)
	if err != nil || r.StatusCode() != 503 || r.JSON503 == nil || len(r.JSON503.Reasons) != 2 {
		t.Fatalf("not ready and degraded: %v %d %s", err, r.StatusCode(), r.Body)
	}
}

// scrape fetches /metrics with the generated client and parses it.
func scrape(t *testing.T, f *fixture) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	r, err := f.client.GetMetricsWithResponse(context.Background())
	if err != nil || r.StatusCode() != 200 {
		t.Fatalf("metrics: %v %v", err, r)
	}
	if ct := r.HTTPResponse.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return mfs, r.Body
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// value returns the value of the series of family with the given labels
// (counter, gauge, or a histogram's sample count); ok is false when absent.
func value(mfs map[string]*dto.MetricFamily, family string, labels map[string]string) (float64, bool) {
	mf := mfs[family]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			if label(m, k) != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, server.Config{})
	list := fps(t, 3)
	f.submit(keyA, list...)
	f.submit(keyB, list[0]) // one duplicate
	for _, h := range list {
		f.status(h)
	}
	unknown := fp(t, "unknown")
	f.do("GET", "/v1/fingerprints/"+unknown, nil, nil)             // 404 on the template route
	f.do("GET", "/v1/fingerprints/"+list[0][:63]+"g", nil, nil)    // 400 on the template route
	f.do("GET", "/v2/"+unknown, nil, nil)                          // unmatched
	f.do("POST", "/v1/fingerprints", nil, strings.NewReader("{}")) // 401

	mfs, body := scrape(t, f)
	cases := []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"attestd_fingerprints_received_total", map[string]string{"result": "new"}, 3},
		{"attestd_fingerprints_received_total", map[string]string{"result": "duplicate"}, 1},
		{"attestd_pending_fingerprints", nil, 3},
		{"attestd_build_info", map[string]string{"version": testVersion}, 1},
		{"attestd_http_request_duration_seconds", map[string]string{"route": "/v1/fingerprints/:fingerprint", "method": "GET", "code": "2xx"}, 3},
		{"attestd_http_request_duration_seconds", map[string]string{"route": "/v1/fingerprints/:fingerprint", "method": "GET", "code": "4xx"}, 2},
		{"attestd_http_request_duration_seconds", map[string]string{"route": "/v1/fingerprints", "method": "POST", "code": "2xx"}, 2},
		{"attestd_http_request_duration_seconds", map[string]string{"route": "/v1/fingerprints", "method": "POST", "code": "4xx"}, 1},
		{"attestd_http_request_duration_seconds", map[string]string{"route": "unmatched", "method": "GET", "code": "4xx"}, 1},
	}
	for _, c := range cases {
		got, ok := value(mfs, c.family, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.family, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(mfs, "attestd_oldest_pending_age_seconds", nil); !ok {
		t.Error("attestd_oldest_pending_age_seconds missing")
	}

	// Route labels are templates: never a raw fingerprint or path.
	routes := map[string]bool{}
	for _, m := range mfs["attestd_http_request_duration_seconds"].GetMetric() {
		routes[label(m, "route")] = true
	}
	allowed := map[string]bool{
		"/v1/fingerprints": true, "/v1/fingerprints/:fingerprint": true, "/v1/verify": true, "/v1/batches/:id": true,
		"/v1/info": true, "/healthz": true, "/readyz": true, "/metrics": true, "unmatched": true,
	}
	for r := range routes {
		if !allowed[r] {
			t.Errorf("route label %q is not a route template", r)
		}
	}
	for _, h := range append(list, unknown) {
		if bytes.Contains(body, []byte(h)) || bytes.Contains(bytes.ToLower(body), []byte(h)) {
			t.Errorf("metrics contain the fingerprint %s", h)
		}
	}
	for name := range mfs {
		if !strings.HasPrefix(name, "attestd_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("metric %s lacks the attestd_ prefix", name)
		}
	}

	// The pending gauge follows the store at scrape time.
	f.seal()
	mfs, _ = scrape(t, f)
	if got, _ := value(mfs, "attestd_pending_fingerprints", nil); got != 0 {
		t.Fatalf("pending after sealing = %v, want 0", got)
	}
	if got, _ := value(mfs, "attestd_batches_sealed_total", nil); got != 1 {
		t.Fatalf("batches sealed = %v, want 1", got)
	}
	// The scrape itself is observed under its template.
	if got, ok := value(mfs, "attestd_http_request_duration_seconds", map[string]string{"route": "/metrics", "code": "2xx"}); !ok || got < 1 {
		t.Fatalf("/metrics observations = %v", got)
	}
}
