package metrics

import (
	"bufio"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const alertsFile = "../../deploy/helm/attestd/files/alerts.yaml"

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) (ruleFile, []rule) {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) < 16 {
		t.Fatalf("only %d alert rules parsed", len(rules))
	}
	return f, rules
}

// exportedLabels is every attestd_ series the service can export
// (exportedFamilies), with its label names.
func exportedLabels(t *testing.T) map[string][]string {
	t.Helper()
	exported := map[string][]string{}
	for name, mf := range exportedFamilies(t) {
		var names []string
		if len(mf.GetMetric()) > 0 {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				names = append(names, l.GetName())
			}
		}
		exported[name] = names
	}
	return exported
}

// TestAlertRulesUseExportedMetrics: every attestd_ series an alert in
// deploy/helm/attestd/files/alerts.yaml (the Helm chart's PrometheusRule,
// also a plain rule file) refers to is one the service exports, every
// label a matcher names is one of that series', and every reason value is
// one the anchorer counts under: a renamed metric, label or reason cannot
// silently disable an alert.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	_, rules := readRules(t)
	exported := exportedLabels(t)
	reasons := []string{ReasonRPC, ReasonSign, ReasonReverted, ReasonNonce, ReasonStore, ReasonFunds}
	series := regexp.MustCompile(`(attestd_[a-z_]+)(\{([^}]*)\})?`)
	matcher := regexp.MustCompile(`^\s*([a-z_]+)\s*(=|!=|=~|!~)\s*"([^"]*)"\s*$`)
	for _, r := range rules {
		found := series.FindAllStringSubmatch(r.Expr, -1)
		if len(found) == 0 {
			t.Errorf("alert %s uses no attestd_ series", r.Alert)
		}
		for _, s := range found {
			labels, ok := exported[s[1]]
			if !ok {
				t.Errorf("alert %s uses %s, which the service does not export", r.Alert, s[1])
				continue
			}
			if s[3] == "" {
				continue
			}
			for _, part := range strings.Split(s[3], ",") {
				m := matcher.FindStringSubmatch(part)
				if m == nil {
					t.Errorf("alert %s: cannot read the matcher %q", r.Alert, part)
					continue
				}
				if !slices.Contains(labels, m[1]) {
					t.Errorf("alert %s matches %s on label %s, which it does not have (%v)", r.Alert, s[1], m[1], labels)
				}
				if m[1] == "reason" && !slices.Contains(reasons, m[3]) {
					t.Errorf("alert %s matches reason %q, which the anchorer never counts (%v)", r.Alert, m[3], reasons)
				}
			}
		}
	}
}

// runbookBase is where each alert's runbook_url points: a section of
// docs/operations.md.
const runbookBase = "https://github.com/attestd/attestd/blob/main/docs/operations.md#"

// TestAlertRunbooks: every alert carries a runbook_url to its own section
// of docs/operations.md, and that section exists (the anchor GitHub makes
// of the heading) and says what the alert means, how to confirm it, what
// to do and what happens to data if nobody acts.
func TestAlertRunbooks(t *testing.T) {
	_, rules := readRules(t)
	sections := markdownSections(t, "../../docs/operations.md")
	for _, r := range rules {
		want := runbookBase + strings.ToLower(r.Alert)
		got := r.Annotations["runbook_url"]
		if got != want {
			t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, got, want)
			continue
		}
		body, ok := sections[strings.TrimPrefix(got, runbookBase)]
		if !ok {
			t.Errorf("alert %s: docs/operations.md has no section #%s", r.Alert, strings.TrimPrefix(got, runbookBase))
			continue
		}
		for _, part := range []string{"**Means:**", "**Confirm:**", "**Do:**", "**If nobody acts:**"} {
			if !strings.Contains(body, part) {
				t.Errorf("docs/operations.md #%s does not say %s", strings.ToLower(r.Alert), part)
			}
		}
	}
}

// markdownSections returns each heading's GitHub anchor with the text up
// to the next heading.
func markdownSections(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string]string{}
	var cur string
	fence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(line, "#") {
			cur = githubAnchor(strings.TrimLeft(line, "# "))
			if _, dup := sections[cur]; dup {
				t.Errorf("%s: two headings make the anchor #%s", file, cur)
			}
			sections[cur] = ""
			continue
		}
		if cur != "" {
			sections[cur] += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sections
}

// githubAnchor is the fragment GitHub gives a heading: lower case, spaces
// to hyphens, punctuation other than - and _ dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"AttestdStoreDown":                      "attestdstoredown",
		"Rotating keys: API keys, receipt key":  "rotating-keys-api-keys-receipt-key",
		"Rolling upgrade (Redis mode)":          "rolling-upgrade-redis-mode",
		"`attestd_anchor_balance_wei` and days": "attestd_anchor_balance_wei-and-days",
	} {
		if got := githubAnchor(in); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", in, got, want)
		}
	}
}

// An alertCase is a promtool unit test of one alert: input series (as the
// service exports them, with the labels a scrape adds), and the label sets
// of the alerts expected at each evaluation time (none: must not fire).
type alertCase struct {
	name   string
	series map[string]string // series → promtool values ("0+1x30")
	alert  string
	evals  map[string][]map[string]string // eval time → expected alerts' labels (without alertname)
}

// scrape labels of two replicas.
const (
	podA = `job="attestd",instance="10.0.0.1:8080",pod="attestd-a"`
	podB = `job="attestd",instance="10.0.0.2:8080",pod="attestd-b"`
)

func alertCases() []alertCase {
	job := map[string]string{"job": "attestd"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	a := map[string]string{"job": "attestd", "instance": "10.0.0.1:8080", "pod": "attestd-a"}
	none := []map[string]string{}
	return []alertCase{
		{"a missed deadline", map[string]string{`attestd_deadline_missed_total{stage="anchor",` + podA + `}`: "0 0 1 1"},
			"AttestdReceiptDeadlineMissed", map[string][]map[string]string{"1m": none, "3m": {with(a, "stage", "anchor", "severity", "critical")}}},
		{"anchoring failing on a chain that never confirmed anything, not on one that confirms", map[string]string{
			`attestd_anchor_failed_total{chain="1",reason="rpc",` + podA + `}`: "0+1x40",
			`attestd_anchor_failed_total{chain="2",reason="rpc",` + podA + `}`: "0+1x40",
			`attestd_anchor_confirmed_total{chain="2",` + podA + `}`:           "0+1x40",
		}, "AttestdAnchoringFailing", map[string][]map[string]string{
			"5m":  none, // not yet for 10m
			"20m": {with(a, "chain", "1", "reason", "rpc", "severity", "warning")},
		}},
		{"the oldest pending fingerprint ages", map[string]string{`attestd_oldest_pending_age_seconds{` + podA + `}`: "0+60x30"},
			"AttestdOldestPendingTooOld", map[string][]map[string]string{"12m": none, "20m": {with(a, "severity", "warning")}}},
		{"the store stops taking writes", map[string]string{`attestd_store_up{` + podA + `}`: "1 1 0x10"},
			"AttestdStoreDown", map[string][]map[string]string{"1m": none, "5m": {with(a, "severity", "critical")}}},
		{"sealing fails, nothing sealed", map[string]string{
			`attestd_seal_failures_total{` + podA + `}`:  "0+1x30",
			`attestd_batches_sealed_total{` + podA + `}`: "7x30",
		}, "AttestdSealingFailing", map[string][]map[string]string{"3m": none, "20m": {with(a, "severity", "critical")}}},
		{"a reorg", map[string]string{`attestd_anchor_reorgs_total{chain="1",` + podA + `}`: "0 0 1"},
			"AttestdAnchorReorged", map[string][]map[string]string{"1m": none, "2m": {with(a, "chain", "1", "severity", "info")}}},
		{"no replica leads, then one does", map[string]string{
			`attestd_store_leader{` + podA + `}`: "0x10 1x10",
			`attestd_store_leader{` + podB + `}`: "0x20",
		}, "AttestdNoLeader", map[string][]map[string]string{"5m": {with(job, "severity", "critical")}, "15m": none}},
		{"a backup fails", map[string]string{`attestd_backup_failures_total{` + podA + `}`: "0 1 1"},
			"AttestdBackupFailing", map[string][]map[string]string{"0m": none, "2m": {with(a, "severity", "warning")}}},
		{"the newest backup is older than two intervals", map[string]string{
			`attestd_backup_last_success_timestamp_seconds{` + podA + `}`: "60x200",
			`attestd_backup_interval_seconds{` + podA + `}`:               "3600x200",
		}, "AttestdBackupStale", map[string][]map[string]string{"100m": none, "125m": {with(a, "severity", "warning")}}},
		{"the API keys file cannot be read", map[string]string{`attestd_api_keys_reload_failing{` + podA + `}`: "0 1x10"},
			"AttestdAPIKeysFileUnreadable", map[string][]map[string]string{"1m": none, "5m": {with(a, "severity", "critical")}}},
		{"the anchoring account cannot pay", map[string]string{`attestd_anchor_failed_total{chain="1",reason="funds",` + podA + `}`: "0 0 1 2"},
			"AttestdAnchorAccountCannotPay", map[string][]map[string]string{"1m": none, "2m": {with(a, "chain", "1", "reason", "funds", "severity", "critical")}}},
		{"a balance for less than 7 days of anchors, and one for years", map[string]string{
			// 1 ether left; 1e15 wei a minute: 1.44 ether a day, 0.69 days.
			`attestd_anchor_balance_wei{chain="1",` + podA + `}`:         "1e18x1500",
			`attestd_anchor_fees_paid_wei_total{chain="1",` + podA + `}`: "0+1e15x1500",
			// 1000 ether at the same spend: 694 days.
			`attestd_anchor_balance_wei{chain="2",` + podA + `}`:         "1e21x1500",
			`attestd_anchor_fees_paid_wei_total{chain="2",` + podA + `}`: "0+1e15x1500",
			// no fees paid: no spend, no alert (not a division by zero).
			`attestd_anchor_balance_wei{chain="3",` + podA + `}`:         "0x1500",
			`attestd_anchor_fees_paid_wei_total{chain="3",` + podA + `}`: "0x1500",
		}, "AttestdAnchorBalanceLow", map[string][]map[string]string{
			"10m":   none, // not yet for 15m
			"1440m": {with(job, "chain", "1", "severity", "warning")},
		}},
		{"the spend of a day split over two replicas (a failover) counts whole", map[string]string{
			// the leader changed at 12h: each replica paid 1e15 wei a minute for half the day
			`attestd_anchor_fees_paid_wei_total{chain="1",` + podA + `}`: "0+1e15x720 _x720",
			`attestd_anchor_fees_paid_wei_total{chain="1",` + podB + `}`: "_x720 0+1e15x720",
			// 8 ether: 5.6 days at the day's 1.44 ether (11 days if only one replica's spend counted)
			`attestd_anchor_balance_wei{chain="1",` + podB + `}`: "_x720 8e18x720",
		}, "AttestdAnchorBalanceLow", map[string][]map[string]string{"1439m": {with(job, "chain", "1", "severity", "warning")}}},
		{"receipts overdue on a chain", map[string]string{
			`attestd_receipts_overdue{chain="1",` + podA + `}`: "0 0 5 5",
			`attestd_receipts_overdue{chain="2",` + podA + `}`: "0x3",
		}, "AttestdReceiptsOverdue", map[string][]map[string]string{"1m": none, "2m": {with(job, "chain", "1", "severity", "critical")}}},
		{"a pending fingerprint past the deadline, on both replicas", map[string]string{
			`attestd_oldest_pending_age_seconds{` + podA + `}`: "0+60x20",
			`attestd_oldest_pending_age_seconds{` + podB + `}`: "0+60x20",
			`attestd_receipt_deadline_seconds{` + podA + `}`:   "660x20",
			`attestd_receipt_deadline_seconds{` + podB + `}`:   "660x20",
		}, "AttestdReceiptsOverdue", map[string][]map[string]string{"11m": none, "12m": {with(job, "severity", "critical")}}},
		{"the chain head stops advancing", map[string]string{
			// chain 1's head keeps up with the clock; chain 2's stops at 5m
			`attestd_chain_head_timestamp_seconds{chain="1",` + podA + `}`: "0+60x40",
			`attestd_chain_head_timestamp_seconds{chain="2",` + podA + `}`: "0+60x5 300x35",
		}, "AttestdChainHeadStale", map[string][]map[string]string{"16m": none, "22m": {with(job, "chain", "2", "severity", "warning")}}},
		{"evidence failing on a chain that never collected any, not on one that does", map[string]string{
			`attestd_evidence_failures_total{chain="1",` + podA + `}`:  "0+5x60",
			`attestd_evidence_failures_total{chain="2",` + podA + `}`:  "0+5x60",
			`attestd_evidence_collected_total{chain="2",` + podA + `}`: "0+1x60",
		}, "AttestdEvidenceFailing", map[string][]map[string]string{"10m": none, "20m": {with(a, "chain", "1", "severity", "warning")}}},
		{"evidence given up", map[string]string{`attestd_evidence_abandoned_total{chain="1",` + podA + `}`: "0 0 1"},
			"AttestdEvidenceAbandoned", map[string][]map[string]string{"1m": none, "2m": {with(a, "chain", "1", "severity", "warning")}}},
	}
}

// TestAlertRules evaluates every alert with promtool (Prometheus's own
// rule engine: Debian's prometheus package; .ci/run installs it) on the
// cases of alertCases: each fires when and with the labels it should and
// stays silent otherwise. Every input series is one the service exports,
// with its labels. promtool check rules also checks the file as it is,
// annotations' templates included; the cases run on a copy without
// annotations, so that only labels are compared.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (apt-get install prometheus); CI=true, so this is a failure")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	if out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	f, rules := readRules(t)
	exported := exportedLabels(t)
	cases := alertCases()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.alert] = true
	}
	for _, r := range rules {
		if !covered[r.Alert] {
			t.Errorf("alert %s has no case", r.Alert)
		}
	}

	dir := t.TempDir()
	for gi := range f.Groups {
		for ri := range f.Groups[gi].Rules {
			f.Groups[gi].Rules[ri].Annotations = nil
		}
	}
	stripped, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), stripped, 0o644); err != nil {
		t.Fatal(err)
	}

	type expAlert struct {
		ExpLabels map[string]string `yaml:"exp_labels"`
	}
	type alertTest struct {
		EvalTime  string     `yaml:"eval_time"`
		Alertname string     `yaml:"alertname"`
		ExpAlerts []expAlert `yaml:"exp_alerts"`
	}
	type inputSeries struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	type test struct {
		Name        string        `yaml:"name"`
		Interval    string        `yaml:"interval"`
		InputSeries []inputSeries `yaml:"input_series"`
		AlertTests  []alertTest   `yaml:"alert_rule_test"`
	}
	var tests []test
	name := regexp.MustCompile(`^(attestd_[a-z_]+)\{(.*)\}$`)
	label := regexp.MustCompile(`([a-z_]+)="`)
	for _, c := range cases {
		tc := test{Name: c.alert + ": " + c.name, Interval: "1m"}
		for _, s := range slices.Sorted(maps.Keys(c.series)) {
			m := name.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("case %q: series %q", c.name, s)
			}
			want, ok := exported[m[1]]
			if !ok {
				t.Errorf("case %q: the service does not export %s", c.name, m[1])
			}
			var got []string
			for _, l := range label.FindAllStringSubmatch(m[2], -1) {
				if l[1] != "job" && l[1] != "instance" && l[1] != "pod" {
					got = append(got, l[1])
				}
			}
			slices.Sort(got)
			want = slices.Sorted(slices.Values(want))
			if !slices.Equal(got, want) {
				t.Errorf("case %q: %s with labels %v, the service exports it with %v", c.name, m[1], got, want)
			}
			tc.InputSeries = append(tc.InputSeries, inputSeries{s, c.series[s]})
		}
		for _, at := range slices.Sorted(maps.Keys(c.evals)) {
			at1 := alertTest{EvalTime: at, Alertname: c.alert, ExpAlerts: []expAlert{}}
			for _, l := range c.evals[at] {
				at1.ExpAlerts = append(at1.ExpAlerts, expAlert{l})
			}
			tc.AlertTests = append(tc.AlertTests, at1)
		}
		tests = append(tests, tc)
	}
	spec, err := yaml.Marshal(map[string]any{"rule_files": []string{"rules.yaml"}, "evaluation_interval": "1m", "tests": tests})
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(dir, "alerts_test.yaml")
	if err := os.WriteFile(testFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", testFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s\n(the cases: %s)", err, out, testFile)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules printed no SUCCESS:\n%s", out)
	}
	t.Logf("promtool: %d cases of %d alerts: %s", len(tests), len(rules), strings.TrimSpace(string(out)))
}
