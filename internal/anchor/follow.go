package anchor

// The chain follower: receipts of signed anchors, mined and confirmed
// records, reorgs (shallow ones on the next step, deep ones within
// ReorgWindow blocks of confirmation) and the watch list after a restart.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/crashpoint"
	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
)

// indexingMsg is what a go-ethereum node answers for a receipt it cannot
// look up yet because its transaction index is still being built.
const indexingMsg = "transaction indexing is in progress"

// errIndexing: the node cannot say yet whether a tx is mined; the step
// leaves the anchor alone rather than take "not found" for a reorg.
var errIndexing = errors.New("the node is still indexing transactions")

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
		return fail(metrics.ReasonRPC, fmt.Errorf("reading the account nonce: %w", err))
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
			return nil, fail(metrics.ReasonRPC, fmt.Errorf("reading receipt: %w", err))
		}
		if h != rec.TxHash {
			rec.Replaced = append(slices.DeleteFunc(slices.Clone(rec.Replaced), func(x common.Hash) bool { return x == h }), rec.TxHash)
			rec.TxHash = h
		}
		return r, nil
	}
	return nil, nil
}

// mined records a receipt for rec and, if deep enough, confirms it.
func (a *Anchorer) mined(ctx context.Context, b store.Batch, rec store.Anchor, r *types.Receipt, head *types.Header) error {
	hdr, err := a.client.HeaderByNumber(ctx, r.BlockNumber)
	if err != nil {
		return fail(metrics.ReasonRPC, fmt.Errorf("reading block %d: %w", r.BlockNumber, err))
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
	rec.Evidence = nil // collected once confirmed, of this block
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
		return fail(metrics.ReasonStore, fmt.Errorf("recording the mined anchor: %w", err))
	}
	crashpoint.Hit(crashpoint.AnchorMined)
	a.balanceAt = time.Time{} // it paid a fee: read the balance again
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
		return fail(metrics.ReasonRPC, fmt.Errorf("reading block %d: %w", rec.BlockNumber, err))
	}
	if hdr.Hash() != rec.BlockHash {
		return nil // the canonical chain is moving; look again next step
	}
	next := rec
	next.State = store.AnchorConfirmed
	next.ConfirmedAt = a.now().UTC()
	if err := a.store.PutAnchor(ctx, next, rec.State); err != nil {
		return fail(metrics.ReasonStore, fmt.Errorf("recording the confirmation: %w", err))
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
	back.Evidence = nil // of a block no longer canonical; collected again once re-confirmed
	if tx, err := decodeTx(rec); err == nil && tx.Hash() != rec.TxHash {
		// An earlier fee level had been mined; the latest signed one goes out.
		back.Replaced = append(slices.DeleteFunc(slices.Clone(rec.Replaced), func(h common.Hash) bool { return h == tx.Hash() }), rec.TxHash)
		back.TxHash = tx.Hash()
	}
	if err := a.store.PutAnchor(ctx, back, rec.State); err != nil {
		return fail(metrics.ReasonStore, fmt.Errorf("recording the reorg: %w", err))
	}
	return a.broadcast(ctx, &back)
}

// recentScan bounds how many of the newest batches a restarted anchorer
// reads to find the confirmed anchors it must keep watching.
const recentScan = 256

// loadRecent seeds the watch list after a (re)start from the newest
// batches in the store: their anchors on this chain that are confirmed in
// a block within ReorgWindow of the head.
func (a *Anchorer) loadRecent(ctx context.Context, head *types.Header) error {
	last, err := a.store.LatestBatch(ctx)
	if err != nil {
		return fmt.Errorf("finding the newest batch: %w", err)
	}
	after := uint64(0)
	if last > recentScan {
		after = last - recentScan
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
			if a.cfg.Evidence != nil && ra.rec.Evidence == nil {
				a.m.EvidenceAbandoned.WithLabelValues(a.label).Inc()
				a.log.ErrorContext(ctx, "gave up collecting the chain evidence of an anchor: it is beyond the reorg window; its proofs go without it",
					"batch", ra.rec.BatchID, "block", ra.rec.BlockNumber)
			}
			continue // deep enough to stop watching
		}
		r, err := a.receipt(ctx, &ra.rec)
		if err == nil && r != nil && r.BlockHash == ra.rec.BlockHash || errors.Is(err, errIndexing) {
			if err == nil && a.cfg.Evidence != nil && ra.rec.Evidence == nil {
				a.collectEvidence(ctx, &ra)
			}
			keep = append(keep, ra) // still there, or the node cannot tell yet
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

// collectEvidence reads the chain evidence of ra's confirmed anchor at
// the confirmation depth, checks it opens to the recorded transaction and
// block, and writes it to the record (a confirmed → confirmed write, so a
// record changed meanwhile is not overwritten). A failure is counted and
// logged once per batch, and tried again on the next step; it never fails
// the step.
func (a *Anchorer) collectEvidence(ctx context.Context, ra *recentAnchor) {
	err := func() error {
		ev, err := evidence.Collect(ctx, a.cfg.Evidence, ra.rec.TxHash, a.cfg.Confirmations)
		if err != nil {
			return err
		}
		f, err := evidence.Open(ev)
		if err != nil {
			return fmt.Errorf("the evidence read does not check: %w", err)
		}
		if f.TxHash != ra.rec.TxHash || f.BlockHash != ra.rec.BlockHash || f.ChainID != a.ChainID() {
			return fmt.Errorf("%w: the evidence read is of tx %s in block %s on chain %d", evidence.ErrChainMoved, f.TxHash, f.BlockHash, f.ChainID)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		next := ra.rec
		next.Evidence = data
		if err := a.store.PutAnchor(ctx, next, store.AnchorConfirmed); err != nil {
			return fmt.Errorf("recording the evidence: %w", err)
		}
		ra.rec = next
		a.m.EvidenceCollected.WithLabelValues(a.label).Inc()
		a.log.InfoContext(ctx, "chain evidence collected", "batch", next.BatchID, "block", next.BlockNumber, "bytes", len(data))
		return nil
	}()
	if err == nil || ctx.Err() != nil {
		return
	}
	a.m.EvidenceFailures.WithLabelValues(a.label).Inc()
	if !ra.evidenceLogged {
		ra.evidenceLogged = true
		a.log.WarnContext(ctx, "could not collect the chain evidence of a confirmed anchor; anchoring goes on and it is tried again on later polls",
			"batch", ra.rec.BatchID, "block", ra.rec.BlockNumber, "err", err)
	}
}
