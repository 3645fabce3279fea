// Command attestd-load drives a running attestd over HTTP and reports
// throughput and latency percentiles. It only talks to 127.0.0.1, and
// every run is bounded by both a request count and a duration.
//
//	attestd-load submit --api-key K --conns 64 --per-request 1000 --requests 10000 --duration 60s --check
//	attestd-load read   --run-id R --population 10000000 --conns 64 --requests 1000000 --duration 60s
//	attestd-load read   --run-id R --population 10000000 --conns 64 --rate 20000 --requests 1200000 --duration 60s
//	attestd-load confirm --api-key K --requests 200 --rate 20 --duration 2m
//	attestd-load submit --target tessera --server http://127.0.0.1:2025 --conns 64 --requests 100000 --duration 15s
//	attestd-load tessera-key --out FILE NAME
//	attestd-load floor --listen 127.0.0.1:18999 --duration 30s
//
// Fingerprints are SHA-256("attestd-load/" + run-id + "/" + i) for
// i = start, start+1, …, so a later read run (same --run-id, --population)
// asks for fingerprints a submit run stored. submit hands request k the
// fingerprints start+k·M … start+k·M+M-1 (M = --per-request).
//
// submit --check re-reads every fingerprint acknowledged with 202 (GET
// /v1/fingerprints/{fp}, same connections) after the load and fails unless
// each one is there. read checks that each 200 names the fingerprint asked
// for. confirm submits one fingerprint per request at --rate per second and
// polls each until it is confirmed, reporting the 202→confirmed latency.
//
// submit and read are closed loops: each connection sends its next request
// when the last is answered, so they measure the most the server takes,
// and the latency at that load. read --rate R is an open loop instead:
// request k is due at k/R seconds, and its latency counts from then, so a
// request that waits for a free connection (or behind a stalled server)
// counts its wait; this is the latency at a given load.
//
// submit --target tessera drives a peer instead: the POSIX personality of
// Tessera (github.com/transparency-dev/tessera/cmd/conformance/posix), with
// the same connections, closed loop and report. Each request is POST /add
// with the fingerprint's 32 bytes as the body, the entry; Tessera answers
// 200 with the entry's index in decimal once the entry is sequenced and
// durable, and that is what counts as acknowledged. It takes one entry per
// request (--per-request 1) and no API key, and --check is refused: its
// entries are read back from its tiles, which this tool does not read.
// tessera-key prints (or writes, mode 0600) a new signing key in the note
// format its --private_key flag takes.
//
// floor serves POST /v1/fingerprints with a fixed answer of the size of
// attestd's and does nothing else, for --duration: submit against it
// measures the cost of Go's HTTP server and of this generator alone, the
// ceiling of any server built on net/http on the machine.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/attestd/attestd/client"
)

type config struct {
	mode       string
	server     string
	apiKey     string
	conns      int
	per        int
	requests   int64
	duration   time.Duration
	check      bool
	runID      string
	start      uint64
	population uint64
	rate       float64
	poll       time.Duration
	jsonOut    bool
	timeout    time.Duration
	checkFor   time.Duration
	target     string // submit: targetAttestd or targetTessera
}

// The servers submit drives (--target).
const (
	targetAttestd = "attestd" // POST /v1/fingerprints, JSON, 202
	targetTessera = "tessera" // POST /add, one raw entry, 200 and its index
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "attestd-load:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: attestd-load submit|read|confirm|tessera-key|floor [flags] (-h for the flags)")
	}
	if args[0] == "tessera-key" {
		return tesseraKey(args[1:], stdout)
	}
	if args[0] == "floor" {
		return floor(args[1:], stdout)
	}
	cfg := config{mode: args[0]}
	fs := flag.NewFlagSet("attestd-load "+cfg.mode, flag.ContinueOnError)
	fs.StringVar(&cfg.server, "server", envOr("ATTESTD_SERVER", "http://127.0.0.1:8080"), "attestd base URL (127.0.0.1 only)")
	fs.StringVar(&cfg.apiKey, "api-key", os.Getenv("ATTESTD_API_KEY"), "submitter API key (submit, confirm)")
	fs.IntVar(&cfg.conns, "conns", 64, "concurrent keep-alive connections")
	fs.IntVar(&cfg.per, "per-request", 1, "fingerprints per submit request")
	fs.Int64Var(&cfg.requests, "requests", 10_000, "stop after this many requests (> 0)")
	fs.DurationVar(&cfg.duration, "duration", 60*time.Second, "stop after this long (> 0)")
	fs.BoolVar(&cfg.check, "check", false, "submit: re-read every acknowledged fingerprint afterwards; read: check each body")
	fs.StringVar(&cfg.runID, "run-id", "", "names this run's fingerprints (default: random for submit)")
	fs.Uint64Var(&cfg.start, "start", 0, "index of the first fingerprint (submit, confirm)")
	fs.Uint64Var(&cfg.population, "population", 0, "read: fingerprints start … start+population-1 of --run-id are read at random")
	fs.Float64Var(&cfg.rate, "rate", 0, "confirm: submissions per second (0: 20); read: requests per second, open loop (0: closed loop)")
	fs.DurationVar(&cfg.poll, "poll", 50*time.Millisecond, "confirm: status poll interval")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the report as JSON")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.DurationVar(&cfg.checkFor, "check-timeout", 10*time.Minute, "bound on the --check re-reads after the load")
	fs.StringVar(&cfg.target, "target", targetAttestd, "submit: the server driven, attestd or tessera (Tessera's POSIX personality: POST /add, one fingerprint's 32 bytes per request)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkServer(cfg.server); err != nil {
		return err
	}
	cfg.server = strings.TrimRight(cfg.server, "/")
	switch {
	case cfg.requests <= 0 || cfg.duration <= 0:
		return errors.New("--requests and --duration must both be > 0: every run is bounded")
	case cfg.conns <= 0 || cfg.conns > 4096:
		return errors.New("--conns must be 1…4096")
	case cfg.per <= 0 || cfg.per > client.MaxPerRequest:
		return fmt.Errorf("--per-request must be 1…%d", client.MaxPerRequest)
	}
	if err := checkTarget(&cfg); err != nil {
		return err
	}
	switch {
	case cfg.rate < 0:
		return errors.New("--rate must be >= 0")
	case cfg.rate > 0 && cfg.mode == "submit":
		return errors.New("--rate is for read and confirm: submit is a closed loop")
	case cfg.rate == 0 && cfg.mode == "confirm":
		cfg.rate = 20
	}
	if cfg.runID == "" {
		if cfg.mode == "read" {
			return errors.New("read needs the --run-id of an earlier submit run")
		}
		cfg.runID = strconv.FormatUint(rand.Uint64(), 36)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()

	l, err := newLoader(cfg)
	if err != nil {
		return err
	}
	defer l.pool.close()
	var rep *report
	switch cfg.mode {
	case "submit":
		if cfg.apiKey == "" && cfg.target == targetAttestd {
			return errors.New("submit needs --api-key (or ATTESTD_API_KEY)")
		}
		rep, err = l.submit(ctx)
	case "read":
		if cfg.population == 0 {
			return errors.New("read needs --population > 0")
		}
		rep, err = l.read(ctx)
	case "confirm":
		if cfg.apiKey == "" {
			return errors.New("confirm needs --api-key (or ATTESTD_API_KEY)")
		}
		rep, err = l.confirm(ctx)
	default:
		return fmt.Errorf("unknown mode %q: submit, read or confirm", cfg.mode)
	}
	if rep != nil {
		rep.print(stdout, cfg.jsonOut)
	}
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// checkServer refuses any target but 127.0.0.1: this tool generates load.
func checkServer(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--server: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("--server: scheme %q, want http or https", u.Scheme)
	}
	if h := u.Hostname(); h != "127.0.0.1" {
		return fmt.Errorf("--server: host %q refused: attestd-load only targets 127.0.0.1", h)
	}
	return nil
}

// checkTarget checks --target against the other flags. Tessera's /add
// takes one entry per request and no API key (the key, from the flag or
// ATTESTD_API_KEY, is not sent to it), and there is nothing of it for
// --check to read back.
func checkTarget(cfg *config) error {
	switch cfg.target {
	case targetAttestd:
		return nil
	case targetTessera:
	default:
		return fmt.Errorf("--target %q: attestd or tessera", cfg.target)
	}
	switch {
	case cfg.mode != "submit":
		return errors.New("--target tessera is for submit")
	case cfg.per != 1:
		return errors.New("--per-request must be 1 with --target tessera: its /add takes one entry")
	case cfg.check:
		return errors.New("--check is not supported with --target tessera: its entries are read from its tiles, which attestd-load does not read")
	}
	cfg.apiKey = ""
	return nil
}

// fpSum returns fingerprint i of a run.
func fpSum(runID string, i uint64) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "attestd-load/%s/%d", runID, i))
}

// fp returns fingerprint i of a run, as 64 hex characters.
func fp(runID string, i uint64) string {
	sum := fpSum(runID, i)
	return hex.EncodeToString(sum[:])
}

type loader struct {
	cfg  config
	pool *pool
	next atomic.Int64 // requests handed out

	began, ended time.Time // of the load (workers)
}

func newLoader(cfg config) (*loader, error) {
	p, err := newPool(cfg.server, cfg.conns+1, cfg.timeout, nil) // confirm: conns pollers and the submitter
	if err != nil {
		return nil, err
	}
	return &loader{cfg: cfg, pool: p}, nil
}

// take hands out the next request number, or false once --requests are
// out or ctx is done.
func (l *loader) take(ctx context.Context) (int64, bool) {
	if over(ctx) {
		return 0, false
	}
	k := l.next.Add(1) - 1
	return k, k < l.cfg.requests
}

// over reports whether ctx is done or past its deadline: a connection's
// deadline (set to the run's) can expire a moment before the context's
// own timer fires.
func over(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(d)
}

// result of one worker.
type result struct {
	lat    []time.Duration
	status map[string]int64
	acked  []uint64 // submit: request numbers answered 202
}

func newResult() *result { return &result{status: map[string]int64{}} }

func (l *loader) submit(ctx context.Context) (*report, error) {
	tessera := l.cfg.target == targetTessera
	res := l.workers(ctx, func(ctx context.Context, r *result) {
		var body bytes.Buffer
		for {
			k, ok := l.take(ctx)
			if !ok {
				return
			}
			base := l.cfg.start + uint64(k)*uint64(l.cfg.per)
			if tessera {
				status, out, d := l.doAs(ctx, http.MethodPost, "/add", "application/octet-stream", tesseraEntry(l.cfg.runID, base), true)
				status = tesseraStatus(status, out)
				r.status[status]++
				if status == "200" {
					r.lat = append(r.lat, d)
				}
				continue
			}
			body.Reset()
			body.WriteString(`{"fingerprints":[`)
			for j := range uint64(l.cfg.per) {
				if j > 0 {
					body.WriteByte(',')
				}
				body.WriteByte('"')
				body.WriteString(fp(l.cfg.runID, base+j))
				body.WriteByte('"')
			}
			body.WriteString(`]}`)
			status, _, d := l.do(ctx, http.MethodPost, "/v1/fingerprints", body.Bytes(), false)
			r.status[status]++
			if status == "202" {
				r.lat = append(r.lat, d)
				r.acked = append(r.acked, uint64(k))
			}
		}
	})
	rep := l.summarize(res)
	if !l.cfg.check {
		return rep, nil
	}
	// Re-read every acknowledged fingerprint; the check has its own bound
	// (--check-timeout).
	var fps []uint64
	for _, r := range res {
		for _, k := range r.acked {
			base := l.cfg.start + k*uint64(l.cfg.per)
			for j := range uint64(l.cfg.per) {
				fps = append(fps, base+j)
			}
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), l.cfg.checkFor)
	defer cancel()
	var next, done atomic.Int64
	var missing atomic.Int64
	var mu sync.Mutex
	var examples []string
	start := time.Now()
	var wg sync.WaitGroup
	for range l.cfg.conns {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(fps)) || over(cctx) {
					return
				}
				f := fp(l.cfg.runID, fps[i])
				status, body, _ := l.do(cctx, http.MethodGet, "/v1/fingerprints/"+f, nil, true)
				if status == "cancelled" {
					return // out of time: not checked
				}
				done.Add(1)
				if status != "200" || !bytes.Contains(body, []byte(f)) {
					missing.Add(1)
					mu.Lock()
					if len(examples) < 5 {
						examples = append(examples, fmt.Sprintf("%s: %s %.120s", f, status, body))
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	checked := done.Load()
	rep.Check = &checkReport{Acknowledged: int64(len(fps)), Checked: checked, Missing: missing.Load(), Seconds: time.Since(start).Seconds(), Examples: examples}
	if missing.Load() > 0 || checked < int64(len(fps)) {
		return rep, fmt.Errorf("check: %d of %d acknowledged fingerprints not retrievable, %d not checked in time", missing.Load(), len(fps), int64(len(fps))-checked)
	}
	return rep, nil
}

func (l *loader) read(ctx context.Context) (*report, error) {
	var seed atomic.Uint64
	res := l.workers(ctx, func(ctx context.Context, r *result) {
		rng := rand.New(rand.NewPCG(seed.Add(1), uint64(time.Now().UnixNano())))
		wait := time.NewTimer(0)
		for {
			k, ok := l.take(ctx)
			if !ok {
				return
			}
			var late time.Duration // open loop: from when request k was due
			if l.cfg.rate > 0 {
				due := l.began.Add(time.Duration(float64(k) * float64(time.Second) / l.cfg.rate))
				if d := time.Until(due); d > 0 {
					wait.Reset(d)
					select {
					case <-ctx.Done():
						return
					case <-wait.C:
					}
				}
				late = max(time.Since(due), 0)
			}
			f := fp(l.cfg.runID, l.cfg.start+rng.Uint64N(l.cfg.population))
			status, body, d := l.do(ctx, http.MethodGet, "/v1/fingerprints/"+f, nil, l.cfg.check)
			r.status[status]++
			if status == "200" {
				r.lat = append(r.lat, late+d)
				if l.cfg.check && !bytes.Contains(body, []byte(f)) {
					r.status["200-wrong-body"]++
				}
			}
		}
	})
	rep := l.summarize(res)
	if n := rep.Errors["200-wrong-body"]; n > 0 {
		return rep, fmt.Errorf("%d answers did not name the fingerprint asked for", n)
	}
	return rep, nil
}

// confirm submits one fingerprint per request at cfg.rate and polls each
// until its status is confirmed; the latency is 202 → first confirmed poll.
func (l *loader) confirm(ctx context.Context) (*report, error) {
	type job struct {
		f     string
		acked time.Time
	}
	jobs := make(chan job, 1<<16)
	var mu sync.Mutex
	res := newResult()
	var wg sync.WaitGroup
	for range l.cfg.conns {
		wg.Go(func() {
			for j := range jobs {
				for {
					status, body, _ := l.do(ctx, http.MethodGet, "/v1/fingerprints/"+j.f, nil, true)
					if status == "200" && bytes.Contains(body, []byte(`"status":"confirmed"`)) {
						d := time.Since(j.acked)
						mu.Lock()
						res.lat = append(res.lat, d)
						res.status["confirmed"]++
						mu.Unlock()
						break
					}
					if over(ctx) {
						mu.Lock()
						res.status["unconfirmed at the end"]++
						mu.Unlock()
						break
					}
					time.Sleep(l.cfg.poll)
				}
			}
		})
	}
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.cfg.rate))
	defer tick.Stop()
	sent := int64(0)
loop:
	for ; sent < l.cfg.requests; sent++ {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		f := fp(l.cfg.runID, l.cfg.start+uint64(sent))
		status, _, _ := l.do(ctx, http.MethodPost, "/v1/fingerprints", []byte(`{"fingerprints":["`+f+`"]}`), false)
		if status != "202" {
			mu.Lock()
			res.status["submit "+status]++
			mu.Unlock()
			continue
		}
		jobs <- job{f: f, acked: time.Now()}
	}
	close(jobs)
	wg.Wait()
	rep := l.summarizeAt([]*result{res}, time.Since(start), sent)
	if n := res.status["unconfirmed at the end"]; n > 0 {
		return rep, fmt.Errorf("%d fingerprints not confirmed within --duration", n)
	}
	return rep, nil
}

// workers runs fn on cfg.conns goroutines and returns their results.
func (l *loader) workers(ctx context.Context, fn func(context.Context, *result)) []*result {
	res := make([]*result, l.cfg.conns)
	var wg sync.WaitGroup
	l.began = time.Now()
	for i := range res {
		res[i] = newResult()
		wg.Go(func() { fn(ctx, res[i]) })
	}
	wg.Wait()
	l.ended = time.Now()
	return res
}

// do sends one request and returns its status ("202", or "conn" for a
// transport error), the body when keep is set, and the latency.
func (l *loader) do(ctx context.Context, method, path string, body []byte, keep bool) (string, []byte, time.Duration) {
	return l.doAs(ctx, method, path, "application/json", body, keep)
}

// doAs is do with the body's content type.
func (l *loader) doAs(ctx context.Context, method, path, contentType string, body []byte, keep bool) (string, []byte, time.Duration) {
	var hdrs []header
	if body != nil {
		hdrs = append(hdrs, header{"Content-Type", contentType})
	}
	if l.cfg.apiKey != "" && method == http.MethodPost {
		hdrs = append(hdrs, header{"Authorization", "Bearer " + l.cfg.apiKey})
	}
	start := time.Now()
	status, out, err := l.pool.do(ctx, method, path, hdrs, body, keep)
	d := time.Since(start)
	if err != nil {
		if over(ctx) {
			return "cancelled", nil, 0 // the run's bound, not an error
		}
		return "conn", nil, d
	}
	return strconv.Itoa(status), out, d
}

type checkReport struct {
	Acknowledged int64    `json:"acknowledged_fingerprints"`
	Checked      int64    `json:"checked"`
	Missing      int64    `json:"missing"`
	Seconds      float64  `json:"seconds"`
	Examples     []string `json:"examples,omitempty"`
}

type report struct {
	Mode       string           `json:"mode"`
	Target     string           `json:"target,omitempty"` // submit: attestd or tessera
	Conns      int              `json:"conns"`
	PerRequest int              `json:"per_request"`
	Rate       float64          `json:"rate,omitempty"` // read: the open loop's requests per second
	Requests   int64            `json:"requests"`       // answered with success
	Seconds    float64          `json:"seconds"`
	ReqPerSec  float64          `json:"req_per_s"`
	FPPerSec   float64          `json:"fps_per_s,omitempty"`
	P50ms      float64          `json:"p50_ms"`
	P90ms      float64          `json:"p90_ms"`
	P99ms      float64          `json:"p99_ms"`
	P999ms     float64          `json:"p999_ms"`
	Maxms      float64          `json:"max_ms"`
	Status     map[string]int64 `json:"status"`
	Errors     map[string]int64 `json:"errors"`
	Check      *checkReport     `json:"check,omitempty"`
	RunID      string           `json:"run_id"`
}

func (l *loader) summarize(res []*result) *report {
	return l.summarizeAt(res, l.ended.Sub(l.began), 0)
}

func (l *loader) summarizeAt(res []*result, elapsed time.Duration, _ int64) *report {
	var lat []time.Duration
	status := map[string]int64{}
	for _, r := range res {
		lat = append(lat, r.lat...)
		for k, v := range r.status {
			status[k] += v
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p*float64(len(lat))+0.5) - 1
		return ms(lat[min(max(i, 0), len(lat)-1)])
	}
	rep := &report{
		Mode: l.cfg.mode, Target: l.cfg.target, Conns: l.cfg.conns, PerRequest: l.cfg.per, Rate: l.cfg.rate, Requests: int64(len(lat)),
		Seconds: elapsed.Seconds(), Status: status, Errors: map[string]int64{}, RunID: l.cfg.runID,
		P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), P999ms: pct(0.999),
	}
	if len(lat) > 0 {
		rep.Maxms = ms(lat[len(lat)-1])
	}
	for k, v := range status {
		if k != "200" && k != "202" && k != "confirmed" && k != "cancelled" {
			rep.Errors[k] = v
		}
	}
	if s := elapsed.Seconds(); s > 0 {
		rep.ReqPerSec = float64(len(lat)) / s
		if l.cfg.mode == "submit" {
			rep.FPPerSec = rep.ReqPerSec * float64(l.cfg.per)
		}
	}
	return rep
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *report) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintf(w, "mode %s, run-id %s, %d conns, %d fps/request", r.Mode, r.RunID, r.Conns, r.PerRequest)
	if r.Target == targetTessera {
		fmt.Fprint(w, ", target Tessera (POST /add, 200 with the index)")
	}
	if r.Rate > 0 && r.Mode == "read" {
		fmt.Fprintf(w, ", open loop at %.0f req/s (latency from each request's due time)", r.Rate)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ok requests %d in %.2fs: %.0f req/s", r.Requests, r.Seconds, r.ReqPerSec)
	if r.FPPerSec > 0 {
		fmt.Fprintf(w, ", %.0f fps/s", r.FPPerSec)
	}
	fmt.Fprintf(w, "\nlatency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.Maxms)
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		fmt.Fprintln(w, "errors: none")
	}
	for _, k := range keys {
		fmt.Fprintf(w, "errors %s: %d\n", k, r.Errors[k])
	}
	if c := r.Check; c != nil {
		fmt.Fprintf(w, "check: %d acknowledged fingerprints, %d re-read in %.1fs, %d missing\n", c.Acknowledged, c.Checked, c.Seconds, c.Missing)
		for _, e := range c.Examples {
			fmt.Fprintln(w, "  missing:", e)
		}
	}
}
