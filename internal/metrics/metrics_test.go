package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegistry(t *testing.T) {
	m := New("v1.2.3")
	calls := 0
	m.RegisterPending(func() (int, float64) { calls++; return 7, 42.5 })
	m.Received.WithLabelValues("new").Add(3)
	m.HTTPDuration.WithLabelValues("/v1/fingerprints", "POST", "2xx").Observe(0.01)

	want := `
# HELP attestd_pending_fingerprints Acknowledged fingerprints not yet sealed into a batch.
# TYPE attestd_pending_fingerprints gauge
attestd_pending_fingerprints 7
# HELP attestd_oldest_pending_age_seconds Age of the oldest pending fingerprint (0 when none); alert when it exceeds the batch interval by much.
# TYPE attestd_oldest_pending_age_seconds gauge
attestd_oldest_pending_age_seconds 42.5
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"attestd_pending_fingerprints", "attestd_oldest_pending_age_seconds"); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("stats called %d times per scrape, want 1", calls)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if !strings.HasPrefix(mf.GetName(), "attestd_") && !strings.HasPrefix(mf.GetName(), "go_") && !strings.HasPrefix(mf.GetName(), "process_") {
			t.Errorf("series %s lacks the attestd_ prefix", mf.GetName())
		}
	}
	for _, n := range []string{"attestd_build_info", "attestd_fingerprints_received_total", "attestd_http_request_duration_seconds", "go_goroutines"} {
		if !names[n] {
			t.Errorf("%s not exported", n)
		}
	}
	if got := testutil.ToFloat64(m.Received.WithLabelValues("new")); got != 3 {
		t.Fatalf("received %v", got)
	}
}

// TestObserveHTTPBoundsLabels: ObserveHTTP maps any route, method and
// status to the fixed label sets.
func TestObserveHTTPBoundsLabels(t *testing.T) {
	m := New("v1")
	for _, c := range []struct {
		route, method string
		status        int
	}{
		{"/v1/info", "GET", 200}, {"", "GET", 404}, {"/v1/info", "BREW", 405}, {"/v1/info", "get", 404},
		{"/v1/info", strings.Repeat("X", 1000), 400}, {"/v1/verify", "POST", 999}, {"/v1/verify", "POST", 42},
	} {
		m.ObserveHTTP(c.route, c.method, c.status, time.Millisecond)
	}
	want := map[[3]string]bool{
		{"/v1/info", "GET", "2xx"}: true, {"unmatched", "GET", "4xx"}: true, {"/v1/info", "other", "4xx"}: true,
		{"/v1/verify", "POST", "other"}: true,
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "attestd_http_request_duration_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			var k [3]string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "route":
					k[0] = l.GetValue()
				case "method":
					k[1] = l.GetValue()
				case "code":
					k[2] = l.GetValue()
				}
			}
			got[k] = true
		}
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected series %q", k)
		}
	}
}
