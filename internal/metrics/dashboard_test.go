package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	redisstore "github.com/attestd/attestd/internal/store/redis"
)

// TestDashboardQueries: every query of deploy/helm/attestd/files/dashboard.json
// (the Grafana dashboard the Helm chart installs with
// metrics.grafanaDashboard.enabled) is over series the service exports, with
// labels those series have, histogram_quantile over _bucket series keeping
// le, rate and increase over counters only; and every panel uses the
// dashboard's datasource variable. A renamed metric or label cannot silently
// empty a panel.
func TestDashboardQueries(t *testing.T) {
	data, err := os.ReadFile("../../deploy/helm/attestd/files/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardJSON
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.Title == "" {
		t.Error("the dashboard has no title")
	}
	families := exportedFamilies(t)

	vars := slices.Clone(grafanaVariables)
	var queries []dashboardQuery
	hasDatasource := false
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		switch v.Type {
		case "datasource":
			var q string
			if v.Name == "datasource" && json.Unmarshal(v.Query, &q) == nil && q == "prometheus" {
				hasDatasource = true
			}
		case "query":
			where := fmt.Sprintf("variable %s", v.Name)
			if !isDatasourceVariable(v.Datasource) {
				t.Errorf("%s: datasource %+v, want the ${datasource} variable", where, v.Datasource)
			}
			var q string
			if json.Unmarshal(v.Query, &q) != nil {
				var obj struct{ Query string }
				if err := json.Unmarshal(v.Query, &obj); err != nil {
					t.Errorf("%s: query %s: %v", where, v.Query, err)
				}
				q = obj.Query
			}
			lv := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q))
			if lv == nil {
				t.Errorf("%s: query %q is not label_values(series, label)", where, q)
				continue
			}
			queries = append(queries, dashboardQuery{where: where, expr: lv[1], label: lv[2]})
		}
	}
	if !hasDatasource {
		t.Error(`no "datasource" variable of type datasource for Prometheus`)
	}

	ids := map[int]string{}
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if prev, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("%s: id %d is missing or also %s's", where, p.ID, prev)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if !isDatasourceVariable(p.Datasource) {
				t.Errorf("%s: datasource %+v, want the ${datasource} variable", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && !isDatasourceVariable(tg.Datasource) {
					t.Errorf("%s target %s: datasource %+v, want the ${datasource} variable", where, tg.RefID, tg.Datasource)
				}
				queries = append(queries, dashboardQuery{where: where + " target " + tg.RefID, expr: tg.Expr, legend: tg.LegendFormat})
			}
		}
	}
	walk(d.Panels)

	exprs := 0
	for _, q := range queries {
		if q.label == "" {
			exprs++
		}
		for _, err := range checkQuery(q, families, vars) {
			t.Errorf("%s: %v\n\t%s", q.where, err, q.expr)
		}
	}
	if exprs < 15 {
		t.Fatalf("only %d panel queries found", exprs)
	}
}

// targetLabels are the labels Prometheus adds to every scraped series (the
// ServiceMonitor's target labels), which the dashboard's variables select on.
var targetLabels = []string{"job", "instance", "namespace", "pod"}

// grafanaVariables are the built-in variables a query may use.
var grafanaVariables = []string{"__range", "__rate_interval", "__interval"}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func isDatasourceVariable(ds *dsRef) bool {
	return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}"
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *dsRef `json:"datasource"`
	Targets    []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		Datasource   *dsRef `json:"datasource"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's panels
}

type dashboardJSON struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *dsRef          `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashboardPanel `json:"panels"`
}

// dashboardQuery is a panel target's expr, or the series of a variable's
// label_values(series, label).
type dashboardQuery struct {
	where  string
	expr   string
	legend string // the target's legendFormat
	label  string // label_values' label
}

// exportedFamilies returns the metric families the service exports, by
// name: New's registry with what internal/app adds to it (the pending
// gauges, the embedded store's backlog, the backups, the keys file, the
// store's health, the receipts' deadline, the Redis store's instruments),
// every vector given a child so that it and its labels appear in Gather.
func exportedFamilies(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	m := New("test")
	m.RegisterPending(func() (int, float64) { return 0, 0 })
	m.RegisterUnindexed(func() int { return 0 })
	m.RegisterBackups(time.Hour)                                             // with --backup-dir
	m.RegisterKeysFile(func() (time.Time, error) { return time.Now(), nil }) // with --api-keys-file
	m.RegisterStoreUp(func() error { return nil })
	m.RegisterReceiptDeadline(11 * time.Minute)
	rm := redisstore.NewMetrics(m.Registry)
	rm.Errors.WithLabelValues("timeout")
	m.Received.WithLabelValues("new")
	m.AnchorSubmitted.WithLabelValues("1")
	m.AnchorConfirmed.WithLabelValues("1")
	m.AnchorFailed.WithLabelValues("1", ReasonRPC)
	m.AnchorReplaced.WithLabelValues("1")
	m.AnchorLatency.WithLabelValues("1", "mined")
	m.Reorgs.WithLabelValues("1")
	m.GasUsed.WithLabelValues("1")
	m.FeesPaid.WithLabelValues("1")
	m.ChainHead.WithLabelValues("1")
	m.ChainHeadTime.WithLabelValues("1")
	m.ChainBatchHighest.WithLabelValues("1")
	m.AnchorBalance.WithLabelValues("1")
	m.ReceiptsOverdue.WithLabelValues("1")
	m.EvidenceFailures.WithLabelValues("1")
	m.EvidenceCollected.WithLabelValues("1")
	m.EvidenceAbandoned.WithLabelValues("1")
	m.DeadlineMissed.WithLabelValues("seal")
	m.VerifyResults.WithLabelValues("valid")
	m.HTTPDuration.WithLabelValues("/v1/fingerprints", "POST", "2xx")
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		families[mf.GetName()] = mf
	}
	return families
}

var (
	// Series of the service: its own, and the Go and process collectors'.
	seriesRE      = regexp.MustCompile(`\b(?:attestd|go|process)_[a-z0-9_]+`)
	groupingRE    = regexp.MustCompile(`\b(by|without)\s*\(`)
	quantileRE    = regexp.MustCompile(`\bhistogram_quantile\s*\(`)
	rateRE        = regexp.MustCompile(`\b(?:rate|irate|increase)\s*\(`)
	unsupportedRE = regexp.MustCompile(`\b(?:on|ignoring|group_left|group_right|label_replace|label_join|count_values)\s*\(`)
	matcherRE     = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*(?:,|$)`)
	variableRE    = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)
	legendRE      = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)
	labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\s*\)$`)
)

// series is one occurrence of a series name in an expression, resolved
// against the exported families.
type series struct {
	name       string
	start, end int
	family     *dto.MetricFamily // nil: not exported
	suffix     string            // _bucket, _sum or _count of a histogram family
}

func (s series) labels() []string {
	ls := slices.Clone(targetLabels)
	if s.suffix == "_bucket" {
		ls = append(ls, "le")
	}
	for _, m := range s.family.GetMetric() {
		for _, lp := range m.GetLabel() {
			if !slices.Contains(ls, lp.GetName()) {
				ls = append(ls, lp.GetName())
			}
		}
	}
	return ls
}

func (s series) counter() bool {
	return s.suffix != "" || s.family.GetType() == dto.MetricType_COUNTER
}

func resolve(name string, families map[string]*dto.MetricFamily) (*dto.MetricFamily, string) {
	if mf, ok := families[name]; ok && mf.GetType() != dto.MetricType_HISTOGRAM && mf.GetType() != dto.MetricType_SUMMARY {
		return mf, ""
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if mf, ok := families[base]; ok && mf.GetType() == dto.MetricType_HISTOGRAM {
				return mf, suffix
			}
		}
	}
	return nil, ""
}

// checkQuery returns what is wrong with one query.
func checkQuery(q dashboardQuery, families map[string]*dto.MetricFamily, vars []string) []error {
	var errs []error
	expr := q.expr
	inString, match, err := scanExpr(expr)
	if err != nil {
		return []error{err}
	}
	// find returns the matches of re that do not start inside a string.
	find := func(re *regexp.Regexp) [][]int {
		var out [][]int
		for _, m := range re.FindAllStringIndex(expr, -1) {
			if !inString[m[0]] {
				out = append(out, m)
			}
		}
		return out
	}
	// call returns the span of the parenthesised arguments of a match
	// ending in "(".
	call := func(m []int) [2]int { return [2]int{m[1] - 1, match[m[1]-1]} }
	within := func(s series, span [2]int) bool { return s.start > span[0] && s.end < span[1] }

	var all []series
	for _, m := range find(seriesRE) {
		s := series{name: expr[m[0]:m[1]], start: m[0], end: m[1]}
		s.family, s.suffix = resolve(s.name, families)
		if s.family == nil {
			if mf, ok := families[s.name]; ok {
				errs = append(errs, fmt.Errorf("%s is a %s: its series are %[1]s_bucket, %[1]s_sum and %[1]s_count", s.name, mf.GetType()))
			} else {
				errs = append(errs, fmt.Errorf("%s is not a series the service exports", s.name))
			}
			continue
		}
		all = append(all, s)
	}
	if len(all) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("uses no series of the service"))
	}
	for _, m := range find(unsupportedRE) {
		errs = append(errs, fmt.Errorf("%s…): its labels are not checked; extend this test", expr[m[0]:m[1]]))
	}

	// Label matchers: series{label="…", …}.
	for _, s := range all {
		k := s.end
		for k < len(expr) && expr[k] == ' ' {
			k++
		}
		if k == len(expr) || expr[k] != '{' {
			continue
		}
		end := k + 1
		for end < len(expr) && (expr[end] != '}' || inString[end]) {
			end++
		}
		if end == len(expr) {
			errs = append(errs, fmt.Errorf("%s: unterminated {", s.name))
			continue
		}
		for body := expr[k+1 : end]; strings.TrimSpace(body) != ""; {
			lm := matcherRE.FindStringSubmatchIndex(body)
			if lm == nil {
				errs = append(errs, fmt.Errorf("%s: cannot parse the matchers %q", s.name, body))
				break
			}
			if l := body[lm[2]:lm[3]]; !slices.Contains(s.labels(), l) {
				errs = append(errs, fmt.Errorf("%s has no label %s (it has %v)", s.name, l, s.labels()))
			}
			body = body[lm[1]:]
		}
	}

	// by (…) and without (…): the labels must be on every series of the
	// expression they aggregate, written after the clause (sum by (l) (x))
	// or before it (sum(x) by (l)).
	type grouping struct {
		clause  string
		without bool
		labels  []string
		start   int
	}
	var groupings []grouping
	for _, m := range find(groupingRE) {
		open := m[1] - 1
		g := grouping{clause: expr[m[0] : match[open]+1], without: strings.HasPrefix(expr[m[0]:], "without"), start: m[0]}
		for _, l := range strings.Split(expr[open+1:match[open]], ",") {
			if l = strings.TrimSpace(l); l != "" {
				g.labels = append(g.labels, l)
			}
		}
		groupings = append(groupings, g)
		var scope [2]int
		after := strings.TrimLeft(expr[match[open]+1:], " ")
		before := strings.TrimRight(expr[:m[0]], " ")
		switch {
		case strings.HasPrefix(after, "("):
			o := len(expr) - len(after)
			scope = [2]int{o, match[o]}
		case strings.HasSuffix(before, ")"):
			c := len(before) - 1
			scope = [2]int{match[c], c}
		default:
			errs = append(errs, fmt.Errorf("cannot tell what %s groups", g.clause))
			continue
		}
		for _, s := range all {
			if !within(s, scope) {
				continue
			}
			for _, l := range g.labels {
				if !slices.Contains(s.labels(), l) {
					errs = append(errs, fmt.Errorf("%s (…) over %s, which has no label %s (it has %v)", g.clause, s.name, l, s.labels()))
				}
			}
		}
	}

	// histogram_quantile: over _bucket series, aggregated by (le, …).
	for _, m := range find(quantileRE) {
		span := call(m)
		buckets := 0
		for _, s := range all {
			if !within(s, span) {
				continue
			}
			if s.suffix != "_bucket" {
				errs = append(errs, fmt.Errorf("histogram_quantile over %s, not a histogram's _bucket series", s.name))
			} else {
				buckets++
			}
		}
		if buckets == 0 {
			errs = append(errs, fmt.Errorf("histogram_quantile over no _bucket series"))
		}
		by := 0
		for _, g := range groupings {
			if g.start < span[0] || g.start > span[1] {
				continue
			}
			if !g.without {
				by++
			}
			if slices.Contains(g.labels, "le") == g.without {
				errs = append(errs, fmt.Errorf("histogram_quantile over an aggregation that drops le: %s", g.clause))
			}
		}
		if by == 0 {
			errs = append(errs, fmt.Errorf("histogram_quantile without a sum by (le, …)"))
		}
	}

	// rate, irate and increase take counters (histogram series are
	// counters), and counters are only read through them.
	var rated [][2]int
	for _, m := range find(rateRE) {
		span := call(m)
		rated = append(rated, span)
		for _, s := range all {
			if within(s, span) && !s.counter() {
				errs = append(errs, fmt.Errorf("%s of %s, which is a %s, not a counter", strings.TrimRight(expr[m[0]:m[1]], " ("), s.name, s.family.GetType()))
			}
		}
	}
	for _, s := range all {
		if s.counter() && !slices.ContainsFunc(rated, func(span [2]int) bool { return within(s, span) }) {
			errs = append(errs, fmt.Errorf("%s is a counter read without rate() or increase()", s.name))
		}
	}

	// label_values' label, and the legend's {{label}}s.
	some := func(l string) bool {
		return slices.ContainsFunc(all, func(s series) bool { return slices.Contains(s.labels(), l) })
	}
	if q.label != "" && (len(all) == 0 || slices.ContainsFunc(all, func(s series) bool { return !slices.Contains(s.labels(), q.label) })) {
		errs = append(errs, fmt.Errorf("label_values of %s, a label its series do not all have", q.label))
	}
	for _, m := range legendRE.FindAllStringSubmatch(q.legend, -1) {
		if !some(m[1]) {
			errs = append(errs, fmt.Errorf("the legend %q names %s, a label of none of its series", q.legend, m[1]))
		}
	}

	// Variables.
	for _, m := range variableRE.FindAllStringSubmatch(expr, -1) {
		if v := m[1] + m[2]; !slices.Contains(vars, v) {
			errs = append(errs, fmt.Errorf("uses $%s, which is not a variable of the dashboard", v))
		}
	}
	return errs
}

// scanExpr returns which bytes of a PromQL expression are inside string
// literals and, for every parenthesis outside them, the position of its
// partner.
func scanExpr(expr string) (inString []bool, match map[int]int, err error) {
	inString = make([]bool, len(expr))
	match = map[int]int{}
	var open []int
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			inString[i] = true
			if c == '\\' && quote != '`' && i+1 < len(expr) {
				i++
				inString[i] = true
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
			inString[i] = true
		case c == '(':
			open = append(open, i)
		case c == ')':
			if len(open) == 0 {
				return nil, nil, fmt.Errorf("unbalanced ) at byte %d", i)
			}
			o := open[len(open)-1]
			open = open[:len(open)-1]
			match[o], match[i] = i, o
		}
	}
	if quote != 0 {
		return nil, nil, fmt.Errorf("unterminated string")
	}
	if len(open) > 0 {
		return nil, nil, fmt.Errorf("unbalanced ( at byte %d", open[len(open)-1])
	}
	return inString, match, nil
}
