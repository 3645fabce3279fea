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
	if err != nil || !es[0].New || es[1].New {
		t.Fatalf("Submit after migration = %+v, %v", es, err)
	}
	if rec, e, err := s.Submission(ctx, fp(0), "inst"); err != nil || e.BatchID != 1 || !rec.ReceivedAt.Equal(recv) {
		t.Fatalf("Submission after migration = %+v, %+v, %v", rec, e, err)
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

// TestMigrateFormat3 opens a format 3 store (format 4 without the log's
// subs bucket, so its only records are its entries): it opens as format 4,
// its entries are their submitters' records, and another institution's
// record is kept from then on, across a reopen.
func TestMigrateFormat3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	recv, later := time.Unix(1700000000, 123).UTC(), time.Unix(1700000001, 456).UTC()
	fp := fingerprint.Sum([]byte("format 3"))
	s := open(t, path, true)
	if _, err := s.Submit(ctx, []store.Submission{{Fingerprint: fp, Institution: "A", ReceivedAt: recv}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Make it format 3.
	for _, f := range []struct {
		path string
		fn   func(*bbolt.Tx) error
	}{
		{path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, u64(3)) }},
		{path + LogSuffix, func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketSubs) }},
	} {
		db, err := bbolt.Open(f.path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(f.fn); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}

	s = open(t, path, true)
	if err := s.db.View(func(tx *bbolt.Tx) error {
		if v := getU64(tx.Bucket(bucketMeta), keyVersion); v != formatVersion {
			t.Errorf("format %d after opening a format 3 store, want %d", v, formatVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rec, _, err := s.Submission(ctx, fp, "A"); err != nil || !rec.ReceivedAt.Equal(recv) {
		t.Fatalf("Submission(A) after migration = %+v, %v; want received %v", rec, err, recv)
	}
	recs, err := s.Submit(ctx, []store.Submission{{Fingerprint: fp, Institution: "B", ReceivedAt: later}})
	if err != nil || !recs[0].ReceivedAt.Equal(later) || recs[0].New {
		t.Fatalf("B's Submit after migration = %+v, %v; want its own time %v", recs, err, later)
	}
	s.Close()
	s = open(t, path, true)
	for inst, want := range map[string]time.Time{"A": recv, "B": later} {
		if rec, _, err := s.Submission(ctx, fp, inst); err != nil || !rec.ReceivedAt.Equal(want) {
			t.Errorf("Submission(%s) after reopen = %+v, %v; want received %v", inst, rec, err, want)
		}
	}
}
