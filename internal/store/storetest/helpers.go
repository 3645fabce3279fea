package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
)

// t0 has a nanosecond part so that a backend that truncates times fails.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// at returns t0 plus i milliseconds.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }

// fp returns a fingerprint unique to the test and parts.
func fp(t *testing.T, parts ...any) fingerprint.Fingerprint {
	return fingerprint.Sum(fmt.Append(nil, t.Name(), parts))
}

func build(t *testing.T, fps []fingerprint.Fingerprint) *merkle.Tree {
	t.Helper()
	tree, err := merkle.Build(fps)
	if err != nil {
		t.Fatalf("merkle.Build: %v", err)
	}
	return tree
}

// seal commits the first n pending fingerprints as a batch.
func seal(t *testing.T, s store.Store, n int, sealedAt time.Time) (store.Batch, *merkle.Tree) {
	t.Helper()
	fps := mustPending(t, s, n)
	if len(fps) == 0 {
		t.Fatal("seal: nothing pending")
	}
	tree := build(t, fps)
	b, err := s.CommitBatch(context.Background(), fps, tree, sealedAt)
	if err != nil {
		t.Fatalf("CommitBatch(%d fingerprints): %v", len(fps), err)
	}
	return b, tree
}

func mustSubmit(t *testing.T, s store.Store, subs ...store.Submission) []store.Record {
	t.Helper()
	es, _, err := s.Submit(context.Background(), subs, 0)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return es
}

func mustEntry(t *testing.T, s store.Store, f fingerprint.Fingerprint) store.Entry {
	t.Helper()
	e, err := s.Entry(context.Background(), f)
	if err != nil {
		t.Fatalf("Entry(%v): %v", f, err)
	}
	return e
}

func mustPending(t *testing.T, s store.Store, max int) []fingerprint.Fingerprint {
	t.Helper()
	fps, err := s.Pending(context.Background(), max)
	if err != nil {
		t.Fatalf("Pending(%d): %v", max, err)
	}
	return fps
}

func mustBatch(t *testing.T, s store.Store, id uint64) store.Batch {
	t.Helper()
	b, err := s.Batch(context.Background(), id)
	if err != nil {
		t.Fatalf("Batch(%d): %v", id, err)
	}
	return b
}

func mustBatches(t *testing.T, s store.Store, after uint64, limit int) []store.Batch {
	t.Helper()
	bs, err := s.Batches(context.Background(), after, limit)
	if err != nil {
		t.Fatalf("Batches(%d, %d): %v", after, limit, err)
	}
	return bs
}

func mustPutAnchor(t *testing.T, s store.Store, a store.Anchor, prev store.AnchorState) {
	t.Helper()
	if err := s.PutAnchor(context.Background(), a, prev); err != nil {
		t.Fatalf("PutAnchor(batch %d, chain %d, %s, prev %q): %v", a.BatchID, a.ChainID, a.State, prev, err)
	}
}

func checkPendingStats(t *testing.T, s store.Store, wantCount int, wantOldest time.Time) {
	t.Helper()
	n, oldest, err := s.PendingStats(context.Background())
	if err != nil {
		t.Fatalf("PendingStats: %v", err)
	}
	if n != wantCount || !oldest.Equal(wantOldest) {
		t.Errorf("PendingStats = %d, %v; want %d, %v", n, oldest, wantCount, wantOldest)
	}
}

func checkUnconfirmed(t *testing.T, s store.Store, chainID uint64, limit int, want ...uint64) {
	t.Helper()
	got, err := s.Unconfirmed(context.Background(), chainID, limit)
	if err != nil {
		t.Fatalf("Unconfirmed(%d, %d): %v", chainID, limit, err)
	}
	ids := make([]uint64, len(got))
	for i, b := range got {
		ids[i] = b.ID
	}
	if !slices.Equal(ids, want) {
		t.Errorf("Unconfirmed(chain %d, limit %d) = batches %v, want %v", chainID, limit, ids, want)
	}
}

// checkProof checks Proof(e.Fingerprint): e with batch b and its path in
// tree, or e alone while it is pending (tree nil).
func checkProof(t *testing.T, s store.Store, e store.Entry, b store.Batch, tree *merkle.Tree) {
	t.Helper()
	p, err := s.Proof(context.Background(), e.Fingerprint)
	if err != nil {
		t.Fatalf("Proof(%v): %v", e.Fingerprint, err)
	}
	if !entryEqual(p.Entry, e) {
		t.Errorf("Proof(%v).Entry = %+v, want %+v", e.Fingerprint, p.Entry, e)
	}
	if tree == nil {
		if p.Batch.ID != 0 || p.Path != nil {
			t.Errorf("Proof(%v) of a pending entry has batch %d and %d path nodes, want none", e.Fingerprint, p.Batch.ID, len(p.Path))
		}
		return
	}
	checkBatch(t, p.Batch, b)
	want, err := tree.Proof(e.Index)
	if err != nil {
		t.Fatalf("Proof(%d): %v", e.Index, err)
	}
	if !slices.Equal(p.Path, want) {
		t.Errorf("Proof(%v).Path = %x, want the tree's proof of leaf %d %x", e.Fingerprint, p.Path, e.Index, want)
	}
}

// checkLatest checks that LatestBatch is want.
func checkLatest(t *testing.T, s store.Store, want uint64) {
	t.Helper()
	if got, err := s.LatestBatch(context.Background()); err != nil || got != want {
		t.Errorf("LatestBatch = %d, %v; want %d", got, err, want)
	}
}

// checkPartition checks that the first total fingerprints of the test
// (fp(t, "", 0..total-1)) are each in exactly one batch, that batch indexes
// are each used once, and that batch sizes add up.
func checkPartition(t *testing.T, s store.Store, total int) {
	t.Helper()
	type slot struct{ batch, index uint64 }
	used := map[slot]fingerprint.Fingerprint{}
	for i := range total {
		f := fp(t, "", i)
		e := mustEntry(t, s, f)
		if e.Pending() {
			continue
		}
		k := slot{e.BatchID, e.Index}
		if other, ok := used[k]; ok {
			t.Errorf("fingerprints %v and %v are both at index %d of batch %d", other, f, e.Index, e.BatchID)
		}
		used[k] = f
	}
	sealed := 0
	for _, b := range mustBatches(t, s, 0, 1<<20) {
		for i := range b.Size {
			if _, ok := used[slot{b.ID, i}]; !ok {
				t.Errorf("batch %d index %d: no fingerprint's entry points there", b.ID, i)
			}
		}
		sealed += int(b.Size)
	}
	n, _, err := s.PendingStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(used) != sealed || sealed+n != total {
		t.Errorf("%d entries sealed, batches hold %d, %d pending; want %d in all", len(used), sealed, n, total)
	}
	for _, f := range mustPending(t, s, total+1) {
		if e := mustEntry(t, s, f); !e.Pending() {
			t.Errorf("fingerprint %v is pending and in batch %d", f, e.BatchID)
		}
	}
}

func checkBatch(t *testing.T, got, want store.Batch) {
	t.Helper()
	if got.ID != want.ID || got.Size != want.Size || got.Root != want.Root || !got.SealedAt.Equal(want.SealedAt) {
		t.Errorf("batch = {ID %d Size %d Root %x SealedAt %v}, want {ID %d Size %d Root %x SealedAt %v}",
			got.ID, got.Size, got.Root, got.SealedAt, want.ID, want.Size, want.Root, want.SealedAt)
	}
	checkAnchors(t, got, want.Anchors...)
}

func checkAnchors(t *testing.T, b store.Batch, want ...store.Anchor) {
	t.Helper()
	if len(b.Anchors) != len(want) {
		t.Errorf("batch %d has %d anchors, want %d", b.ID, len(b.Anchors), len(want))
		return
	}
	for i := range want {
		if diff := anchorDiff(b.Anchors[i], want[i]); diff != "" {
			t.Errorf("batch %d anchor %d: %s", b.ID, i, diff)
		}
	}
}

// own is the record sub's institution should get, received at recv.
func own(sub store.Submission, recv time.Time, isNew bool) store.Record {
	return store.Record{Fingerprint: sub.Fingerprint, Institution: sub.Institution, ReceivedAt: recv, New: isNew}
}

func recordEqual(a, b store.Record) bool {
	return a.Fingerprint == b.Fingerprint && a.Institution == b.Institution && a.ReceivedAt.Equal(b.ReceivedAt) && a.New == b.New
}

// checkSubmission checks that Submission(f, inst) is inst's own record,
// received at recv, with the entry want.
func checkSubmission(t *testing.T, s store.Store, f fingerprint.Fingerprint, inst string, recv time.Time, want store.Entry) {
	t.Helper()
	rec, e, err := s.Submission(context.Background(), f, inst)
	if err != nil {
		t.Errorf("Submission(%v, %q): %v", f, inst, err)
		return
	}
	if w := (store.Record{Fingerprint: f, Institution: inst, ReceivedAt: recv}); !recordEqual(rec, w) {
		t.Errorf("Submission(%v, %q) record = %+v, want %+v", f, inst, rec, w)
	}
	if !entryEqual(e, want) {
		t.Errorf("Submission(%v, %q) entry = %+v, want %+v", f, inst, e, want)
	}
}

func entryEqual(a, b store.Entry) bool {
	return a.Fingerprint == b.Fingerprint && a.Institution == b.Institution && a.ReceivedAt.Equal(b.ReceivedAt) &&
		a.BatchID == b.BatchID && a.Index == b.Index
}
