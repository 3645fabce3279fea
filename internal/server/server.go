// Package server is attestd's HTTP API: the gin handlers for the interface
// generated from api/openapi.yaml, authentication of submitters, body
// limits and the mapping of errors to RFC 9457 problems.
package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/crashpoint"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/strictjson"
	"github.com/attestd/attestd/internal/trust"
	"github.com/attestd/attestd/internal/verify"
)

// Defaults for Config's zero values.
const (
	DefaultMaxBodyBytes  = 2 << 20 // api.MaxFingerprintsPerRequest (10,000) fingerprints as JSON are ~700 KB
	DefaultVerifyTimeout = 20 * time.Second
	DefaultHeaderTimeout = 5 * time.Second
	// POST /v1/verify is public and reads the chain: per client address,
	// DefaultVerifyRate requests a second with bursts of DefaultVerifyBurst,
	// in a table of at most DefaultVerifyClients addresses.
	DefaultVerifyRate    = 5.0
	DefaultVerifyBurst   = 30
	DefaultVerifyClients = 10_000
	// DefaultRatePerSecond submissions a second per institution with
	// bursts of DefaultRateBurst, and DefaultMaxPending fingerprints
	// waiting to be sealed before submissions are refused: internal/app
	// applies them to a zero Config (the server itself leaves a zero
	// limit unlimited).
	DefaultRatePerSecond = 50.0
	DefaultRateBurst     = 100
	DefaultMaxPending    = 5_000_000
	// DefaultVerifyRetryAfter is the Retry-After of a 503 from POST
	// /v1/verify when the chain endpoint did not answer.
	DefaultVerifyRetryAfter = 5 * time.Second
)

// Config configures the HTTP API.
type Config struct {
	Version       string
	MaxBodyBytes  int64         // 0 = DefaultMaxBodyBytes
	VerifyTimeout time.Duration // bound on chain reads per verify request; 0 = DefaultVerifyTimeout
	RatePerSecond float64       // submissions per second per institution; <= 0 = unlimited (internal/app: 0 = DefaultRatePerSecond)
	RateBurst     int           // bucket size for RatePerSecond; 0 = 1 (internal/app: 0 = DefaultRateBurst)
	MaxPending    int           // refuse submissions (503) whose new fingerprints would take the pending count past this; <= 0 = unlimited (internal/app: 0 = DefaultMaxPending)
	HeaderTimeout time.Duration // bound on reading request headers (slow clients); 0 = DefaultHeaderTimeout
	VerifyRate    float64       // POST /v1/verify requests per second per client address; 0 = DefaultVerifyRate, < 0 = unlimited
	VerifyBurst   int           // bucket size for VerifyRate; 0 = DefaultVerifyBurst
	VerifyClients int           // client addresses the verify limiter remembers; 0 = DefaultVerifyClients
	// StatusRefresh is how long GET /v1/status serves the status file it
	// made before it makes a new one; 0 = DefaultStatusRefresh, < 0 = a
	// new one for every request.
	StatusRefresh time.Duration
	// Now is the clock that stamps submissions' received times; nil =
	// time.Now (tests inject one).
	Now func() time.Time
}

// Keys authenticates submitters: it maps a presented API key to its
// institution (a slug: rate limits and the store's records are keyed by
// it) and an institution, however authenticated, to the name its receipts
// give (apikeys.ValidDisplayName: printable, one line; the slug itself
// when the keys file gives none).
type Keys interface {
	Institution(apiKey string) (string, bool)
	DisplayName(institution string) string
}

// Sealer is what the API needs of the batcher.
type Sealer interface {
	Deadline(received time.Time) time.Time
	Poke(pending int)
	Interval() time.Duration
	MaxSize() int
}

// Chain is one anchoring chain as the API presents it.
type Chain struct {
	ID            uint64
	Anchorer      common.Address
	Sink          common.Address
	Confirmations uint64
	Reader        verify.Chain // for POST /v1/verify
	// FirstBatch is the first batch anchored on the chain (0 or 1: all):
	// a chain added later is not waited for on the batches before it.
	FirstBatch uint64
	// Evidence: the chain evidence of confirmed anchors is collected on
	// this chain (anchor.Anchorer.CollectsEvidence); proofs of a chain
	// without say so (proof.NoEvidenceUnsupported).
	Evidence bool
}

// Deps are the parts the server uses.
type Deps struct {
	Store   Store
	Keys    Keys
	Signer  *receipt.Signer
	Sealer  Sealer
	Chains  []Chain
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Ready reports why the replica cannot take submissions (notReady: 503)
	// or works with reduced function (degraded: 200, e.g. anchoring failing).
	Ready func(ctx context.Context) (notReady, degraded []string)
}

// Server implements api.ServerInterface.
type Server struct {
	cfg Config
	Deps
	log      *slog.Logger
	chainIDs []uint64
	engine   *gin.Engine
	limits   *limiters
	// verifyLimits limits POST /v1/verify per client address; readers are
	// the chains' Readers behind a cache, by chain ID.
	verifyLimits *clientLimiters
	readers      map[uint64]verify.Chain
	evidence     map[uint64]bool // chains whose anchors get chain evidence

	// attestd_fingerprints_received_total's two series, looked up once.
	received struct{ new, duplicate prometheus.Counter }

	// The status file GET /v1/status served last, and when it was made.
	statusMu   sync.Mutex
	statusBody []byte
	statusAt   time.Time
}

var _ api.ServerInterface = (*Server)(nil)

// New builds the server and its routes.
func New(cfg Config, d Deps) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.VerifyTimeout == 0 {
		cfg.VerifyTimeout = DefaultVerifyTimeout
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.VerifyRate == 0 {
		cfg.VerifyRate = DefaultVerifyRate
	}
	if cfg.VerifyBurst == 0 {
		cfg.VerifyBurst = DefaultVerifyBurst
	}
	if cfg.VerifyClients == 0 {
		cfg.VerifyClients = DefaultVerifyClients
	}
	if cfg.StatusRefresh == 0 {
		cfg.StatusRefresh = DefaultStatusRefresh
	}
	s := &Server{cfg: cfg, Deps: d, log: d.Log, limits: newLimiters(cfg.RatePerSecond, cfg.RateBurst),
		verifyLimits: newClientLimiters(cfg.VerifyRate, cfg.VerifyBurst, cfg.VerifyClients),
		readers:      map[uint64]verify.Chain{}, evidence: map[uint64]bool{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.received.new = d.Metrics.Received.WithLabelValues("new")
	s.received.duplicate = d.Metrics.Received.WithLabelValues("duplicate")
	for _, c := range d.Chains {
		s.chainIDs = append(s.chainIDs, c.ID)
		s.evidence[c.ID] = c.Evidence
		if c.Reader != nil {
			s.readers[c.ID] = verify.NewCachedChain(c.Reader, 0)
		}
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false // "/v1/info/" is a 404 problem, not a 301 with an HTML body
	e.RedirectFixedPath = false
	e.Use(s.recoverer, s.observe, s.limitHeaders)
	e.NoRoute(func(c *gin.Context) { s.problem(c, errNotFoundPath) })
	e.NoMethod(func(c *gin.Context) { s.problem(c, errMethod) })
	api.RegisterHandlersWithOptions(e, s, api.GinServerOptions{
		Middlewares:  []api.MiddlewareFunc{s.authenticate},
		ErrorHandler: s.paramError,
	})
	s.engine = e
	return s
}

// Handler is the API with the body limit applied.
func (s *Server) Handler() http.Handler {
	return http.MaxBytesHandler(s.engine, s.cfg.MaxBodyBytes)
}

// HTTPServer wraps Handler with all four timeouts set.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		ReadTimeout:       s.cfg.HeaderTimeout + 25*time.Second,
		WriteTimeout:      s.cfg.VerifyTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    HardMaxHeaderBytes, // limitHeaders answers (problem+json) well below it
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.problem(c, fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// observe records the latency of every request by route template, with
// every label from a fixed set (see metrics.ObserveHTTP).
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	s.Metrics.ObserveHTTP(c.FullPath(), c.Request.Method, c.Writer.Status(), time.Since(start))
}

const institutionKey = "attestd.institution"

// authenticate requires a valid bearer key on the operations the spec
// marks with bearerAuth, and leaves every other operation public.
func (s *Server) authenticate(c *gin.Context) {
	if _, secured := c.Get(string(api.BearerAuthScopes)); !secured {
		return
	}
	// mTLS: a client certificate verified against the configured client CA
	// names the institution in its subject CommonName.
	if tls := c.Request.TLS; tls != nil && len(tls.VerifiedChains) > 0 && c.GetHeader("Authorization") == "" {
		if cn := tls.VerifiedChains[0][0].Subject.CommonName; apikeys.ValidInstitution(cn) {
			c.Set(institutionKey, cn)
			return
		}
		s.problem(c, fmt.Errorf("%w: the client certificate's CommonName is not a valid institution name", ErrUnauthorized))
		return
	}
	// The scheme is case-insensitive (RFC 9110, section 11.1).
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		s.problem(c, fmt.Errorf("%w: send Authorization: Bearer <api key>", ErrUnauthorized))
		return
	}
	inst, ok := s.Keys.Institution(token)
	if !ok {
		s.problem(c, fmt.Errorf("%w: unknown API key", ErrUnauthorized))
		return
	}
	c.Set(institutionKey, inst)
}

// decode reads a JSON body strictly into v.
func decode(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return err // *http.MaxBytesError when over the limit
	}
	return decodeBody(body, v)
}

// decodeBody decodes body into v with internal/strictjson: duplicate or
// case-variant member names, unknown fields, trailing data and invalid
// UTF-8 are a 400 naming the member.
func decodeBody(body []byte, v any) error {
	if err := strictjson.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: malformed JSON body: %w", ErrBadRequest, err)
	}
	return nil
}

// SubmitFingerprints implements POST /v1/fingerprints.
func (s *Server) SubmitFingerprints(c *gin.Context) {
	body, err := readBody(c, s.cfg.MaxBodyBytes)
	if err != nil {
		s.problem(c, err)
		return
	}
	fps, err := decodeSubmit(body.Bytes())
	putBuffer(body)
	if err != nil {
		s.problem(c, err)
		return
	}
	n := len(fps)
	if n == 0 || n > api.MaxFingerprintsPerRequest {
		s.problem(c, fmt.Errorf("%w: send 1 to %d fingerprints, got %d", ErrBadRequest, api.MaxFingerprintsPerRequest, n))
		return
	}
	inst := c.GetString(institutionKey)
	if err := s.limits.allow(inst); err != nil {
		s.problem(c, err)
		return
	}
	ctx := c.Request.Context()
	now := s.cfg.Now().UTC()
	subs := make([]store.Submission, n)
	for i, fp := range fps {
		if fp.IsZero() {
			// No document hashes to it, and proof bundles refuse it
			// (all-zero is what a missing value decodes to): anchoring
			// it would promise a proof that can never verify.
			s.problem(c, fmt.Errorf("%w: fingerprints[%d]: the all-zero fingerprint is refused (it is no document's SHA-256, and its proof could never verify)", ErrBadRequest, i))
			return
		}
		subs[i] = store.Submission{Fingerprint: fp, Institution: inst, ReceivedAt: now}
	}
	// The store refuses (store.ErrFull: 503) what would take the pending
	// count past MaxPending, atomically, across replicas too.
	records, pending, err := s.Store.Submit(ctx, subs, s.cfg.MaxPending)
	if err != nil {
		s.problem(c, err)
		return
	}
	crashpoint.Hit(crashpoint.Acknowledged)
	// Each receipt states this institution's own record: its first
	// submission of the fingerprint, never another institution's time.
	// Whether the fingerprint was new to the store (New) goes only into the
	// global metrics, never into the response.
	fresh := 0
	name := s.Keys.DisplayName(inst) // the receipts' name for it; never in a public answer
	facts := make([]receipt.Facts, n)
	for i, r := range records {
		if r.New { // a new fingerprint listed twice is New once
			fresh++
		}
		facts[i] = receipt.Facts{Fingerprint: r.Fingerprint, Institution: name, ReceivedAt: r.ReceivedAt, Deadline: s.Sealer.Deadline(r.ReceivedAt)}
	}
	receipts, err := s.Signer.Sign(facts...) // one signature for the request, or for many
	if err != nil {
		s.problem(c, err)
		return
	}
	s.received.new.Add(float64(fresh))
	s.received.duplicate.Add(float64(n - fresh))
	s.Sealer.Poke(pending) // a full batch wakes the sealer
	writeReceipts(c, http.StatusAccepted, receipts)
}

// GetFingerprint implements GET /v1/fingerprints/{fingerprint}, with the
// statements that supersede or withdraw the record. It never reveals who
// submitted the fingerprint or made a statement.
func (s *Server) GetFingerprint(c *gin.Context, text api.FingerprintPath) {
	fp, err := fingerprint.Parse(text)
	if err != nil {
		s.problem(c, err)
		return
	}
	p, err := s.Store.Proof(c.Request.Context(), fp)
	if err != nil {
		s.problem(c, err)
		return
	}
	// fp.String(), not text: the request may spell it in upper case or
	// with "sha256:"; the answer always says it in lowercase.
	st := api.FingerprintStatus{Fingerprint: fp.String(), Status: api.Status(store.StatusPending)}
	if !p.Entry.Pending() {
		id := int64(p.Batch.ID)
		var ids [8]uint64
		chainIDs := s.chainsFor(ids[:0], p.Batch.ID)
		st.BatchID, st.Status, st.Proof = &id, api.Status(p.Batch.Status(chainIDs)), s.bundle(p)
		var chains [8]api.ChainProgress // most services anchor on a few chains: no allocation
		st.Chains = chainProgress(chains[:0], p.Batch, chainIDs)
	}
	if len(p.Statements) > 0 {
		if err := s.addStatements(c.Request.Context(), &st, p.Statements); err != nil {
			s.problem(c, err)
			return
		}
	}
	buf := statusBufs.Get().(*[]byte)
	*buf = appendStatus((*buf)[:0], &st)
	c.Header("Content-Length", strconv.Itoa(len(*buf)))
	c.Data(http.StatusOK, "application/json; charset=utf-8", *buf)
	statusBufs.Put(buf) // the response writer copied it
}

// chainsFor appends to dst the configured chains that anchor batch id, in
// order: all but those added after it (Chain.FirstBatch).
func (s *Server) chainsFor(dst []uint64, id uint64) []uint64 {
	for _, c := range s.Chains {
		if c.FirstBatch <= id {
			dst = append(dst, c.ID)
		}
	}
	return dst
}

// chainProgress appends each chain's progress with batch b, in the order
// of chainIDs (the configured chains).
func chainProgress(dst []api.ChainProgress, b store.Batch, chainIDs []uint64) []api.ChainProgress {
	for _, id := range chainIDs {
		c := api.ChainProgress{ChainID: int64(id), Status: api.Status(store.StatusSealed)}
		if a, ok := b.Anchor(id); ok {
			tx := a.TxHash.Hex()
			c.TxHash = &tx
			switch a.State {
			case store.AnchorMined:
				c.Status = api.Status(store.StatusAnchored)
			case store.AnchorConfirmed:
				c.Status = api.Status(store.StatusConfirmed)
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// statusBufs holds the buffers of GetFingerprint's bodies (about 2 KiB).
var statusBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// bundle assembles the proof bundle of p, with its batch's mined anchors on
// the configured chains; nil while none is mined.
func (s *Server) bundle(p store.Proof) *proof.Bundle {
	var anchors []proof.Anchor
	for _, id := range s.chainIDs {
		a, ok := p.Batch.Anchor(id)
		if !ok || a.State == store.AnchorSigned {
			continue
		}
		pa := proof.Anchor{
			ChainID: a.ChainID, TxHash: a.TxHash, BlockNumber: a.BlockNumber, BlockHash: a.BlockHash, Anchorer: a.From,
		}
		// The evidence is stored once per batch and chain, as the JSON a
		// bundle carries: it is written into every bundle as it is.
		switch {
		case a.State == store.AnchorConfirmed && len(a.Evidence) > 0:
			pa.Evidence = a.Evidence
		case !s.evidence[id]:
			pa.NoEvidence = proof.NoEvidenceUnsupported
		default:
			pa.NoEvidence = proof.NoEvidencePending
		}
		anchors = append(anchors, pa)
	}
	if len(anchors) == 0 {
		return nil
	}
	path := make([]proof.Hash, len(p.Path))
	for i, n := range p.Path {
		path[i] = n
	}
	return &proof.Bundle{
		Version: proof.Version, Fingerprint: p.Entry.Fingerprint, BatchID: p.Batch.ID,
		Index: p.Entry.Index, Size: p.Batch.Size, Root: p.Batch.Root, Path: path, Anchors: anchors,
	}
}

// requirePolicy sets p's Require and RequiredChains from the request's
// require (all, any, or chain ids) or its older required_chains.
func requirePolicy(req *api.VerifyRequest, p *verify.Policy) error {
	ids, field := req.RequiredChains, "required_chains"
	if req.Require != nil {
		field = "require"
		if len(req.RequiredChains) > 0 {
			return fmt.Errorf("%w: give require or required_chains, not both", ErrBadRequest)
		}
		if mode, err := req.Require.AsVerifyRequestRequire0(); err == nil {
			switch mode {
			case api.VerifyRequestRequire0All:
				p.Require = verify.RequireAll
			case api.VerifyRequestRequire0Any:
				p.Require = verify.RequireAny
			default:
				return fmt.Errorf("%w: require is %q; want \"all\", \"any\" or a list of chain ids", ErrBadRequest, mode)
			}
			return nil
		}
		var err error
		if ids, err = req.Require.AsVerifyRequestRequire1(); err != nil || len(ids) == 0 {
			return fmt.Errorf("%w: require must be \"all\", \"any\" or a non-empty list of chain ids", ErrBadRequest)
		}
	}
	for _, id := range ids {
		if id <= 0 {
			return fmt.Errorf("%w: %s holds %d", ErrBadRequest, field, id)
		}
		if !slices.Contains(p.RequiredChains, uint64(id)) {
			p.RequiredChains = append(p.RequiredChains, uint64(id))
		}
	}
	return nil
}

// VerifyProof implements POST /v1/verify, checking against this server's
// own chain endpoints and its own anchoring addresses as pins.
func (s *Server) VerifyProof(c *gin.Context) {
	if err := s.verifyLimits.allow(c.Request.RemoteAddr); err != nil {
		s.problem(c, err)
		return
	}
	var req api.VerifyRequest
	if err := decode(c, &req); err != nil {
		s.problem(c, err)
		return
	}
	// decode read the bundle with proof's own types, as strictly as
	// proof.Parse does; Check adds proof.Parse's checks of its form.
	b := &req.Bundle
	if err := b.Check(); err != nil {
		s.problem(c, err)
		return
	}
	var doc *fingerprint.Fingerprint
	if req.Fingerprint != nil {
		fp, err := fingerprint.Parse(*req.Fingerprint)
		if err != nil {
			s.problem(c, err)
			return
		}
		doc = &fp
	}
	p := verify.Policy{Anchorers: map[uint64]common.Address{}}
	chains := map[uint64]verify.Chain{}
	for _, ch := range s.Chains {
		if r, ok := s.readers[ch.ID]; ok {
			chains[ch.ID] = r
		}
		p.Anchorers[ch.ID] = ch.Anchorer
	}
	var list *trust.List
	if req.Trust != nil {
		if len(*req.Trust) > MaxVerifyTrustBytes {
			s.problem(c, fmt.Errorf("%w: the trust list is %d bytes of JSON, at most %d here", ErrBadRequest, len(*req.Trust), MaxVerifyTrustBytes))
			return
		}
		l, err := trust.Parse(*req.Trust)
		if err != nil {
			s.problem(c, fmt.Errorf("%w: trust: %w", ErrBadRequest, err))
			return
		}
		list, p.Issuers, p.Anchorers = l, l, nil
	}
	if err := requirePolicy(&req, &p); err != nil {
		s.problem(c, err)
		return
	}
	if req.MinConfirmations != nil {
		if *req.MinConfirmations < 1 {
			s.problem(c, fmt.Errorf("%w: min_confirmations must be at least 1", ErrBadRequest))
			return
		}
		p.MinConfirmations = uint64(*req.MinConfirmations)
	} else {
		// Absent, each chain's configured confirmations apply (the spec).
		// Policy holds one number: take the largest among the chains to
		// be checked (exact for one chain, stricter otherwise).
		for _, ch := range s.Chains {
			_, anchored := b.Anchor(ch.ID)
			checked := len(p.RequiredChains) == 0 && anchored
			for _, id := range p.RequiredChains {
				checked = checked || id == ch.ID
			}
			if checked {
				p.MinConfirmations = max(p.MinConfirmations, ch.Confirmations)
			}
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.VerifyTimeout)
	defer cancel()
	res := verify.Verify(ctx, b, doc, chains, p)
	if res.Verdict == verify.VerdictUndecided && res.Unavailable() {
		// Our own endpoint failed us: that is no answer about the proof.
		var names []string
		for _, ch := range res.Checks {
			if ch.State == verify.StateUndecided && ch.Unavailable {
				names = append(names, ch.Name)
				s.log.WarnContext(c.Request.Context(), "verify could not read the chain", "check", ch.Name, "detail", ch.Detail)
			}
		}
		s.Metrics.VerifyResults.WithLabelValues(string(verify.VerdictUndecided)).Inc()
		s.problem(c, &retryAfter{
			err:   fmt.Errorf("%w: the chain endpoint for %s did not answer; nothing was found false; retry later", ErrUndecided, strings.Join(names, ", ")),
			after: DefaultVerifyRetryAfter,
		})
		return
	}
	if req.Receipt != nil {
		res.Add(s.receiptCheck(*req.Receipt, b, list, res.Issuer))
	}
	out := api.VerifyResult{Verdict: api.VerifyResultVerdict(res.Verdict), Valid: res.Valid, Checks: make([]api.VerifyCheck, len(res.Checks))}
	for i, ch := range res.Checks {
		out.Checks[i] = api.VerifyCheck{Name: ch.Name, Ok: ch.OK, State: api.VerifyCheckState(ch.State)}
		if ch.Optional {
			out.Checks[i].Optional = &ch.Optional
		}
		if ch.Unavailable { // the endpoint's error names the endpoint: log it, do not show it
			s.log.WarnContext(c.Request.Context(), "verify could not read the chain", "check", ch.Name, "detail", ch.Detail)
			ch.Detail = "could not check: this server's chain endpoint did not answer"
		}
		if ch.Detail != "" {
			d := ch.Detail
			out.Checks[i].Detail = &d
		}
	}
	if res.Valid {
		t := res.AttestedAt
		out.AttestedAt = &t
		if list != nil && res.Issuer != "" {
			if e := list.Find(res.Issuer); e != nil {
				out.Issuer = &api.VerifiedIssuer{Name: e.Name, Jurisdiction: e.Jurisdiction}
			}
		}
	}
	s.Metrics.VerifyResults.WithLabelValues(string(res.Verdict)).Inc()
	c.JSON(http.StatusOK, out)
}

// GetBatch implements GET /v1/batches/{id}.
func (s *Server) GetBatch(c *gin.Context, id api.BatchIDPath) {
	if id < 1 {
		s.problem(c, fmt.Errorf("%w: batch ids start at 1", ErrBadRequest))
		return
	}
	b, err := s.Store.Batch(c.Request.Context(), uint64(id))
	if err != nil {
		s.problem(c, err)
		return
	}
	out := api.Batch{
		ID: int64(b.ID), Size: int64(b.Size), Root: fmt.Sprintf("%x", b.Root),
		Status: api.Status(b.Status(s.chainsFor(nil, b.ID))), SealedAt: b.SealedAt, Anchors: []api.AnchorStatus{},
	}
	for _, a := range b.Anchors {
		st := api.AnchorStatus{
			ChainID: int64(a.ChainID), TxHash: a.TxHash.Hex(), Anchorer: a.From.Hex(), State: api.AnchorState(a.State),
		}
		if a.State != store.AnchorSigned {
			n, h := int64(a.BlockNumber), a.BlockHash.Hex()
			st.BlockNumber, st.BlockHash = &n, &h
		}
		out.Anchors = append(out.Anchors, st)
	}
	c.JSON(http.StatusOK, out)
}

// MaxVerifyTrustBytes bounds the trust list a POST /v1/verify may carry
// (a list of a hundred or so issuers; its checks are quadratic in them).
const MaxVerifyTrustBytes = 64 << 10

// receiptCheck checks a receipt sent with POST /v1/verify: it must be for
// the bundle's fingerprint and signed by the issuer's key valid at its
// received time — a key of the caller's trust list when there is one,
// else one of this server's own keys.
func (s *Server) receiptCheck(r receipt.Receipt, b *proof.Bundle, list *trust.List, anchoredBy string) verify.Check {
	c := verify.Check{Name: verify.CheckReceipt}
	if r.Fingerprint != b.Fingerprint {
		c.State, c.Detail = verify.StateFailed, "the receipt is for another fingerprint than the proof"
		return c
	}
	if list != nil {
		return list.ReceiptCheck(r, anchoredBy)
	}
	for _, k := range s.Signer.Keyring().Keys() {
		if k.ID() != r.KeyID {
			continue
		}
		received := r.ReceivedAt.UTC().Format(time.RFC3339)
		switch err := receipt.Verify(r, k.Public()); {
		case err != nil:
			c.State, c.Detail = verify.StateFailed, "the receipt is not validly signed by this server's key "+k.ID()
		case !k.ValidAt(r.ReceivedAt):
			c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt is dated %s, outside the period of this server's key %s", received, k.ID())
		default:
			c.State, c.Detail = verify.StateOK, fmt.Sprintf("signed by this server's receipt key %s, received %s", k.ID(), received)
		}
		return c
	}
	c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt names key %s, which is not one of this server's receipt keys", r.KeyID)
	return c
}

// GetInfo implements GET /v1/info: what a verifier needs to pin.
func (s *Server) GetInfo(c *gin.Context) {
	out := api.Info{
		Version: s.cfg.Version, ProofFormat: proof.Version,
		ReceiptKeys:          []api.ReceiptKey{},
		Chains:               []api.ChainInfo{},
		BatchIntervalSeconds: s.Sealer.Interval().Seconds(),
		MaxBatchSize:         int64(s.Sealer.MaxSize()),
	}
	for _, k := range s.Signer.Keyring().Keys() {
		rk := api.ReceiptKey{KeyID: k.ID(), Algorithm: "ed25519", PublicKey: k.Public()}
		if !k.ValidFrom.IsZero() {
			rk.ValidFrom = &k.ValidFrom
		}
		if !k.ValidUntil.IsZero() {
			rk.ValidUntil = &k.ValidUntil
		}
		out.ReceiptKeys = append(out.ReceiptKeys, rk)
	}
	for _, ch := range s.Chains {
		out.Chains = append(out.Chains, api.ChainInfo{
			ChainID: int64(ch.ID), Anchorer: ch.Anchorer.Hex(), Sink: ch.Sink.Hex(), Confirmations: int64(ch.Confirmations),
			Evidence: ch.Evidence,
		})
	}
	c.JSON(http.StatusOK, out)
}

// GetHealth implements GET /healthz: the process is alive.
func (s *Server) GetHealth(c *gin.Context) {
	c.JSON(http.StatusOK, api.Health{Status: "ok"})
}

// GetReady implements GET /readyz.
func (s *Server) GetReady(c *gin.Context) {
	var notReady, degraded []string
	if s.Ready != nil {
		notReady, degraded = s.Ready(c.Request.Context())
	}
	switch {
	case len(notReady) > 0:
		c.JSON(http.StatusServiceUnavailable, api.Readiness{Status: api.ReadinessStatusNotReady, Reasons: append(notReady, degraded...)})
	case len(degraded) > 0:
		c.JSON(http.StatusOK, api.Readiness{Status: api.ReadinessStatusDegraded, Reasons: degraded})
	default:
		c.JSON(http.StatusOK, api.Readiness{Status: api.ReadinessStatusReady})
	}
}

// GetMetrics implements GET /metrics from the private registry.
func (s *Server) GetMetrics(c *gin.Context) {
	promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Writer, c.Request)
}
