// Package anchor puts sealed batch roots on an EVM chain and follows each
// transaction until it has the configured confirmations.
//
// One Anchorer serves one chain. For every batch it signs one EIP-1559
// transaction whose calldata is the versioned payload (proof.Payload), and
// persists the signed raw transaction before the first broadcast: after a
// crash the same transaction is re-broadcast, so a batch is never anchored
// twice. A mined anchor whose receipt disappears or moves (a reorg) goes
// back to "signed" and the same transaction is broadcast again.
//
// anchor.go holds the configuration and the step loop, tx.go the
// transaction life cycle, follow.go the chain follower.
package anchor

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
)

// Client is what the anchorer needs from a JSON-RPC endpoint.
// *ethclient.Client and the simulated backend's client satisfy it.
type Client interface {
	ChainID(ctx context.Context) (*big.Int, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error) // attestd_anchor_balance_wei
	NonceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	BlockByNumber(ctx context.Context, number *big.Int) (*types.Block, error) // Scan reads the account's own transactions
	EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// Store is what the anchorer needs of the store. Every store.Store backend
// implements it (see store.Store for the full contract); the anchorer
// relies on this much of it:
//
//   - PutAnchor is durable when it returns nil. The anchorer writes the
//     signed raw transaction before its first broadcast, so after a crash
//     it re-broadcasts the same transaction instead of anchoring twice.
//   - PutAnchor is a compare-and-swap on the record's state: prev is the
//     state the anchorer last read ("" for a new record), and any other
//     stored state refuses the write with store.ErrConflict; a replica
//     that lost the leader lease is refused with store.ErrFenced. Nothing
//     is written then, and the anchorer's next step reads afresh.
//   - Unconfirmed returns, ascending by ID, the batches whose anchor on
//     the chain is missing or not yet confirmed, each with its anchor
//     records; a batch leaves the list once PutAnchor wrote it confirmed.
//   - Batch IDs are dense (1 … n, in sealing order): LatestBatch says n,
//     and Batches returns those after an ID in ascending order. The
//     anchorer finds the newest batches after a restart that way.
//   - The methods are safe for concurrent use with the sealer and the
//     API, and with the anchorers of other chains on the same store.
type Store interface {
	Unconfirmed(ctx context.Context, chainID uint64, limit int) ([]store.Batch, error)
	PutAnchor(ctx context.Context, a store.Anchor, prev store.AnchorState) error
	LatestBatch(ctx context.Context) (uint64, error)
	Batches(ctx context.Context, after uint64, limit int) ([]store.Batch, error)
}

// The store layer's contract implements the anchorer's: a change of either
// that breaks this breaks the build here.
var _ Store = store.Store(nil)

// Defaults for Config's zero values.
const (
	DefaultConfirmations    = 12
	DefaultPollInterval     = time.Second // what serve and the Helm chart have always used
	DefaultRebroadcastAfter = 30 * time.Second
	DefaultBatchLimit       = 64
	DefaultStuckAfter       = 3 * time.Minute
	DefaultReorgWindow      = 128
	DefaultBalanceInterval  = time.Minute
	// MaxBackoff bounds the wait between failing steps (it doubles from
	// PollInterval on each consecutive failure).
	MaxBackoff = time.Minute
)

// DefaultMaxFeePerGas caps the fee per gas (500 gwei) unless configured.
var DefaultMaxFeePerGas = big.NewInt(500_000_000_000)

// Config configures one chain's anchorer.
type Config struct {
	Key              *ecdsa.PrivateKey // the anchoring account; required
	ChainID          uint64            // the chain to anchor on; 0 = ask the endpoint at New. When set, New needs no endpoint and every step refuses an endpoint serving another chain
	Sink             common.Address    // recipient of anchor txs; zero = the anchoring account itself
	Confirmations    uint64            // blocks on top of and including the anchor's; 0 = DefaultConfirmations
	MaxFeePerGas     *big.Int          // cap on the fee per gas; nil = DefaultMaxFeePerGas
	PollInterval     time.Duration     // how often to look at the chain; 0 = DefaultPollInterval
	RebroadcastAfter time.Duration     // re-send a signed tx not mined after this long; 0 = DefaultRebroadcastAfter
	AnchorWithin     time.Duration     // promised bound from sealing to mined; later counts in attestd_deadline_missed_total{stage="anchor"}; 0 = no check
	StuckAfter       time.Duration     // replace a tx not mined after this long with a fee bump on the same nonce (up to MaxFeePerGas); 0 = DefaultStuckAfter
	ReorgWindow      uint64            // blocks past confirmation during which confirmed anchors are re-checked for deep reorgs; 0 = DefaultReorgWindow
	BatchLimit       int               // unconfirmed batches handled per step; 0 = DefaultBatchLimit
	BalanceInterval  time.Duration     // how often the anchoring account's balance is read for attestd_anchor_balance_wei (and after each mined anchor); 0 = DefaultBalanceInterval
	// ReceiptDeadline is the receipts' promise counted from sealing: the
	// batch interval plus the service's anchoring allowance. A batch not
	// confirmed here that long after it was sealed has every receipt past
	// its deadline; its fingerprints count in attestd_receipts_overdue.
	// 0: not counted.
	ReceiptDeadline time.Duration
	// ScanDepth bounds the blocks Scan reads back from the head at start
	// looking for this account's anchors that the store lost (a restored
	// backup); 0 = DefaultScanDepth.
	ScanDepth uint64
	// FirstBatch is the first batch this chain anchors (a chain added to a
	// service with history); the batches before it are never anchored
	// here. 0 or 1: every batch.
	FirstBatch uint64
	// Evidence is the endpoint the chain evidence of confirmed anchors is
	// read from (internal/evidence; usually the anchoring client itself).
	// When set, each anchor, once confirmed, gets its evidence at the
	// confirmation depth, written to its record; a failure is retried on
	// later steps while the anchor is within ReorgWindow, counted in
	// attestd_evidence_failures_total and never holds up anchoring. nil:
	// no evidence is collected (a chain whose block hashes go-ethereum
	// cannot reproduce, see evidence.CheckHeaderHash).
	Evidence evidence.Client
}

// LogValue keeps the key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("anchorer", crypto.PubkeyToAddress(c.Key.PublicKey).Hex()),
		slog.String("sink", c.Sink.Hex()),
		slog.Uint64("confirmations", c.Confirmations),
	)
}

func (c *Config) setDefaults() {
	if c.Confirmations == 0 {
		c.Confirmations = DefaultConfirmations
	}
	if c.MaxFeePerGas == nil {
		c.MaxFeePerGas = DefaultMaxFeePerGas
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.RebroadcastAfter == 0 {
		c.RebroadcastAfter = DefaultRebroadcastAfter
	}
	if c.BatchLimit == 0 {
		c.BatchLimit = DefaultBatchLimit
	}
	if c.StuckAfter == 0 {
		c.StuckAfter = DefaultStuckAfter
	}
	if c.ScanDepth == 0 {
		c.ScanDepth = DefaultScanDepth
	}
	if c.ReorgWindow == 0 {
		c.ReorgWindow = DefaultReorgWindow
	}
	if c.BalanceInterval == 0 {
		c.BalanceInterval = DefaultBalanceInterval
	}
}

// Anchorer anchors batches on one chain. Run it in one goroutine; Wake and
// the accessors are safe to call from others.
type Anchorer struct {
	cfg     Config
	client  Client
	store   Store
	m       *metrics.Metrics
	log     *slog.Logger
	chainID *big.Int
	label   string // chain ID as a metric label
	from    common.Address
	to      common.Address
	signer  types.Signer
	wake    chan struct{}
	now     func() time.Time

	nonce      uint64 // next nonce to use, valid when nonceKnown
	nonceKnown bool
	chainOK    bool // the endpoint was seen to serve chainID
	// recent holds anchors confirmed by this anchorer, re-checked until
	// ReorgWindow blocks past their block: a reorg deeper than the
	// confirmation depth sends them back to anchoring.
	recent       []recentAnchor
	recentLoaded bool // recent was seeded from the store (after a restart)
	// settledUpTo (with FirstBatch): every batch up to it is confirmed
	// here beyond the reorg window, so the scan for work starts after it.
	settledUpTo uint64
	headNumber  uint64 // the newest block seen (0: none yet)
	// balanceAt is when the account's balance was last read; zero (after
	// a mined anchor, which paid a fee) reads it on the next step.
	balanceAt time.Time

	lastErr atomic.Pointer[error] // the last step's error; nil after a clean step
}

// ErrWrongChain: the endpoint serves another chain than the configured one.
var ErrWrongChain = errors.New("the endpoint serves another chain")

type recentAnchor struct {
	rec      store.Anchor
	sealedAt time.Time
	// evidenceLogged: a failure to collect its evidence was logged (once
	// per batch and process; every failure is counted).
	evidenceLogged bool
}

// New returns an anchorer for cfg.ChainID, or, when that is 0, for the
// chain the endpoint says it serves.
func New(ctx context.Context, cfg Config, client Client, st Store, m *metrics.Metrics, log *slog.Logger) (*Anchorer, error) {
	if cfg.Key == nil {
		return nil, errors.New("anchor: no anchoring key configured")
	}
	cfg.setDefaults()
	id := new(big.Int).SetUint64(cfg.ChainID)
	if cfg.ChainID == 0 {
		var err error
		if id, err = client.ChainID(ctx); err != nil {
			return nil, fmt.Errorf("anchor: asking the endpoint for its chain ID (set the chain ID to start while it is down): %w", err)
		}
	}
	from := crypto.PubkeyToAddress(cfg.Key.PublicKey)
	to := cfg.Sink
	if to == (common.Address{}) {
		to = from
	}
	if log == nil {
		log = slog.Default()
	}
	return &Anchorer{
		cfg: cfg, client: client, store: st, m: m,
		log:     log.With("chain", id.Uint64()),
		chainID: id, label: strconv.FormatUint(id.Uint64(), 10),
		from: from, to: to,
		signer: types.LatestSignerForChainID(id),
		wake:   make(chan struct{}, 1),
		now:    time.Now,
	}, nil
}

// ChainID is the chain this anchorer writes to.
func (a *Anchorer) ChainID() uint64 { return a.chainID.Uint64() }

// Address is the anchoring account.
func (a *Anchorer) Address() common.Address { return a.from }

// Sink is where anchor transactions are sent.
func (a *Anchorer) Sink() common.Address { return a.to }

// Confirmations is the depth at which an anchor counts as confirmed.
func (a *Anchorer) Confirmations() uint64 { return a.cfg.Confirmations }

// CollectsEvidence reports whether confirmed anchors get their chain
// evidence (Config.Evidence is set).
func (a *Anchorer) CollectsEvidence() bool { return a.cfg.Evidence != nil }

// Wake asks Run for a step now (e.g. right after a batch was sealed).
func (a *Anchorer) Wake() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Err is the error of the last step, nil if it succeeded: readiness and
// operators see a failing chain endpoint here.
func (a *Anchorer) Err() error {
	if p := a.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Run steps until ctx is done. Errors are logged and retried on the next
// poll; anchoring state is always persisted, so stopping at any point
// leaves it resumable. When it returns (the replica stops leading, or
// shuts down) the gauges only the anchoring replica exports are removed,
// so that a stale value of a former leader never hides the current one's.
func (a *Anchorer) Run(ctx context.Context) error {
	defer a.forget()
	wait := a.cfg.PollInterval
	for {
		err := a.Step(ctx)
		if err != nil && ctx.Err() == nil {
			wait = min(2*wait, MaxBackoff)
			a.log.WarnContext(ctx, "anchoring step failed; will retry", "err", err, "retry_in", wait)
			a.lastErr.Store(&err)
		} else if err == nil {
			wait = a.cfg.PollInterval
			a.lastErr.Store(nil)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-a.wake:
			t.Stop()
		}
	}
}

// Step makes one pass over the batches not yet confirmed on this chain:
// it signs, persists and broadcasts an anchor for batches that have none,
// re-broadcasts signed ones that are not mined, records mined ones, and
// marks confirmed ones; reorged anchors go back to signed.
//
// A step that fails counts once in attestd_anchor_failed_total, under the
// reason of the failure it returns (rpc when none was named).
func (a *Anchorer) Step(ctx context.Context) error {
	err := a.step(ctx)
	if err != nil && ctx.Err() == nil {
		reason := metrics.ReasonRPC
		var f *failure
		if errors.As(err, &f) {
			reason = f.reason
		}
		a.m.AnchorFailed.WithLabelValues(a.label, reason).Inc()
	}
	return err
}

// failure is an error with the reason it counts under in
// attestd_anchor_failed_total.
type failure struct {
	reason string // one of the metrics.Reason* values
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// fail tags err with the reason a failed step counts under.
func fail(reason string, err error) error { return &failure{reason: reason, err: err} }

// forget removes this chain's series of the gauges only the anchoring
// replica exports.
func (a *Anchorer) forget() {
	a.m.AnchorBalance.DeleteLabelValues(a.label)
	a.m.ChainHeadTime.DeleteLabelValues(a.label)
	a.m.ReceiptsOverdue.DeleteLabelValues(a.label)
}

func (a *Anchorer) step(ctx context.Context) error {
	// The store first: receipts past their deadline are counted even
	// while the endpoint fails, which is when they fall due.
	batches, err := a.unconfirmed(ctx)
	if err != nil {
		return fail(metrics.ReasonStore, fmt.Errorf("listing unconfirmed batches: %w", err))
	}
	a.countOverdue(batches)
	if !a.chainOK {
		id, err := a.client.ChainID(ctx)
		if err != nil {
			return fail(metrics.ReasonRPC, fmt.Errorf("asking the endpoint for its chain ID: %w", err))
		}
		if id.Cmp(a.chainID) != 0 {
			return fail(metrics.ReasonRPC, fmt.Errorf("%w: configured %s, endpoint serves %s; nothing is sent", ErrWrongChain, a.chainID, id))
		}
		a.chainOK = true
	}
	head, err := a.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return fail(metrics.ReasonRPC, fmt.Errorf("reading chain head: %w", err))
	}
	a.headNumber = head.Number.Uint64()
	a.m.ChainHead.WithLabelValues(a.label).Set(float64(a.headNumber))
	a.m.ChainHeadTime.WithLabelValues(a.label).Set(float64(head.Time))
	if err := a.readBalance(ctx); err != nil {
		return err
	}
	if !a.nonceKnown {
		if err := a.initNonce(ctx, batches); err != nil {
			return err
		}
	}
	for _, b := range batches {
		rec, ok := b.Anchor(a.ChainID())
		var err error
		switch {
		case !ok:
			err = a.send(ctx, b, head)
		case rec.State == store.AnchorSigned:
			err = a.checkSigned(ctx, b, rec, head)
		case rec.State == store.AnchorMined:
			err = a.checkMined(ctx, b, rec, head)
		}
		if err != nil {
			return fmt.Errorf("batch %d: %w", b.ID, err)
		}
	}
	return a.recheckConfirmed(ctx, head)
}

// readBalance reads the anchoring account's balance into
// attestd_anchor_balance_wei when BalanceInterval has passed since the
// last read or an anchor was mined since.
func (a *Anchorer) readBalance(ctx context.Context) error {
	if !a.balanceAt.IsZero() && a.now().Sub(a.balanceAt) < a.cfg.BalanceInterval {
		return nil
	}
	bal, err := a.client.BalanceAt(ctx, a.from, nil)
	if err != nil {
		return fail(metrics.ReasonRPC, fmt.Errorf("reading the anchoring account's balance: %w", err))
	}
	f, _ := new(big.Float).SetInt(bal).Float64()
	a.m.AnchorBalance.WithLabelValues(a.label).Set(f)
	a.balanceAt = a.now()
	return nil
}

// countOverdue sets attestd_receipts_overdue: the fingerprints of the
// batches (unconfirmed here) sealed more than ReceiptDeadline ago.
func (a *Anchorer) countOverdue(batches []store.Batch) {
	if a.cfg.ReceiptDeadline <= 0 {
		return
	}
	var n uint64
	for _, b := range batches {
		if a.now().Sub(b.SealedAt) > a.cfg.ReceiptDeadline {
			n += b.Size
		}
	}
	a.m.ReceiptsOverdue.WithLabelValues(a.label).Set(float64(n))
}

// unconfirmed returns up to BatchLimit batches, ascending, whose anchor
// here is missing or not confirmed, from FirstBatch on. Store.Unconfirmed
// answers that from the first batch; with a FirstBatch the older batches
// (never anchored here) would fill every answer, so the anchorer walks the
// batches from FirstBatch instead, skipping the ones confirmed beyond the
// reorg window (of the newest block seen) for good.
func (a *Anchorer) unconfirmed(ctx context.Context) ([]store.Batch, error) {
	if a.cfg.FirstBatch <= 1 {
		return a.store.Unconfirmed(ctx, a.ChainID(), a.cfg.BatchLimit)
	}
	var out []store.Batch
	after := max(a.cfg.FirstBatch-1, a.settledUpTo)
	settled := true
	for len(out) < a.cfg.BatchLimit {
		bs, err := a.store.Batches(ctx, after, a.cfg.BatchLimit)
		if err != nil || len(bs) == 0 {
			return out, err
		}
		for _, b := range bs {
			after = b.ID
			if rec, ok := b.Anchor(a.ChainID()); ok && rec.State == store.AnchorConfirmed {
				if settled && a.headNumber > rec.BlockNumber+a.cfg.ReorgWindow {
					a.settledUpTo = b.ID
				} else {
					settled = false
				}
				continue
			}
			settled = false
			if out = append(out, b); len(out) == a.cfg.BatchLimit {
				break
			}
		}
	}
	return out, nil
}

// initNonce sets the next nonce to the larger of the endpoint's pending
// nonce and one past the highest nonce among our unconfirmed anchors (a
// signed tx persisted but never broadcast is not in the node's pool).
func (a *Anchorer) initNonce(ctx context.Context, batches []store.Batch) error {
	n, err := a.client.PendingNonceAt(ctx, a.from)
	if err != nil {
		return fail(metrics.ReasonRPC, fmt.Errorf("reading pending nonce: %w", err))
	}
	for _, b := range batches {
		if rec, ok := b.Anchor(a.ChainID()); ok && rec.Nonce+1 > n {
			n = rec.Nonce + 1
		}
	}
	a.nonce, a.nonceKnown = n, true
	return nil
}
