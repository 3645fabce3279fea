// Package metrics holds attestd's Prometheus instruments. They live on a
// private registry (never the global default), every series is prefixed
// attestd_, and label values are bounded: a chain ID from the config, a
// route template, a status class, an error category — never an error
// string or a user-supplied value.
package metrics

import (
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the set of instruments the pipeline updates. A nil *Metrics is
// not allowed; tests use New(prometheus.NewRegistry()).
type Metrics struct {
	Registry *prometheus.Registry

	Received *prometheus.CounterVec // result: new|duplicate
	// Statements counts record-status statements recorded (not retries).
	Statements    *prometheus.CounterVec // type: supersede|withdraw
	SealDuration  prometheus.Histogram
	BatchSize     prometheus.Histogram
	BatchesSealed prometheus.Counter
	SealFailures  prometheus.Counter

	AnchorSubmitted *prometheus.CounterVec   // chain
	AnchorConfirmed *prometheus.CounterVec   // chain
	AnchorFailed    *prometheus.CounterVec   // chain, reason
	AnchorReplaced  *prometheus.CounterVec   // chain
	AnchorLatency   *prometheus.HistogramVec // chain, stage: mined|confirmed (seconds since sealing)
	Reorgs          *prometheus.CounterVec   // chain
	GasUsed         *prometheus.CounterVec   // chain
	FeesPaid        *prometheus.CounterVec   // chain (wei)
	ChainHead       *prometheus.GaugeVec     // chain
	// EvidenceFailures counts failed attempts to collect the chain
	// evidence of a confirmed anchor (they are retried on later polls).
	EvidenceFailures *prometheus.CounterVec // chain
	// EvidenceCollected counts anchors whose chain evidence was collected,
	// EvidenceAbandoned those that left the reorg window without it (their
	// proofs never become standalone).
	EvidenceCollected *prometheus.CounterVec // chain
	EvidenceAbandoned *prometheus.CounterVec // chain
	// The leader's view of each chain, absent on a replica that does not
	// lead (its anchorer deletes them when its term ends): the anchoring
	// account's balance, the time of the newest block seen, and the
	// receipts whose promised deadline passed without a confirmed anchor.
	AnchorBalance   *prometheus.GaugeVec // chain (wei)
	ChainHeadTime   *prometheus.GaugeVec // chain (Unix seconds of the block)
	ReceiptsOverdue *prometheus.GaugeVec // chain
	// ChainBatchHighest is the highest batch ID the start-up scan found
	// anchored on each chain by this issuer's anchoring account.
	ChainBatchHighest *prometheus.GaugeVec // chain
	// BatchIDsSkipped counts batch IDs the store did not know but the
	// chain held (a restored backup): adopted, never sealed again.
	BatchIDsSkipped prometheus.Counter

	DeadlineMissed *prometheus.CounterVec // stage: seal|anchor (batches)

	VerifyResults *prometheus.CounterVec   // result: valid|invalid|undecided
	HTTPDuration  *prometheus.HistogramVec // route, method, code (class); observe with ObserveHTTP
}

// Reasons an anchor attempt fails, the only values of the reason label.
const (
	ReasonRPC      = "rpc"      // the endpoint was unreachable or errored
	ReasonSign     = "sign"     // building or signing the transaction failed
	ReasonReverted = "reverted" // the transaction was mined but failed
	ReasonNonce    = "nonce"    // the nonce was taken by another transaction
	ReasonStore    = "store"    // persisting the anchor record failed
	ReasonFunds    = "funds"    // the anchoring account cannot pay for the transaction
)

// Unmatched is the route label of requests that matched no route, and
// Other the method or code label of a value outside the fixed set.
const (
	Unmatched = "unmatched"
	Other     = "other"
)

// ObserveHTTP records one request's latency in HTTPDuration with every
// label bounded, whatever the client sent: route is the matched route
// template (gin's FullPath: only registered templates) or "" for
// Unmatched; the method is one of net/http's nine or Other; the code is
// the status class, 1xx…5xx, or Other.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	if route == "" {
		route = Unmatched
	}
	m.HTTPDuration.WithLabelValues(route, Method(method), StatusClass(status)).Observe(d.Seconds())
}

// Method returns method if it is one of the methods net/http names
// (RFC 9110 and PATCH), else Other: a client can send any token as a
// method, and each distinct label value would be a new series.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return Other
}

// StatusClass returns "1xx"…"5xx" for a status code, else Other.
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return Other
	}
	return strconv.Itoa(status/100) + "xx"
}

// New creates the instruments and registers them, with the Go and process
// collectors and attestd_build_info, on a new private registry.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_fingerprints_received_total",
			Help: "Fingerprints acknowledged with 202, by whether they were new or already known.",
		}, []string{"result"}),
		Statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_statements_total",
			Help: "Record-status statements recorded with 202 (a retry of the same statement not counted), by type: supersede or withdraw.",
		}, []string{"type"}),
		SealDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attestd_seal_duration_seconds",
			Help:    "Time to build and durably commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attestd_batch_size",
			Help:    "Fingerprints per sealed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 12),
		}),
		BatchesSealed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attestd_batches_sealed_total",
			Help: "Batches sealed.",
		}),
		SealFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attestd_seal_failures_total",
			Help: "Seal attempts that failed (reading the pending queue or committing the batch); they are retried.",
		}),
		AnchorSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_anchor_submitted_total",
			Help: "Anchor transactions signed, persisted and broadcast (re-broadcasts not counted).",
		}, []string{"chain"}),
		AnchorConfirmed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_anchor_confirmed_total",
			Help: "Anchors that reached the configured confirmations.",
		}, []string{"chain"}),
		AnchorFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_anchor_failed_total",
			Help: "Failed anchoring steps by reason (rpc, sign, reverted, nonce, store, funds: the anchoring account cannot pay); they are retried.",
		}, []string{"chain", "reason"}),
		AnchorReplaced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_anchor_replaced_total",
			Help: "Anchor transactions re-signed: a fee bump on the same nonce, or a new nonce after another transaction took it.",
		}, []string{"chain"}),
		AnchorLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "attestd_anchor_latency_seconds",
			Help:    "Seconds from sealing a batch until its anchor was mined / confirmed.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}, []string{"chain", "stage"}),
		Reorgs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_anchor_reorgs_total",
			Help: "Mined anchors dropped or moved by a chain reorganisation.",
		}, []string{"chain"}),
		GasUsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_anchor_gas_used_total",
			Help: "Gas used by mined anchor transactions.",
		}, []string{"chain"}),
		FeesPaid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_anchor_fees_paid_wei_total",
			Help: "Fees paid for mined anchor transactions, in wei.",
		}, []string{"chain"}),
		EvidenceFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_evidence_failures_total",
			Help: "Failed attempts to collect a confirmed anchor's chain evidence (transaction, receipt, header, proofs and following headers); retried on later polls while the anchor is within the reorg window. Anchoring goes on without it.",
		}, []string{"chain"}),
		EvidenceCollected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_evidence_collected_total",
			Help: "Confirmed anchors whose chain evidence was collected and written to their record: their proofs verify with no chain endpoint.",
		}, []string{"chain"}),
		EvidenceAbandoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_evidence_abandoned_total",
			Help: "Confirmed anchors that passed the reorg window without their chain evidence: collection stopped, and their proofs never become standalone (verify needs a chain endpoint for them).",
		}, []string{"chain"}),
		AnchorBalance: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "attestd_anchor_balance_wei",
			Help: "Balance of the anchoring account on each chain, in wei, read about every minute and after each mined anchor by the replica that anchors (absent on the others).",
		}, []string{"chain"}),
		ChainHeadTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "attestd_chain_head_timestamp_seconds",
			Help: "Timestamp of the newest block seen on each anchoring chain (Unix seconds, from its header) by the replica that anchors (absent on the others): it falls behind the clock when the chain or its endpoint stops advancing.",
		}, []string{"chain"}),
		ReceiptsOverdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "attestd_receipts_overdue",
			Help: "Receipts (fingerprints of sealed batches) whose promised deadline has passed without a confirmed anchor on this chain: a batch counts once the batch interval plus --anchor-within has passed since it was sealed (every receipt of it is then past its deadline); counted over the oldest 64 unconfirmed batches by the replica that anchors (absent on the others).",
		}, []string{"chain"}),
		ChainHead: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "attestd_chain_head_block",
			Help: "Latest block number seen on each anchoring chain.",
		}, []string{"chain"}),
		ChainBatchHighest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "attestd_chain_batch_id_highest",
			Help: "Highest batch ID the start-up scan found anchored on each chain by the anchoring account (0: none in the scanned blocks).",
		}, []string{"chain"}),
		BatchIDsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attestd_batch_ids_skipped_total",
			Help: "Batch IDs the store did not know but found anchored on a chain by this issuer at start (a restored backup): adopted from the chain so that sealing continues above them. Any increase means fingerprints of those batches are missing from the store.",
		}),
		DeadlineMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_deadline_missed_total",
			Help: "Batches that broke the receipts' promise: sealed more than the batch interval after their oldest fingerprint (stage=seal), or mined more than the anchoring allowance after sealing (stage=anchor). Alert on any increase.",
		}, []string{"stage"}),
		VerifyResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_verify_results_total",
			Help: "POST /v1/verify verdicts: valid, invalid (some evidence is false), undecided (could not be checked; with the chain endpoint failing, answered 503).",
		}, []string{"result"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "attestd_http_request_duration_seconds",
			Help:    "HTTP request latency by route template, method and status class.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method", "code"}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "attestd_build_info",
		Help: "Build information; always 1.",
	}, []string{"version", "goversion"})
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	buildInfo.WithLabelValues(version, goVersion).Set(1)
	reg.MustRegister(
		m.Received, m.Statements, m.SealDuration, m.BatchSize, m.BatchesSealed, m.SealFailures,
		m.AnchorSubmitted, m.AnchorConfirmed, m.AnchorFailed, m.AnchorReplaced, m.AnchorLatency,
		m.Reorgs, m.GasUsed, m.FeesPaid, m.ChainHead, m.EvidenceFailures,
		m.EvidenceCollected, m.EvidenceAbandoned, m.AnchorBalance, m.ChainHeadTime, m.ReceiptsOverdue,
		m.ChainBatchHighest, m.BatchIDsSkipped,
		m.DeadlineMissed, m.VerifyResults, m.HTTPDuration, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// RegisterPending exports the pending-queue gauges, attestd_pending_fingerprints
// and attestd_oldest_pending_age_seconds (the anchoring-delay SLO signal),
// read at scrape time with one call of stats (an O(1) store read).
func (m *Metrics) RegisterPending(stats func() (count int, ageSeconds float64)) {
	m.Registry.MustRegister(&pendingCollector{stats: stats})
}

// RegisterReceiptDeadline exports attestd_receipt_deadline_seconds, the
// receipts' promise (batch interval + --anchor-within): a pending
// fingerprint older than that has a receipt past its deadline.
func (m *Metrics) RegisterReceiptDeadline(d time.Duration) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "attestd_receipt_deadline_seconds",
		Help: "The receipts' promise: a fingerprint is anchored within this long of being received (the batch interval plus --anchor-within).",
	})
	g.Set(d.Seconds())
	m.Registry.MustRegister(g)
}

// RegisterUnindexed exports attestd_store_unindexed_fingerprints: the
// embedded store's merge backlog, read at scrape time.
func (m *Metrics) RegisterUnindexed(n func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "attestd_store_unindexed_fingerprints",
		Help: "Fingerprints in the embedded store's ingest log not yet merged into its index (ingest waits above twice the merge threshold).",
	}, func() float64 { return float64(n()) }))
}

// RegisterIndexRuns exports attestd_store_index_runs: how many sorted
// runs the embedded store's index is in, read at scrape time.
func (m *Metrics) RegisterIndexRuns(n func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "attestd_store_index_runs",
		Help: "Sorted runs the embedded store's fingerprint index is in: a look-up reads up to this many. Background compactions keep it to a few per size tier; a count that only grows means they fail (see the log).",
	}, func() float64 { return float64(n()) }))
}

// RegisterStoreUp exports attestd_store_up: 1 while the store takes
// writes (up reports nil), else 0 — read at scrape time.
func (m *Metrics) RegisterStoreUp(up func() error) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "attestd_store_up",
		Help: "1 while the store takes writes, 0 while they fail (a full or failing disk, Redis unreachable, read only or unable to persist); /readyz says why.",
	}, func() float64 {
		if up() != nil {
			return 0
		}
		return 1
	}))
}

var (
	pendingDesc = prometheus.NewDesc("attestd_pending_fingerprints",
		"Acknowledged fingerprints not yet sealed into a batch.", nil, nil)
	oldestDesc = prometheus.NewDesc("attestd_oldest_pending_age_seconds",
		"Age of the oldest pending fingerprint (0 when none); alert when it exceeds the batch interval by much.", nil, nil)
)

type pendingCollector struct {
	stats func() (int, float64)
}

func (c *pendingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- oldestDesc
}

func (c *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	n, age := c.stats()
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}

// Backups are the instruments of scheduled backups of the embedded store,
// registered by RegisterBackups only when backups are on.
type Backups struct {
	LastSuccess prometheus.Gauge   // Unix time the last good copy started
	Duration    prometheus.Gauge   // seconds the last good copy took
	Bytes       prometheus.Gauge   // size of the last good copy
	Failures    prometheus.Counter // copies that failed
}

// RegisterBackups registers the backup instruments, with
// attestd_backup_interval_seconds set to every, so that an alert can
// compare the last success with the schedule.
func (m *Metrics) RegisterBackups(every time.Duration) *Backups {
	b := &Backups{
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attestd_backup_last_success_timestamp_seconds",
			Help: "Unix time at which the last successful backup of the embedded store started (0: none yet).",
		}),
		Duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attestd_backup_duration_seconds",
			Help: "How long the last successful backup took.",
		}),
		Bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attestd_backup_bytes",
			Help: "Size of the last successful backup.",
		}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attestd_backup_failures_total",
			Help: "Backups that failed; each is tried again at the next interval.",
		}),
	}
	interval := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "attestd_backup_interval_seconds",
		Help: "The configured time between backups (--backup-every).",
	})
	interval.Set(every.Seconds())
	m.Registry.MustRegister(b.LastSuccess, b.Duration, b.Bytes, b.Failures, interval)
	return b
}

// RegisterKeysFile exports the health of the API keys file that a running
// server reloads: attestd_api_keys_reload_failing (1 while the file cannot
// be read or parsed, so the previous keys — revoked ones included — stay in
// force) and attestd_api_keys_last_load_timestamp_seconds.
func (m *Metrics) RegisterKeysFile(health func() (lastLoaded time.Time, err error)) {
	m.Registry.MustRegister(&keysCollector{health: health})
}

var (
	keysFailingDesc = prometheus.NewDesc("attestd_api_keys_reload_failing",
		"Whether the API keys file cannot be read or parsed (1: the keys loaded before stay in force, including any revoked since).", nil, nil)
	keysLoadedDesc = prometheus.NewDesc("attestd_api_keys_last_load_timestamp_seconds",
		"Unix time the API keys file was last read successfully.", nil, nil)
)

type keysCollector struct {
	health func() (time.Time, error)
}

func (c *keysCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysFailingDesc
	ch <- keysLoadedDesc
}

func (c *keysCollector) Collect(ch chan<- prometheus.Metric) {
	at, err := c.health()
	failing := 0.0
	if err != nil {
		failing = 1
	}
	ch <- prometheus.MustNewConstMetric(keysFailingDesc, prometheus.GaugeValue, failing)
	ch <- prometheus.MustNewConstMetric(keysLoadedDesc, prometheus.GaugeValue, float64(at.Unix()))
}
