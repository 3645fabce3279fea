package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/store"
)

// recoverBatchIDs compares the store with the anchoring accounts' own
// anchors on chain (anchor.Anchorer.Scan) before a term seals anything,
// so that batch IDs are never reused after the store was restored from a
// backup: a batch ID the chain holds above the store's newest batch is
// adopted (store.AdoptBatch, with the root and size the chain holds, and
// its anchor record), so the sealer continues above the highest such ID
// over every chain; a found anchor of a batch the store has with the
// same root gets its anchor record back when the store lost it. A chain
// whose scan fails is skipped with a warning (sealing is not held up by
// one endpoint being down at start).
func (p *pipeline) recoverBatchIDs(ctx context.Context, ancs []*anchor.Anchorer) error {
	type hit struct {
		a *anchor.Anchorer
		o anchor.OnChain
	}
	byID := map[uint64][]hit{}
	for _, a := range ancs {
		res, err := a.Scan(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.log.WarnContext(ctx, "could not scan the chain for this issuer's anchors at start; batch IDs it holds that the store lost (a restored backup) are not checked", "chain", a.ChainID(), "err", err)
			continue
		}
		p.m.ChainBatchHighest.WithLabelValues(strconv.FormatUint(a.ChainID(), 10)).Set(float64(res.Highest))
		if !res.Complete {
			p.log.WarnContext(ctx, "the scan for this issuer's anchors stopped at the configured depth before finding every transaction of the anchoring account; older lost batch IDs are not checked (raise the scan depth)",
				"chain", a.ChainID(), "blocks", res.Scanned, "found", len(res.Found))
		} else if res.Scanned > 0 {
			p.log.InfoContext(ctx, "scanned the chain for this issuer's anchors the store does not know as mined", "chain", a.ChainID(), "blocks", res.Scanned, "found", len(res.Found))
		}
		for _, o := range res.Found {
			byID[o.BatchID] = append(byID[o.BatchID], hit{a, o})
		}
	}
	latest, err := p.store.LatestBatch(ctx)
	if err != nil {
		return err
	}
	ids := make([]uint64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// putRecords gives b the anchor record of each hit whose chain has none
	// and whose root is b's.
	putRecords := func(b store.Batch, hits []hit) error {
		for _, h := range hits {
			if h.o.Root != b.Root || h.o.Size != b.Size {
				p.log.ErrorContext(ctx, "a batch ID is anchored on chain with another root than the store's batch of that ID; left as it is",
					"batch", b.ID, "chain", h.a.ChainID(), "tx", h.o.Tx.Hash().Hex(), "root_on_chain", fmt.Sprintf("%x", h.o.Root), "root", fmt.Sprintf("%x", b.Root))
				continue
			}
			if _, ok := b.Anchor(h.a.ChainID()); ok {
				continue
			}
			rec, err := h.a.Record(h.o)
			if err != nil {
				return err
			}
			if err := p.store.PutAnchor(ctx, rec, ""); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("restoring the anchor record of batch %d on chain %d: %w", b.ID, h.a.ChainID(), err)
			}
			b.Anchors = append(b.Anchors, rec)
			p.log.InfoContext(ctx, "anchor record restored from the chain", "batch", b.ID, "chain", h.a.ChainID(), "tx", rec.TxHash.Hex())
		}
		return nil
	}
	var adopted []uint64
	for _, id := range ids {
		hits := byID[id]
		if id <= latest {
			b, err := p.store.Batch(ctx, id)
			if err != nil {
				return err
			}
			if err := putRecords(b, hits); err != nil {
				return err
			}
			continue
		}
		if next := latest + 1; id != next {
			return fmt.Errorf("batch %d is anchored on chain but %d (the store's next) is on none of the scanned chains; not sealing under IDs the chain may hold", id, next)
		}
		first := hits[0].o
		b := store.Batch{ID: id, Size: first.Size, Root: first.Root, SealedAt: first.BlockTime}
		for _, h := range hits[1:] {
			if h.o.Root != b.Root || h.o.Size != b.Size {
				return fmt.Errorf("batch %d is anchored with two roots (%x on chain %d, %x on chain %d); not adopting it", id, b.Root, hits[0].a.ChainID(), h.o.Root, h.a.ChainID())
			}
			b.SealedAt = minTime(b.SealedAt, h.o.BlockTime)
		}
		if err := p.store.AdoptBatch(ctx, b); err != nil {
			return fmt.Errorf("adopting batch %d from the chain: %w", id, err)
		}
		if err := putRecords(b, hits); err != nil {
			return err
		}
		p.m.BatchIDsSkipped.Inc()
		adopted = append(adopted, id)
		latest = id
	}
	if len(adopted) > 0 {
		p.log.WarnContext(ctx, "batch IDs found anchored on chain by this issuer but missing from the store (restored from a backup?): adopted from the chain with their roots, never sealed again; their fingerprints are not in this store",
			"batch_ids", adopted, "next_batch", latest+1)
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
