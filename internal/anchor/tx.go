package anchor

// The transaction life cycle: fees, signing, persisting before broadcast,
// broadcasting, fee bumps on a stuck nonce and re-signing on a taken one.

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/crashpoint"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

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
	tip, feeCap = a.clamp(tip, new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip))
	return tip, feeCap, nil
}

// clamp bounds the fee cap by MaxFeePerGas and the tip by the fee cap.
func (a *Anchorer) clamp(tip, feeCap *big.Int) (*big.Int, *big.Int) {
	if feeCap.Cmp(a.cfg.MaxFeePerGas) > 0 {
		feeCap = new(big.Int).Set(a.cfg.MaxFeePerGas)
	}
	if tip.Cmp(feeCap) > 0 {
		tip = new(big.Int).Set(feeCap)
	}
	return tip, feeCap
}

// decodeTx decodes the signed transaction persisted in rec.
func decodeTx(rec store.Anchor) (*types.Transaction, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(rec.RawTx); err != nil {
		return nil, fail(metrics.ReasonStore, fmt.Errorf("decoding the persisted transaction of batch %d: %w", rec.BatchID, err))
	}
	return tx, nil
}

func (a *Anchorer) send(ctx context.Context, b store.Batch, head *types.Header) error {
	data := proof.Payload{BatchID: b.ID, Size: b.Size, Root: b.Root}.Encode()
	tip, feeCap, err := a.fees(ctx, head)
	if err != nil {
		return fail(metrics.ReasonRPC, err)
	}
	gas, err := a.client.EstimateGas(ctx, ethereum.CallMsg{From: a.from, To: &a.to, Data: data})
	if err != nil {
		return a.sendFailed(fmt.Errorf("estimating gas: %w", err))
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
	tx, err := decodeTx(*rec)
	if err != nil {
		return err
	}
	if err := a.client.SendTransaction(ctx, tx); err != nil && !alreadySent(err) {
		return a.sendFailed(fmt.Errorf("broadcasting %s: %w", rec.TxHash.Hex(), err))
	}
	crashpoint.Hit(crashpoint.AnchorBroadcast)
	next := *rec
	next.BroadcastAt = a.now().UTC()
	if err := a.store.PutAnchor(ctx, next, rec.State); err != nil {
		return fail(metrics.ReasonStore, fmt.Errorf("recording the broadcast: %w", err))
	}
	*rec = next
	return nil
}

// sendFailed tags a failed estimate or broadcast: funds when the node
// says the account cannot pay (gas × fee cap above its balance), which
// stops every anchor until the account is funded; rpc otherwise.
func (a *Anchorer) sendFailed(err error) error {
	if strings.Contains(err.Error(), "insufficient funds") { // core.ErrInsufficientFunds, ErrInsufficientFundsForTransfer
		a.balanceAt = time.Time{} // show the balance that fell short
		return fail(metrics.ReasonFunds, fmt.Errorf("the anchoring account %s cannot pay for the anchor transaction; fund it: %w", a.from.Hex(), err))
	}
	return fail(metrics.ReasonRPC, err)
}

// alreadySent reports whether a send error means the node already has the
// transaction or its nonce is spent. Over JSON-RPC errors arrive as text,
// so the node's own error messages are matched.
func alreadySent(err error) bool {
	s := err.Error()
	return strings.Contains(s, txpool.ErrAlreadyKnown.Error()) || strings.Contains(s, core.ErrNonceTooLow.Error())
}

// bump replaces a stuck transaction with the same nonce and higher fees:
// the market fee now, and at least 10% over the old one (what nodes need to
// accept a replacement), never above MaxFeePerGas. It reports false when
// the cap leaves no room for a replacement.
func (a *Anchorer) bump(ctx context.Context, b store.Batch, rec store.Anchor, head *types.Header) (bool, error) {
	old, err := decodeTx(rec)
	if err != nil {
		return false, err
	}
	tip, feeCap, err := a.fees(ctx, head)
	if err != nil {
		return false, fail(metrics.ReasonRPC, err)
	}
	minTip, minCap := plus10(old.GasTipCap()), plus10(old.GasFeeCap())
	tip, feeCap = a.clamp(bigMax(tip, minTip), bigMax(feeCap, minCap))
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
		return fail(metrics.ReasonRPC, err)
	}
	old, err := decodeTx(rec)
	if err != nil {
		return err
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
		return false, fail(metrics.ReasonSign, fmt.Errorf("signing: %w", err))
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return false, fail(metrics.ReasonSign, fmt.Errorf("encoding: %w", err))
	}
	next := rec
	next.State = store.AnchorSigned
	next.Nonce, next.TxHash, next.RawTx = nonce, tx.Hash(), raw
	next.SignedAt, next.BroadcastAt = a.now().UTC(), time.Time{}
	if replacing {
		next.Replaced = append(slices.Clone(rec.Replaced), rec.TxHash)
	}
	if err := a.store.PutAnchor(ctx, next, rec.State); err != nil {
		return false, fail(metrics.ReasonStore, fmt.Errorf("persisting the signed anchor: %w", err))
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
