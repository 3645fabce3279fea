package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/attestd/attestd/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// Unconfirmed implements store.Store. limit <= 0 returns none.
func (s *Store) Unconfirmed(ctx context.Context, chainID uint64, limit int) ([]store.Batch, error) {
	out := []store.Batch{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		anchors := tx.Bucket(bucketAnchor)
		c := tx.Bucket(bucketBatch).Cursor()
		for k, v := c.Seek(u64(lowConf(tx, chainID))); k != nil && len(out) < limit; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			id := binary.BigEndian.Uint64(k)
			if st, err := store.AnchorStateOf(anchors.Get(anchorKey(id, chainID))); err != nil {
				return err
			} else if st == store.AnchorConfirmed {
				continue
			}
			b, err := s.loadBatch(tx, id, v)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutAnchor implements store.Store. a.State must be one of the three
// AnchorStates and prev one of them or empty. Any transition is allowed if
// prev matches, including back from mined or confirmed after a reorg.
func (s *Store) PutAnchor(ctx context.Context, a store.Anchor, prev store.AnchorState) error {
	val, err := store.EncodeAnchorWrite(a, prev)
	if err != nil {
		return fmt.Errorf("bolt: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		batches := tx.Bucket(bucketBatch)
		if batches.Get(u64(a.BatchID)) == nil {
			return fmt.Errorf("batch %d: %w", a.BatchID, store.ErrNotFound)
		}
		anchors := tx.Bucket(bucketAnchor)
		key := anchorKey(a.BatchID, a.ChainID)
		cur, err := store.AnchorStateOf(anchors.Get(key))
		if err != nil {
			return err
		}
		if cur != prev {
			return fmt.Errorf("%w: anchor of batch %d on chain %d is %q, not %q", store.ErrConflict, a.BatchID, a.ChainID, cur, prev)
		}
		if err := anchors.Put(key, val); err != nil {
			return err
		}

		low := lowConf(tx, a.ChainID)
		switch {
		case a.State != store.AnchorConfirmed && a.BatchID < low:
			low = a.BatchID
		case a.State == store.AnchorConfirmed && a.BatchID == low:
			last := batches.Sequence()
			for low++; low <= last; low++ {
				st, err := store.AnchorStateOf(anchors.Get(anchorKey(low, a.ChainID)))
				if err != nil {
					return err
				}
				if st != store.AnchorConfirmed {
					break
				}
			}
		default:
			return nil
		}
		return tx.Bucket(bucketMeta).Put(lowConfKey(a.ChainID), u64(low))
	})
}

// lowConf returns the lowest batch ID that may be unconfirmed on chainID.
func lowConf(tx *bbolt.Tx, chainID uint64) uint64 {
	if v := tx.Bucket(bucketMeta).Get(lowConfKey(chainID)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 1
}

func lowConfKey(chainID uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(keyLowConf), chainID)
}

// anchorCache keeps decoded anchor records by their stored bytes: every
// proof read loads its batch's anchors, and decoding the JSON record was
// the largest part of a read's CPU (pprof in docs/benchmarks.md). A hit
// needs the stored bytes to be equal, so a rewritten record is decoded
// again; the slices of a hit are copied, so callers never share them.
// The zero value is an empty cache.
type anchorCache struct {
	mu sync.RWMutex
	m  map[[16]byte]cachedAnchor // by batch ID | chain ID
}

type cachedAnchor struct {
	raw []byte
	a   store.Anchor
}

// anchorCacheMax bounds the cache's records; a full cache is emptied.
const anchorCacheMax = 4096

// decode is store.DecodeAnchor through the cache.
func (ac *anchorCache) decode(id, chainID uint64, v []byte) (store.Anchor, error) {
	var key [16]byte
	binary.BigEndian.PutUint64(key[:], id)
	binary.BigEndian.PutUint64(key[8:], chainID)
	ac.mu.RLock()
	c, ok := ac.m[key]
	ac.mu.RUnlock()
	if !ok || !bytes.Equal(c.raw, v) {
		a, err := store.DecodeAnchor(id, chainID, v)
		if err != nil {
			return a, err
		}
		c = cachedAnchor{raw: bytes.Clone(v), a: a}
		ac.mu.Lock()
		if ac.m == nil || len(ac.m) >= anchorCacheMax {
			ac.m = make(map[[16]byte]cachedAnchor)
		}
		ac.m[key] = c
		ac.mu.Unlock()
	}
	a := c.a
	a.RawTx = bytes.Clone(a.RawTx)
	a.Replaced = slices.Clone(a.Replaced)
	if a.FeeWei != nil {
		a.FeeWei = new(big.Int).Set(a.FeeWei)
	}
	return a, nil
}
