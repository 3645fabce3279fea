// Package anchor puts sealed batch roots on an EVM chain and follows each
// transaction until it has the configured confirmations.
//
// One Anchorer serves one chain. For every batch it signs one EIP-1559
// transaction whose calldata is the versioned payload (proof.Payload), and
// persists the signed raw transaction before the first broadcast: after a
// crash the same transaction is re-broadcast, so a batch is never anchored
// twice. A mined anchor whose receipt disappears or moves (a reorg) goes
// back to "signed" and the same transaction is broadcast again.
package anchor

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/crashpoint"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

// Client is what the anchorer needs from a JSON-RPC endpoint.
// *ethclient.Client and the simulated backend's client satisfy it.
type Client interface {
	ChainID(ctx context.Context) (*big.Int, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	NonceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// Defaults for Config's zero values.
const (
	DefaultConfirmations    = 12
	DefaultPollInterval     = 2 * time.Second
	DefaultRebroadcastAfter = 30 * time.Second
	DefaultBatchLimit       = 64
	DefaultStuckAfter       = 3 * time.Minute
	DefaultReorgWindow      = 128
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
	if c.ReorgWindow == 0 {
		c.ReorgWindow = DefaultReorgWindow
	}
}

// Anchorer anchors batches on one chain. Run it in one goroutine; Wake and
// the accessors are safe to call from others.
type Anchorer struct {
	cfg     Config
	client  Client
	store   store.Store
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

	lastErr atomic.Pointer[error] // the last step's error; nil after a clean step
}

// ErrWrongChain: the endpoint serves another chain than the configured one.
var ErrWrongChain = errors.New("the endpoint serves another chain")

type recentAnchor struct {
	rec      store.Anchor
	sealedAt time.Time
}

// New returns an anchorer for cfg.ChainID, or, when that is 0, for the
// chain the endpoint says it serves.
func New(ctx context.Context, cfg Config, client Client, st store.Store, m *metrics.Metrics, log *slog.Logger) (*Anchorer, error) {
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
// leaves it resumable.
func (a *Anchorer) Run(ctx context.Context) error {
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
func (a *Anchorer) Step(ctx context.Context) error {
	if !a.chainOK {
		id, err := a.client.ChainID(ctx)
		if err != nil {
			a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
			return fmt.Errorf("asking the endpoint for its chain ID: %w", err)
		}
		if id.Cmp(a.chainID) != 0 {
			a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
			return fmt.Errorf("%w: configured %s, endpoint serves %s; nothing is sent", ErrWrongChain, a.chainID, id)
		}
		a.chainOK = true
	}
	head, err := a.client.HeaderByNumber(ctx, nil)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("reading chain head: %w", err)
	}
	a.m.ChainHead.WithLabelValues(a.label).Set(float64(head.Number.Uint64()))

	batches, err := a.store.Unconfirmed(ctx, a.ChainID(), a.cfg.BatchLimit)
	if err != nil {
		return fmt.Errorf("listing unconfirmed batches: %w", err)
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

// initNonce sets the next nonce to the larger of the endpoint's pending
// nonce and one past the highest nonce among our unconfirmed anchors (a
// signed tx persisted but never broadcast is not in the node's pool).
func (a *Anchorer) initNonce(ctx context.Context, batches []store.Batch) error {
	n, err := a.client.PendingNonceAt(ctx, a.from)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("reading pending nonce: %w", err)
	}
	for _, b := range batches {
		if rec, ok := b.Anchor(a.ChainID()); ok && rec.Nonce+1 > n {
			n = rec.Nonce + 1
		}
	}
	a.nonce, a.nonceKnown = n, true
	return nil
}

// fees returns the EIP-1559 tip and fee cap: tip as suggested, cap twice
// the base fee plus the tip, both clamped to the configured maximum.
func (a *Anchorer) fees(ctx context.Context, head *types.Header) (tip, feeCap *big.Int, err error) {
	tip, err = a.client.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("suggesting a tip: %w", err)
	}
	base := head.BaseFee
	if base == nil {
		base = new(big.Int)
	}
	feeCap = new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip)
	if feeCap.Cmp(a.cfg.MaxFeePerGas) > 0 {
		feeCap = new(big.Int).Set(a.cfg.MaxFeePerGas)
	}
	if tip.Cmp(feeCap) > 0 {
		tip = new(big.Int).Set(feeCap)
	}
	return tip, feeCap, nil
}

func (a *Anchorer) send(ctx context.Context, b store.Batch, head *types.Header) error {
	data := proof.Payload{BatchID: b.ID, Size: b.Size, Root: b.Root}.Encode()
	tip, feeCap, err := a.fees(ctx, head)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return err
	}
	gas, err := a.client.EstimateGas(ctx, ethereum.CallMsg{From: a.from, To: &a.to, Data: data})
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("estimating gas: %w", err)
	}
	// Persisted before broadcast: from here on, this tx is the batch's anchor.
	rec := store.Anchor{BatchID: b.ID, ChainID: a.ChainID(), From: a.from, To: a.to} // no state yet: a new record
	persisted, err := a.sign(ctx, b, rec, a.nonce, tip, feeCap, gas, false)
	if persisted {
		a.nonce++ // the nonce is this anchor's, even if the broadcast failed
		a.m.AnchorSubmitted.WithLabelValues(a.label).Inc()
		a.log.InfoContext(ctx, "anchor signed", "batch", b.ID, "size", b.Size, "nonce", a.nonce-1)
	}
	return err
}

// broadcast sends rec's raw tx and records the time. "already known" and
// "nonce too low" count as sent: the node has it, or it is mined (the next
// receipt lookup tells).
func (a *Anchorer) broadcast(ctx context.Context, rec *store.Anchor) error {
	var tx types.Transaction
	if err := tx.UnmarshalBinary(rec.RawTx); err != nil {
		return fmt.Errorf("decoding the persisted tx: %w", err)
	}
	if err := a.client.SendTransaction(ctx, &tx); err != nil && !alreadySent(err) {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("broadcasting %s: %w", rec.TxHash.Hex(), err)
	}
	crashpoint.Hit(crashpoint.AnchorBroadcast)
	next := *rec
	next.BroadcastAt = a.now().UTC()
	if err := a.store.PutAnchor(ctx, next, rec.State); err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
		return fmt.Errorf("recording the broadcast: %w", err)
	}
	*rec = next
	return nil
}

// indexingMsg is what a go-ethereum node answers for a receipt it cannot
// look up yet because its transaction index is still being built.
const indexingMsg = "transaction indexing is in progress"

// errIndexing: the node cannot say yet whether a tx is mined; the step
// leaves the anchor alone rather than take "not found" for a reorg.
var errIndexing = errors.New("the node is still indexing transactions")

// alreadySent reports whether a send error means the node already has the
// transaction or its nonce is spent. Over JSON-RPC errors arrive as text,
// so the node's own error messages are matched.
func alreadySent(err error) bool {
	s := err.Error()
	return strings.Contains(s, txpool.ErrAlreadyKnown.Error()) || strings.Contains(s, core.ErrNonceTooLow.Error())
}

func (a *Anchorer) checkSigned(ctx context.Context, b store.Batch, rec store.Anchor, head *types.Header) error {
	r, err := a.receipt(ctx, &rec)
	if errors.Is(err, errIndexing) {
		return nil // ask again next step
	}
	if err != nil {
		return err
	}
	if r != nil {
		return a.mined(ctx, b, rec, r, head)
	}
	// Not mined. Was the nonce spent by a transaction that is not ours?
	spent, err := a.client.NonceAt(ctx, a.from, nil)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("reading the account nonce: %w", err)
	}
	if spent > rec.Nonce {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonNonce).Inc()
		a.nonce = max(a.nonce, spent)
		a.log.WarnContext(ctx, "another transaction took the anchor's nonce; signing it again with a new one",
			"batch", b.ID, "nonce", rec.Nonce, "new_nonce", a.nonce)
		return a.resign(ctx, b, rec, a.nonce, head)
	}
	if a.now().Sub(rec.SignedAt) >= a.cfg.StuckAfter {
		replaced, err := a.bump(ctx, b, rec, head)
		if err != nil || replaced {
			return err
		}
	}
	if rec.BroadcastAt.IsZero() || a.now().Sub(rec.BroadcastAt) >= a.cfg.RebroadcastAfter {
		a.log.InfoContext(ctx, "re-broadcasting anchor", "batch", b.ID, "tx", rec.TxHash.Hex())
		return a.broadcast(ctx, &rec)
	}
	return nil
}

// receipt looks for a receipt of rec's transaction or of one it replaced
// (an earlier fee level may win the race). If an earlier one was mined,
// rec.TxHash is switched to it (RawTx keeps the latest signed bytes, which
// carry the same nonce). It returns nil, nil when none is mined.
func (a *Anchorer) receipt(ctx context.Context, rec *store.Anchor) (*types.Receipt, error) {
	for _, h := range append([]common.Hash{rec.TxHash}, rec.Replaced...) {
		r, err := a.client.TransactionReceipt(ctx, h)
		if errors.Is(err, ethereum.NotFound) {
			continue
		}
		if err != nil && strings.Contains(err.Error(), indexingMsg) {
			return nil, errIndexing
		}
		if err != nil {
			a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
			return nil, fmt.Errorf("reading receipt: %w", err)
		}
		if h != rec.TxHash {
			rec.Replaced = append(slices.DeleteFunc(slices.Clone(rec.Replaced), func(x common.Hash) bool { return x == h }), rec.TxHash)
			rec.TxHash = h
		}
		return r, nil
	}
	return nil, nil
}

// bump replaces a stuck transaction with the same nonce and higher fees:
// the market fee now, and at least 10% over the old one (what nodes need to
// accept a replacement), never above MaxFeePerGas. It reports false when
// the cap leaves no room for a replacement.
func (a *Anchorer) bump(ctx context.Context, b store.Batch, rec store.Anchor, head *types.Header) (bool, error) {
	var old types.Transaction
	if err := old.UnmarshalBinary(rec.RawTx); err != nil {
		return false, fmt.Errorf("decoding the persisted tx: %w", err)
	}
	tip, feeCap, err := a.fees(ctx, head)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return false, err
	}
	minTip, minCap := plus10(old.GasTipCap()), plus10(old.GasFeeCap())
	tip, feeCap = bigMax(tip, minTip), bigMax(feeCap, minCap)
	if feeCap.Cmp(a.cfg.MaxFeePerGas) > 0 {
		feeCap = new(big.Int).Set(a.cfg.MaxFeePerGas)
	}
	if tip.Cmp(feeCap) > 0 {
		tip = new(big.Int).Set(feeCap)
	}
	if feeCap.Cmp(minCap) < 0 || tip.Cmp(minTip) < 0 {
		a.log.WarnContext(ctx, "anchor stuck at the maximum fee; raise the cap to replace it", "batch", b.ID,
			"tx", rec.TxHash.Hex(), "fee_cap", old.GasFeeCap(), "max_fee", a.cfg.MaxFeePerGas)
		return false, nil
	}
	a.log.WarnContext(ctx, "anchor not mined; replacing it with a higher fee", "batch", b.ID, "nonce", rec.Nonce,
		"old_fee_cap", old.GasFeeCap(), "fee_cap", feeCap, "tip", tip)
	_, err = a.sign(ctx, b, rec, rec.Nonce, tip, feeCap, old.Gas(), true)
	return true, err
}

// resign signs the anchor again with a new nonce at market fees.
func (a *Anchorer) resign(ctx context.Context, b store.Batch, rec store.Anchor, nonce uint64, head *types.Header) error {
	tip, feeCap, err := a.fees(ctx, head)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return err
	}
	var old types.Transaction
	if err := old.UnmarshalBinary(rec.RawTx); err != nil {
		return fmt.Errorf("decoding the persisted tx: %w", err)
	}
	persisted, err := a.sign(ctx, b, rec, nonce, tip, feeCap, old.Gas(), true)
	if persisted {
		a.nonce = nonce + 1
	}
	return err
}

// sign signs the batch payload with nonce and fees, persists it (as rec's
// replacement when replacing: the old hash joins Replaced) and broadcasts
// it. persisted says whether the record was written — then the nonce is
// the anchor's, whatever happened to the broadcast.
func (a *Anchorer) sign(ctx context.Context, b store.Batch, rec store.Anchor, nonce uint64, tip, feeCap *big.Int, gas uint64, replacing bool) (persisted bool, err error) {
	data := proof.Payload{BatchID: b.ID, Size: b.Size, Root: b.Root}.Encode()
	tx, err := types.SignNewTx(a.cfg.Key, a.signer, &types.DynamicFeeTx{
		ChainID: a.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: &a.to, Data: data,
	})
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonSign).Inc()
		return false, fmt.Errorf("signing: %w", err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonSign).Inc()
		return false, fmt.Errorf("encoding: %w", err)
	}
	next := rec
	next.State = store.AnchorSigned
	next.Nonce, next.TxHash, next.RawTx = nonce, tx.Hash(), raw
	next.SignedAt, next.BroadcastAt = a.now().UTC(), time.Time{}
	if replacing {
		next.Replaced = append(slices.Clone(rec.Replaced), rec.TxHash)
	}
	if err := a.store.PutAnchor(ctx, next, rec.State); err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
		return false, fmt.Errorf("persisting the signed anchor: %w", err)
	}
	crashpoint.Hit(crashpoint.AnchorSigned)
	if replacing {
		a.m.AnchorReplaced.WithLabelValues(a.label).Inc()
	}
	return true, a.broadcast(ctx, &next)
}

func plus10(x *big.Int) *big.Int {
	y := new(big.Int).Mul(x, big.NewInt(11))
	y.Div(y, big.NewInt(10))
	return y.Add(y, big.NewInt(1))
}

func bigMax(x, y *big.Int) *big.Int {
	if x.Cmp(y) >= 0 {
		return x
	}
	return y
}

// mined records a receipt for rec and, if deep enough, confirms it.
func (a *Anchorer) mined(ctx context.Context, b store.Batch, rec store.Anchor, r *types.Receipt, head *types.Header) error {
	hdr, err := a.client.HeaderByNumber(ctx, r.BlockNumber)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("reading block %d: %w", r.BlockNumber, err)
	}
	if hdr.Hash() != r.BlockHash {
		return nil // receipt from a block being reorged; look again next step
	}
	if r.Status != types.ReceiptStatusSuccessful {
		// Only possible with a contract sink that reverts: the root is not
		// anchored. Counted and logged; the operator must fix the sink.
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonReverted).Inc()
		a.log.ErrorContext(ctx, "anchor transaction reverted; check the sink address", "batch", b.ID, "tx", rec.TxHash.Hex())
		return nil
	}
	prev := rec.State
	rec.State = store.AnchorMined
	rec.BlockNumber = r.BlockNumber.Uint64()
	rec.BlockHash = r.BlockHash
	rec.BlockTime = time.Unix(int64(hdr.Time), 0).UTC()
	rec.GasUsed = r.GasUsed
	rec.FeeWei = new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
	rec.MinedAt = a.now().UTC()
	if a.confirmed(rec, head) {
		rec.State = store.AnchorConfirmed
		rec.ConfirmedAt = rec.MinedAt
	}
	if err := a.store.PutAnchor(ctx, rec, prev); err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
		return fmt.Errorf("recording the mined anchor: %w", err)
	}
	crashpoint.Hit(crashpoint.AnchorMined)
	a.m.GasUsed.WithLabelValues(a.label).Add(float64(rec.GasUsed))
	fee, _ := new(big.Float).SetInt(rec.FeeWei).Float64()
	a.m.FeesPaid.WithLabelValues(a.label).Add(fee)
	a.m.AnchorLatency.WithLabelValues(a.label, "mined").Observe(rec.MinedAt.Sub(b.SealedAt).Seconds())
	if late := rec.MinedAt.Sub(b.SealedAt) - a.cfg.AnchorWithin; a.cfg.AnchorWithin > 0 && late > 0 {
		a.m.DeadlineMissed.WithLabelValues("anchor").Inc()
		a.log.WarnContext(ctx, "anchor mined after the promised deadline", "batch", b.ID, "late_by", late)
	}
	a.log.InfoContext(ctx, "anchor mined", "batch", b.ID, "block", rec.BlockNumber, "gas", rec.GasUsed)
	if rec.State == store.AnchorConfirmed {
		a.confirmedMetrics(ctx, b, rec)
	}
	return nil
}

func (a *Anchorer) confirmed(rec store.Anchor, head *types.Header) bool {
	h := head.Number.Uint64()
	return h >= rec.BlockNumber && h-rec.BlockNumber+1 >= a.cfg.Confirmations
}

func (a *Anchorer) confirmedMetrics(ctx context.Context, b store.Batch, rec store.Anchor) {
	a.recent = append(a.recent, recentAnchor{rec: rec, sealedAt: b.SealedAt})
	a.m.AnchorConfirmed.WithLabelValues(a.label).Inc()
	a.m.AnchorLatency.WithLabelValues(a.label, "confirmed").Observe(rec.ConfirmedAt.Sub(b.SealedAt).Seconds())
	a.log.InfoContext(ctx, "anchor confirmed", "batch", b.ID, "block", rec.BlockNumber)
}

// checkMined follows a mined anchor: gone from the chain → back to signed
// (and re-broadcast); moved to another block → re-recorded; deep enough
// and still canonical → confirmed.
func (a *Anchorer) checkMined(ctx context.Context, b store.Batch, rec store.Anchor, head *types.Header) error {
	before := rec.TxHash
	r, err := a.receipt(ctx, &rec)
	switch {
	case errors.Is(err, errIndexing):
		return nil // not a reorg: the node cannot tell yet
	case err != nil:
		return err
	case r == nil:
		return a.reorged(ctx, b, rec)
	case r.BlockHash != rec.BlockHash || rec.TxHash != before:
		a.m.Reorgs.WithLabelValues(a.label).Inc()
		a.log.WarnContext(ctx, "anchor moved to another block", "batch", b.ID, "old_block", rec.BlockNumber, "new_block", r.BlockNumber.Uint64())
		return a.mined(ctx, b, rec, r, head)
	}
	if !a.confirmed(rec, head) {
		return nil
	}
	hdr, err := a.client.HeaderByNumber(ctx, r.BlockNumber)
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("reading block %d: %w", rec.BlockNumber, err)
	}
	if hdr.Hash() != rec.BlockHash {
		return nil // the canonical chain is moving; look again next step
	}
	next := rec
	next.State = store.AnchorConfirmed
	next.ConfirmedAt = a.now().UTC()
	if err := a.store.PutAnchor(ctx, next, rec.State); err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
		return fmt.Errorf("recording the confirmation: %w", err)
	}
	a.confirmedMetrics(ctx, b, next)
	return nil
}

// reorged sends an anchor whose transaction left the chain back to
// "signed" and broadcasts it again (its nonce is free again).
func (a *Anchorer) reorged(ctx context.Context, b store.Batch, rec store.Anchor) error {
	a.m.Reorgs.WithLabelValues(a.label).Inc()
	a.log.WarnContext(ctx, "anchor reorged out; broadcasting it again", "batch", b.ID, "tx", rec.TxHash.Hex(),
		"old_block", rec.BlockNumber, "was", rec.State)
	back := rec
	back.State = store.AnchorSigned
	back.BlockNumber, back.BlockHash, back.BlockTime = 0, common.Hash{}, time.Time{}
	back.GasUsed, back.FeeWei, back.MinedAt, back.ConfirmedAt = 0, nil, time.Time{}, time.Time{}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(rec.RawTx); err == nil && tx.Hash() != rec.TxHash {
		// An earlier fee level had been mined; the latest signed one goes out.
		back.Replaced = append(slices.DeleteFunc(slices.Clone(rec.Replaced), func(h common.Hash) bool { return h == tx.Hash() }), rec.TxHash)
		back.TxHash = tx.Hash()
	}
	if err := a.store.PutAnchor(ctx, back, rec.State); err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
		return fmt.Errorf("recording the reorg: %w", err)
	}
	return a.broadcast(ctx, &back)
}

// recentScan bounds how many of the newest batches a restarted anchorer
// reads to find the confirmed anchors it must keep watching.
const recentScan = 256

// loadRecent seeds the watch list after a (re)start from the newest
// batches in the store: their anchors on this chain that are confirmed in
// a block within ReorgWindow of the head. Batch IDs are dense (1…n), so
// the newest one is found with O(log n) lookups.
func (a *Anchorer) loadRecent(ctx context.Context, head *types.Header) error {
	exists := func(id uint64) (bool, error) {
		_, err := a.store.Batch(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	// Exponential probe, then binary search for the last existing ID.
	lo, hi := uint64(0), uint64(1)
	for {
		ok, err := exists(hi)
		if err != nil {
			return fmt.Errorf("finding the newest batch: %w", err)
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return fmt.Errorf("finding the newest batch: %w", err)
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	after := uint64(0)
	if lo > recentScan {
		after = lo - recentScan
	}
	bs, err := a.store.Batches(ctx, after, recentScan)
	if err != nil {
		return fmt.Errorf("reading recent batches: %w", err)
	}
	h := head.Number.Uint64()
	for _, b := range bs {
		if rec, ok := b.Anchor(a.ChainID()); ok && rec.State == store.AnchorConfirmed && h <= rec.BlockNumber+a.cfg.ReorgWindow {
			if !slices.ContainsFunc(a.recent, func(r recentAnchor) bool { return r.rec.BatchID == b.ID }) {
				a.recent = append(a.recent, recentAnchor{rec: rec, sealedAt: b.SealedAt})
			}
		}
	}
	a.recentLoaded = true
	return nil
}

// recheckConfirmed looks again at anchors this anchorer confirmed within
// the last ReorgWindow blocks: a reorg deeper than the confirmation depth
// sends them back to anchoring, and the proofs served afterwards carry the
// new anchor.
func (a *Anchorer) recheckConfirmed(ctx context.Context, head *types.Header) error {
	if !a.recentLoaded {
		if err := a.loadRecent(ctx, head); err != nil {
			return err
		}
	}
	h := head.Number.Uint64()
	keep := a.recent[:0]
	var firstErr error
	for _, ra := range a.recent {
		if h > ra.rec.BlockNumber+a.cfg.ReorgWindow {
			continue // deep enough to stop watching
		}
		r, err := a.receipt(ctx, &ra.rec)
		if err == nil && r != nil && r.BlockHash == ra.rec.BlockHash {
			keep = append(keep, ra)
			continue
		}
		if err != nil {
			keep = append(keep, ra)
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		a.log.ErrorContext(ctx, "a confirmed anchor was reorged out, deeper than the confirmation depth", "batch", ra.rec.BatchID,
			"block", ra.rec.BlockNumber, "confirmations", a.cfg.Confirmations)
		if err := a.reorged(ctx, store.Batch{ID: ra.rec.BatchID, SealedAt: ra.sealedAt}, ra.rec); err != nil {
			firstErr = cmp.Or(firstErr, err)
		}
	}
	a.recent = keep
	return firstErr
}
