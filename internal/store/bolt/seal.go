package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// CommitBatch implements store.Store. Besides ErrConflict it refuses, with
// other errors, an empty fps or a tree that is not the tree of fps (see
// checkTree); those checks run before the transaction.
func (s *Store) CommitBatch(ctx context.Context, fps []fingerprint.Fingerprint, tree *merkle.Tree, sealedAt time.Time) (store.Batch, error) {
	if err := ctx.Err(); err != nil {
		return store.Batch{}, err
	}
	if err := store.CheckTree(fps, tree); err != nil {
		return store.Batch{}, err
	}
	b := store.Batch{Size: tree.Size, Root: tree.Root, SealedAt: decodeTime(encodeTime(sealedAt))}
	var last uint64
	err := s.do(ctx, func() error {
		// fps must be the head of the pending queue, in order: the log
		// records after the last sealed one. The log is read first, in its
		// own view; the main transaction then checks "sealed" is unchanged.
		first := s.sealed.Load() + 1
		err := s.log.View(func(ltx *bbolt.Tx) error {
			i := 0
			err := s.logOf(ltx).scan(first, func(seq uint64, rec []byte) (bool, error) {
				if seq != first+uint64(i) || !bytes.Equal(rec[:32], fps[i][:]) {
					return false, nil
				}
				i++
				return i < len(fps), nil
			})
			if err == nil && i < len(fps) {
				err = fmt.Errorf("%w: fingerprint %d of %d (%x) is not at that place in the pending queue", store.ErrConflict, i, len(fps), fps[i][:])
			}
			return err
		})
		if err != nil {
			return err
		}
		last = first + uint64(len(fps)) - 1
		return s.write(fileIndex, func(tx *bbolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if sealed := getU64(meta, keySealed); sealed != first-1 {
				return fmt.Errorf("%w: sealed through %d meanwhile, not %d", store.ErrConflict, sealed, first-1)
			}
			batches := tx.Bucket(bucketBatch)
			batches.FillPercent = 1
			id, err := batches.NextSequence()
			if err != nil {
				return err
			}
			b.ID = id
			starts := tx.Bucket(bucketStarts)
			starts.FillPercent = 1
			if err := starts.Put(u64(first), u64(id)); err != nil {
				return err
			}
			if err := meta.Put(keySealed, u64(last)); err != nil {
				return err
			}
			if err := batches.Put(u64(id), encodeHeader(b)); err != nil {
				return err
			}
			levels := tx.Bucket(bucketLevels)
			levels.FillPercent = 1
			for l, level := range tree.Levels {
				// The caller's level slices stay untouched until Update returns.
				if err := levels.Put(levelKey(id, l), level); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return store.Batch{}, err
	}
	s.sealed.Store(last)
	return b, nil
}

// AdoptBatch implements store.Store: the batch's header alone, under the
// next ID of the batch bucket's sequence; no start (no fingerprint is in
// it), no levels, and the sealed mark is unchanged.
func (s *Store) AdoptBatch(ctx context.Context, b store.Batch) error {
	if b.Size == 0 {
		return fmt.Errorf("%w: batch %d adopted with size 0", store.ErrConflict, b.ID)
	}
	b.SealedAt = decodeTime(encodeTime(b.SealedAt))
	header := encodeHeader(b)
	return s.update(ctx, func(tx *bbolt.Tx) error {
		batches := tx.Bucket(bucketBatch)
		seq := batches.Sequence()
		if b.ID <= seq {
			if bytes.Equal(batches.Get(u64(b.ID)), header) {
				return nil
			}
			return fmt.Errorf("%w: batch %d exists with another header", store.ErrConflict, b.ID)
		}
		if b.ID != seq+1 {
			return fmt.Errorf("%w: batch %d adopted after batch %d", store.ErrConflict, b.ID, seq)
		}
		if err := batches.SetSequence(b.ID); err != nil {
			return err
		}
		batches.FillPercent = 1
		return batches.Put(u64(b.ID), header)
	})
}
