package bolt

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
)

// TestMigrateFormat1 opens a store written in format 1 (batch and index
// stored in every entry): sealed entries keep their batch and index,
// pending ones get their sequence numbers and seal as usual afterwards.
func TestMigrateFormat1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	recv := time.Unix(1700000000, 123).UTC()
	fp := func(i int) fingerprint.Fingerprint { return fingerprint.Sum([]byte{byte(i)}) }
	v1 := func(batch, index uint64) []byte {
		v := []byte{1}
		v = binary.BigEndian.AppendUint64(v, uint64(recv.UnixNano()))
		v = binary.BigEndian.AppendUint64(v, batch)
		v = binary.BigEndian.AppendUint64(v, index)
		return append(v, "inst"...)
	}
	// Format 1: fingerprints 0, 1 sealed in batch 1; 2, 3 pending (seq 3, 4).
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := merkle.Build([]fingerprint.Fingerprint{fp(0), fp(1)})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, n := range [][]byte{bucketMeta, bucketFP, bucketPending, bucketBatch, bucketLevels, bucketAnchor} {
			if _, err := tx.CreateBucket(n); err != nil {
				return err
			}
		}
		meta, fps, pending, batches := tx.Bucket(bucketMeta), tx.Bucket(bucketFP), tx.Bucket(bucketPending), tx.Bucket(bucketBatch)
		meta.Put(keyVersion, u64(1))
		meta.Put(keyPending, u64(2))
		for i := range 4 {
			seq, _ := pending.NextSequence()
			f := fp(i)
			if i < 2 {
				fps.Put(f[:], v1(1, uint64(i)))
			} else {
				fps.Put(f[:], v1(0, 0))
				pending.Put(u64(seq), f[:])
			}
		}
		id, _ := batches.NextSequence()
		batches.Put(u64(id), encodeHeader(store.Batch{Size: 2, Root: old.Root, SealedAt: recv}))
		for l, level := range old.Levels {
			tx.Bucket(bucketLevels).Put(levelKey(id, l), level)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, path, true)
	for i, want := range []store.Entry{{BatchID: 1, Index: 0}, {BatchID: 1, Index: 1}, {}, {}} {
		e, err := s.Entry(ctx, fp(i))
		if err != nil {
			t.Fatal(err)
		}
		if e.BatchID != want.BatchID || e.Index != want.Index || !e.ReceivedAt.Equal(recv) || e.Institution != "inst" {
			t.Errorf("entry %d after migration = %+v, want batch %d index %d", i, e, want.BatchID, want.Index)
		}
	}
	if n, oldest, err := s.PendingStats(ctx); err != nil || n != 2 || !oldest.Equal(recv) {
		t.Errorf("PendingStats = %d, %v, %v", n, oldest, err)
	}
	es, err := s.Submit(ctx, []store.Submission{{Fingerprint: fp(4), Institution: "x"}, {Fingerprint: fp(0), Institution: "x"}})
	if err != nil || es[1].BatchID != 1 || es[1].Institution != "inst" {
		t.Fatalf("Submit after migration = %+v, %v", es, err)
	}
	pend, err := s.Pending(ctx, 10)
	if err != nil || len(pend) != 3 {
		t.Fatalf("Pending = %v, %v", pend, err)
	}
	tree, err := merkle.Build(pend)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CommitBatch(ctx, pend, tree, time.Now())
	if err != nil || b.ID != 2 {
		t.Fatalf("CommitBatch = %+v, %v", b, err)
	}
	for i, f := range pend {
		e, err := s.Entry(ctx, f)
		if err != nil || e.BatchID != 2 || e.Index != uint64(i) {
			t.Errorf("entry of pending %d after seal = %+v, %v", i, e, err)
		}
	}
	if e, _ := s.Entry(ctx, fp(1)); e.BatchID != 1 || e.Index != 1 {
		t.Errorf("format 1 entry after a new seal = %+v", e)
	}
}
