package metrics

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// TestAlertRulesUseExportedMetrics: every attestd_ series an alert in
// deploy/helm/attestd/files/alerts.yaml (the Helm chart's PrometheusRule, also
// a plain rule file) refers to is one the service exports, so
// a renamed metric cannot silently disable an alert.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../../deploy/helm/attestd/files/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	m := New("test")
	m.RegisterPending(func() (int, float64) { return 0, 0 })
	m.RegisterBackups(time.Hour)                                             // with --backup-dir
	m.RegisterKeysFile(func() (time.Time, error) { return time.Now(), nil }) // with --api-keys-file
	m.RegisterStoreUp(func() error { return nil })
	// The Redis store's leader gauge lives on the same registry when Redis is used.
	m.Registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "attestd_store_leader"}))
	// Vectors appear in Gather only once they have a child.
	m.DeadlineMissed.WithLabelValues("seal")
	m.AnchorFailed.WithLabelValues("1", ReasonRPC)
	m.AnchorConfirmed.WithLabelValues("1")
	m.Reorgs.WithLabelValues("1")
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}
	series := regexp.MustCompile(`attestd_[a-z_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			names := series.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("alert %s uses no attestd_ series", r.Alert)
			}
			for _, name := range names {
				if !exported[name] {
					t.Errorf("alert %s uses %s, which the service does not export", r.Alert, name)
				}
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d alert rules parsed", n)
	}
}
