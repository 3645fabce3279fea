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
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
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

	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

// Client is what the anchorer needs from a JSON-RPC endpoint.
// *ethclient.Client and the simulated backend's client satisfy it.
type Client interface {
	ChainID(ctx context.Context) (*big.Int, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
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

	lastErr atomic.Pointer[error] // the last step's error; nil after a clean step
}

// ErrWrongChain: the endpoint serves another chain than the configured one.
var ErrWrongChain = errors.New("the endpoint serves another chain")

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
	return nil
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
	tx, err := types.SignNewTx(a.cfg.Key, a.signer, &types.DynamicFeeTx{
		ChainID: a.chainID, Nonce: a.nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas, To: &a.to, Data: data,
	})
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonSign).Inc()
		return fmt.Errorf("signing: %w", err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonSign).Inc()
		return fmt.Errorf("encoding: %w", err)
	}
	rec := store.Anchor{
		BatchID: b.ID, ChainID: a.ChainID(), State: store.AnchorSigned,
		From: a.from, To: a.to, Nonce: a.nonce, TxHash: tx.Hash(), RawTx: raw,
		SignedAt: a.now().UTC(),
	}
	// Persist before broadcast: from here on, this tx is the batch's anchor.
	if err := a.store.PutAnchor(ctx, rec, ""); err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
		return fmt.Errorf("persisting the signed anchor: %w", err)
	}
	a.nonce++
	a.log.InfoContext(ctx, "anchor signed", "batch", b.ID, "size", b.Size, "tx", rec.TxHash.Hex(), "nonce", rec.Nonce)
	if err := a.broadcast(ctx, &rec); err != nil {
		return err
	}
	a.m.AnchorSubmitted.WithLabelValues(a.label).Inc()
	return nil
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
	next := *rec
	next.BroadcastAt = a.now().UTC()
	if err := a.store.PutAnchor(ctx, next, rec.State); err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
		return fmt.Errorf("recording the broadcast: %w", err)
	}
	*rec = next
	return nil
}

// alreadySent reports whether a send error means the node already has the
// transaction or its nonce is spent. Over JSON-RPC errors arrive as text,
// so the node's own error messages are matched.
func alreadySent(err error) bool {
	s := err.Error()
	return strings.Contains(s, txpool.ErrAlreadyKnown.Error()) || strings.Contains(s, core.ErrNonceTooLow.Error())
}

func (a *Anchorer) checkSigned(ctx context.Context, b store.Batch, rec store.Anchor, head *types.Header) error {
	r, err := a.client.TransactionReceipt(ctx, rec.TxHash)
	if errors.Is(err, ethereum.NotFound) {
		if rec.BroadcastAt.IsZero() || a.now().Sub(rec.BroadcastAt) >= a.cfg.RebroadcastAfter {
			a.log.InfoContext(ctx, "re-broadcasting anchor", "batch", b.ID, "tx", rec.TxHash.Hex())
			return a.broadcast(ctx, &rec)
		}
		return nil
	}
	if err != nil {
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("reading receipt: %w", err)
	}
	return a.mined(ctx, b, rec, r, head)
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
	a.m.AnchorConfirmed.WithLabelValues(a.label).Inc()
	a.m.AnchorLatency.WithLabelValues(a.label, "confirmed").Observe(rec.ConfirmedAt.Sub(b.SealedAt).Seconds())
	a.log.InfoContext(ctx, "anchor confirmed", "batch", b.ID, "block", rec.BlockNumber)
}

// checkMined follows a mined anchor: gone from the chain → back to signed
// (and re-broadcast); moved to another block → re-recorded; deep enough
// and still canonical → confirmed.
func (a *Anchorer) checkMined(ctx context.Context, b store.Batch, rec store.Anchor, head *types.Header) error {
	r, err := a.client.TransactionReceipt(ctx, rec.TxHash)
	switch {
	case errors.Is(err, ethereum.NotFound):
		a.m.Reorgs.WithLabelValues(a.label).Inc()
		a.log.WarnContext(ctx, "anchor reorged out; broadcasting it again", "batch", b.ID, "tx", rec.TxHash.Hex(), "old_block", rec.BlockNumber)
		back := rec
		back.State = store.AnchorSigned
		back.BlockNumber, back.BlockHash, back.BlockTime = 0, common.Hash{}, time.Time{}
		back.GasUsed, back.FeeWei, back.MinedAt = 0, nil, time.Time{}
		if err := a.store.PutAnchor(ctx, back, rec.State); err != nil {
			a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonStore).Inc()
			return fmt.Errorf("recording the reorg: %w", err)
		}
		return a.broadcast(ctx, &back)
	case err != nil:
		a.m.AnchorFailed.WithLabelValues(a.label, metrics.ReasonRPC).Inc()
		return fmt.Errorf("reading receipt: %w", err)
	case r.BlockHash != rec.BlockHash:
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
