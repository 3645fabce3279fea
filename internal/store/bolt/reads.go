package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// Submission implements store.Store: the entry from the main file (or the
// log while unindexed), and a record that is not the entry from the log's
// subs bucket.
func (s *Store) Submission(ctx context.Context, fp fingerprint.Fingerprint, institution string) (store.Record, store.Entry, error) {
	var rec store.Record
	var e store.Entry
	err := s.viewEntries(ctx, func(tx *bbolt.Tx, idx *runSet) error {
		var err error
		if e, err = s.entryIn(tx, idx, fp); err != nil {
			return err
		}
		rec = store.Record{Fingerprint: fp, Institution: institution, ReceivedAt: e.ReceivedAt}
		if e.Institution == institution {
			return nil
		}
		return s.log.View(func(ltx *bbolt.Tx) error {
			v := ltx.Bucket(bucketSubs).Get(subKey(fp, institution))
			if v == nil {
				return fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
			}
			rec.ReceivedAt, err = decodeSub(fp, v)
			return err
		})
	})
	if err != nil {
		return store.Record{}, store.Entry{}, err
	}
	return rec, e, nil
}

// known looks fp up in the index filters, then in the unindexed maps
// (with its record in lg) and then in the index idx. The caller holds imu
// for reading and took idx after taking it.
func (s *Store) known(fp fingerprint.Fingerprint, lg ingestLog, idx *runSet, sealed uint64, starts *bbolt.Bucket) (store.Entry, bool, error) {
	if s.filter.absent(&fp) {
		return store.Entry{}, false, nil // certainly new: no map or run look-up
	}
	var v []byte
	if seq, ok := s.unindexedSeq(&fp); ok {
		rec, err := lg.get(seq)
		if err != nil {
			return store.Entry{}, false, err
		}
		if len(rec) < 32 || !bytes.Equal(rec[:32], fp[:]) {
			return store.Entry{}, false, fmt.Errorf("bolt: unindexed fingerprint %x has no log record %d", fp[:], seq)
		}
		v = rec[32:]
	} else {
		var ok bool
		var err error
		if v, ok, err = idx.get(&fp); err != nil || !ok {
			return store.Entry{}, false, err
		}
	}
	e, err := decodeEntry(fp, v, sealed, starts)
	return e, err == nil, err
}

// unindexedSeq returns the sequence number of fp if it is in an unindexed
// map. The caller holds imu for reading.
func (s *Store) unindexedSeq(fp *fingerprint.Fingerprint) (uint64, bool) {
	if seq, ok := s.unindexed[*fp]; ok {
		return seq, true
	}
	seq, ok := s.merging[*fp]
	return seq, ok
}

// Entry implements store.Store.
func (s *Store) Entry(ctx context.Context, fp fingerprint.Fingerprint) (store.Entry, error) {
	var e store.Entry
	err := s.viewEntries(ctx, func(tx *bbolt.Tx, idx *runSet) error {
		var err error
		e, err = s.entryIn(tx, idx, fp)
		return err
	})
	return e, err
}

// viewEntries runs fn in a read transaction of the main file and with the
// index's current runs, both taken with imu held for reading, as entryIn
// needs.
func (s *Store) viewEntries(ctx context.Context, fn func(*bbolt.Tx, *runSet) error) error {
	return s.do(ctx, func() error {
		s.imu.RLock()
		defer s.imu.RUnlock()
		idx := s.acquireRuns()
		defer idx.release(s)
		return s.db.View(func(tx *bbolt.Tx) error { return fn(tx, idx) })
	})
}

// Proof implements store.Store in one read transaction of the main file
// (and one of the log while fp is unindexed).
func (s *Store) Proof(ctx context.Context, fp fingerprint.Fingerprint) (store.Proof, error) {
	var p store.Proof
	err := s.viewEntries(ctx, func(tx *bbolt.Tx, idx *runSet) error {
		e, err := s.entryIn(tx, idx, fp)
		if err != nil {
			return err
		}
		stmts, err := statementsAbout(tx, fp)
		if err != nil {
			return err
		}
		if e.Pending() {
			p.Entry, p.Statements = e, stmts
			return nil
		}
		v := tx.Bucket(bucketBatch).Get(u64(e.BatchID))
		if v == nil { // not ErrNotFound: the fingerprint exists
			return fmt.Errorf("bolt: %x is in batch %d, which is missing", fp[:], e.BatchID)
		}
		b, err := s.loadBatch(tx, e.BatchID, v)
		if err != nil {
			return err
		}
		pos, err := merkle.PathPositions(e.Index, b.Size)
		if err != nil {
			return fmt.Errorf("bolt: batch %d: %w", b.ID, err)
		}
		path := make([][32]byte, len(pos))
		if err := nodesIn(tx, b.ID, pos, path); err != nil {
			return err
		}
		p = store.Proof{Entry: e, Batch: b, Path: path, Statements: stmts}
		return nil
	})
	return p, err
}

// entryIn reads the entry of fp in tx, a read transaction of the main
// file, and idx, both taken with imu held for reading.
func (s *Store) entryIn(tx *bbolt.Tx, idx *runSet, fp fingerprint.Fingerprint) (store.Entry, error) {
	starts := tx.Bucket(bucketStarts)
	sealed := getU64(tx.Bucket(bucketMeta), keySealed)
	if _, ok := s.unindexedSeq(&fp); !ok {
		v, ok, err := idx.get(&fp)
		if err != nil {
			return store.Entry{}, err
		}
		if !ok {
			return store.Entry{}, fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
		}
		return decodeEntry(fp, v, sealed, starts)
	}
	var e store.Entry
	err := s.log.View(func(ltx *bbolt.Tx) error {
		var err error
		e, _, err = s.known(fp, s.logOf(ltx), idx, sealed, starts)
		return err
	})
	return e, err
}

// PendingStats implements store.Store in O(1): the count is the log's
// sequence minus the last sealed one, and the oldest is the log record
// after the last sealed one.
func (s *Store) PendingStats(ctx context.Context) (count int, oldest time.Time, err error) {
	err = s.do(ctx, func() error {
		return s.log.View(func(ltx *bbolt.Tx) error {
			lg := s.logOf(ltx)
			sealed := s.sealed.Load()
			if last := lg.last(); last > sealed {
				count = int(last - sealed)
			} else {
				return nil
			}
			rec, err := lg.get(sealed + 1)
			if err != nil || rec == nil {
				return err // nil: sealed meanwhile, count is an overestimate for a moment
			}
			e, err := decodeEntry(fingerprint.Fingerprint(rec[:32]), rec[32:], 0, nil)
			oldest = e.ReceivedAt
			return err
		})
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return count, oldest, nil
}

// Pending implements store.Store. max <= 0 returns none.
func (s *Store) Pending(ctx context.Context, limit int) ([]fingerprint.Fingerprint, error) {
	var out []fingerprint.Fingerprint
	err := s.do(ctx, func() error {
		return s.log.View(func(ltx *bbolt.Tx) error {
			lg := s.logOf(ltx)
			sealed := s.sealed.Load()
			n := int(min(uint64(max(limit, 0)), lg.last()-min(sealed, lg.last())))
			out = make([]fingerprint.Fingerprint, 0, n)
			if n == 0 {
				return nil
			}
			return lg.scan(sealed+1, func(_ uint64, rec []byte) (bool, error) {
				out = append(out, fingerprint.Fingerprint(rec[:32]))
				return len(out) < n, nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Batch implements store.Store.
func (s *Store) Batch(ctx context.Context, id uint64) (store.Batch, error) {
	var b store.Batch
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketBatch).Get(u64(id))
		if v == nil {
			return fmt.Errorf("batch %d: %w", id, store.ErrNotFound)
		}
		var err error
		b, err = s.loadBatch(tx, id, v)
		return err
	})
	return b, err
}

// Batches implements store.Store. limit <= 0 returns none.
func (s *Store) Batches(ctx context.Context, after uint64, limit int) ([]store.Batch, error) {
	out := []store.Batch{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if after == math.MaxUint64 {
			return nil
		}
		c := tx.Bucket(bucketBatch).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			b, err := s.loadBatch(tx, binary.BigEndian.Uint64(k), v)
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

// LatestBatch implements store.Store: the batch bucket's sequence is the
// last batch ID handed out, in the transaction that wrote that batch.
func (s *Store) LatestBatch(ctx context.Context) (uint64, error) {
	var last uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		last = tx.Bucket(bucketBatch).Sequence()
		return nil
	})
	return last, err
}

// nodesIn reads the nodes of batch id at pos into out (len(pos)) in tx.
func nodesIn(tx *bbolt.Tx, id uint64, pos []merkle.Pos, out [][32]byte) error {
	c := tx.Bucket(bucketLevels).Cursor()
	want := levelKey(id, 0) // the cursor does not keep it: reuse it
	var k, cur []byte
	curLevel := -1
	for i, p := range pos {
		if p.Level < 0 || p.Level > math.MaxUint8 {
			return fmt.Errorf("bolt: batch %d has no level %d", id, p.Level)
		}
		if p.Level != curLevel {
			// Positions come level by level, upwards (PathPositions):
			// step to the next level's key, or seek when that fails.
			want[8] = byte(p.Level)
			if k == nil || p.Level != curLevel+1 {
				k, cur = c.Seek(want)
			} else {
				k, cur = c.Next()
			}
			if !bytes.Equal(k, want) {
				return fmt.Errorf("bolt: batch %d has no level %d", id, p.Level)
			}
			curLevel = p.Level
		}
		if p.Index >= uint64(len(cur)/32) {
			return fmt.Errorf("bolt: batch %d level %d has no node %d (%d nodes)", id, p.Level, p.Index, len(cur)/32)
		}
		copy(out[i][:], cur[32*p.Index:])
	}
	return nil
}

// loadBatch decodes header v of batch id and reads its anchors.
func (s *Store) loadBatch(tx *bbolt.Tx, id uint64, v []byte) (store.Batch, error) {
	b, err := decodeHeader(id, v)
	if err != nil {
		return b, err
	}
	prefix := u64(id)
	c := tx.Bucket(bucketAnchor).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != 16 {
			return b, fmt.Errorf("bolt: bad anchor key %x", k)
		}
		a, err := s.anchors.decode(id, binary.BigEndian.Uint64(k[8:]), v)
		if err != nil {
			return b, err
		}
		b.Anchors = append(b.Anchors, a)
	}
	return b, nil
}
