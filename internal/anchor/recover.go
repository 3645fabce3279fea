package anchor

// Finding this issuer's own anchors on chain at start, so that a store
// restored from a backup never seals again under a batch ID the chain
// already holds (see Scan and internal/app's recovery).

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

// DefaultScanDepth bounds Config.ScanDepth: at most this many blocks are
// read back from the head at start looking for anchors the store lost.
const DefaultScanDepth = 50_000

// storeWalk bounds how many of the newest batches Scan reads looking for
// the store's newest anchor mined on the chain.
const storeWalk = 256

// OnChain is one anchor transaction of the anchoring account found on
// chain: its payload (batch ID, tree size, root) and where it is.
type OnChain struct {
	proof.Payload
	Tx        *types.Transaction
	Block     uint64
	BlockTime time.Time
}

// ScanResult is what Scan found.
type ScanResult struct {
	Found []OnChain // ascending by batch ID, then block
	// Highest is the highest batch ID known anchored here: of Found or
	// the store's newest mined anchor, 0 if none.
	Highest uint64
	// Complete: every transaction the account sent since the store's
	// newest mined anchor (all of them, if it has none) was seen; false
	// when ScanDepth ran out first.
	Complete bool
	Scanned  uint64 // blocks read
}

// Record returns the anchor record that o is, as the anchorer would have
// written it when signing: state signed, so that the anchorer's next step
// finds its receipt and follows it to confirmation as usual.
func (a *Anchorer) Record(o OnChain) (store.Anchor, error) {
	raw, err := o.Tx.MarshalBinary()
	if err != nil {
		return store.Anchor{}, err
	}
	to := a.to
	if o.Tx.To() != nil {
		to = *o.Tx.To()
	}
	now := a.now().UTC()
	return store.Anchor{
		BatchID: o.BatchID, ChainID: a.ChainID(), State: store.AnchorSigned,
		From: a.from, To: to, Nonce: o.Tx.Nonce(), TxHash: o.Tx.Hash(), RawTx: raw,
		SignedAt: now, BroadcastAt: now,
	}, nil
}

// Scan looks for the anchors of the anchoring account that the store does
// not know as mined: those sent after the store's newest anchor mined on
// this chain (only those can be missing from a store restored from a
// backup — older ones were mined before the backup was made). The
// account's nonce says how many it sent; when the store's newest mined
// anchor used the last one, nothing is read. Otherwise blocks are read
// back from the head down to that anchor's block, until every nonce above
// it is accounted for, and at most ScanDepth blocks (then Complete is
// false). A transaction counts when it is the account's, carries an ATST
// payload, and its nonce is one the store does not know as mined.
func (a *Anchorer) Scan(ctx context.Context) (ScanResult, error) {
	var res ScanResult
	head, err := a.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("reading chain head: %w", err)
	}
	sent, err := a.client.NonceAt(ctx, a.from, head.Number)
	if err != nil {
		return res, fmt.Errorf("reading the anchoring account's nonce: %w", err)
	}
	known, ok, err := a.newestMined(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the store's newest anchor: %w", err)
	}
	first, lowest := uint64(0), uint64(0) // the lowest nonce and block that can hold a lost anchor
	if ok {
		first, lowest, res.Highest = known.Nonce+1, known.BlockNumber, known.BatchID
	}
	if first >= sent {
		res.Complete = true
		return res, nil
	}
	want := sent - first
	seen := map[uint64]bool{}
	for n := head.Number.Uint64(); ; n-- {
		if res.Scanned == a.cfg.ScanDepth {
			break
		}
		blk, err := a.client.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return res, fmt.Errorf("reading block %d: %w", n, err)
		}
		res.Scanned++
		for _, tx := range blk.Transactions() {
			if tx.Nonce() < first || tx.Nonce() >= sent || seen[tx.Nonce()] {
				continue
			}
			p, err := proof.DecodePayload(tx.Data())
			if err != nil {
				continue // not an anchor: the account may send other transactions, never counted
			}
			if from, err := types.Sender(a.signer, tx); err != nil || from != a.from {
				continue
			}
			seen[tx.Nonce()] = true
			res.Found = append(res.Found, OnChain{Payload: p, Tx: tx, Block: n, BlockTime: time.Unix(int64(blk.Time()), 0).UTC()})
			res.Highest = max(res.Highest, p.BatchID)
		}
		if uint64(len(seen)) == want || n <= lowest {
			res.Complete = true
			break
		}
	}
	slices.SortStableFunc(res.Found, func(x, y OnChain) int {
		if x.BatchID != y.BatchID {
			return cmpU64(x.BatchID, y.BatchID)
		}
		return cmpU64(x.Block, y.Block)
	})
	return res, nil
}

func cmpU64(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// newestMined returns the anchor on this chain, mined or confirmed, of
// the newest batch that has one, among the storeWalk newest batches.
func (a *Anchorer) newestMined(ctx context.Context) (store.Anchor, bool, error) {
	latest, err := a.store.LatestBatch(ctx)
	if err != nil {
		return store.Anchor{}, false, err
	}
	after := uint64(0)
	if latest > storeWalk {
		after = latest - storeWalk
	}
	bs, err := a.store.Batches(ctx, after, storeWalk)
	if err != nil {
		return store.Anchor{}, false, err
	}
	var best store.Anchor
	found := false
	for _, b := range bs {
		if rec, ok := b.Anchor(a.ChainID()); ok && rec.State != store.AnchorSigned && (!found || rec.Nonce > best.Nonce) {
			best, found = rec, true
		}
	}
	return best, found, nil
}
