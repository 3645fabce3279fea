package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
)

func testCommitBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17}
	total := 0
	for _, n := range sizes {
		total += n
	}
	var all []fingerprint.Fingerprint
	for i := range total {
		f := fp(t, "", i)
		all = append(all, f)
		mustSubmit(t, s, store.Submission{Fingerprint: f, Institution: "x", ReceivedAt: at(i)})
	}

	checkLatest(t, s, 0)
	done := 0
	for k, n := range sizes {
		b, tree := seal(t, s, n, at(1000+k))
		wantID := uint64(k + 1)
		if b.ID != wantID || b.Size != uint64(n) || b.Root != tree.Root || !b.SealedAt.Equal(at(1000+k)) || len(b.Anchors) != 0 {
			t.Fatalf("CommitBatch #%d = {ID %d Size %d Root %x SealedAt %v Anchors %v}, want {ID %d Size %d Root %x SealedAt %v}",
				k+1, b.ID, b.Size, b.Root, b.SealedAt, b.Anchors, wantID, n, tree.Root, at(1000+k))
		}
		checkBatch(t, mustBatch(t, s, b.ID), b)
		checkLatest(t, s, b.ID)
		for i := range n {
			e := mustEntry(t, s, all[done+i])
			if e.BatchID != b.ID || e.Index != uint64(i) || e.Pending() {
				t.Errorf("entry %d of batch %d: BatchID %d Index %d, want %d %d", i, b.ID, e.BatchID, e.Index, b.ID, i)
			}
			if !e.ReceivedAt.Equal(at(done+i)) || e.Institution != "x" {
				t.Errorf("entry %d of batch %d lost its submission data: %+v", i, b.ID, e)
			}
			checkProof(t, s, e, b, tree)
		}
		done += n
		for _, f := range all[done:] {
			e := mustEntry(t, s, f)
			if !e.Pending() {
				t.Errorf("entry %v not in batch %d is not pending: %+v", f, b.ID, e)
			}
			checkProof(t, s, e, store.Batch{}, nil)
		}
		if total-done > 0 {
			checkPendingStats(t, s, total-done, at(done))
		} else {
			checkPendingStats(t, s, 0, time.Time{})
		}
	}

	if _, err := s.Batch(ctx, uint64(len(sizes)+1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Batch(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Batch(ctx, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Batch(0) error = %v, want ErrNotFound", err)
	}
}

func testCommitBatchConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c, d := fp(t, "a"), fp(t, "b"), fp(t, "c"), fp(t, "d")
	mustSubmit(t, s,
		store.Submission{Fingerprint: a, Institution: "x", ReceivedAt: at(0)},
		store.Submission{Fingerprint: b, Institution: "x", ReceivedAt: at(1)},
		store.Submission{Fingerprint: c, Institution: "x", ReceivedAt: at(2)},
	)
	bad := map[string][]fingerprint.Fingerprint{
		"not the head":        {b},
		"a gap":               {a, c},
		"out of order":        {b, a},
		"a repeat":            {a, a},
		"beyond the queue":    {a, b, c, d},
		"unknown fingerprint": {d},
	}
	for name, fps := range bad {
		tree := build(t, fps)
		if got, err := s.CommitBatch(ctx, fps, tree, at(10)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CommitBatch(%s) = %+v, %v; want ErrConflict", name, got, err)
		}
	}
	checkUntouched := func() {
		t.Helper()
		checkPendingStats(t, s, 3, at(0))
		if got := mustPending(t, s, 10); !slices.Equal(got, []fingerprint.Fingerprint{a, b, c}) {
			t.Errorf("Pending after refused commits = %v, want [a b c]", got)
		}
		for _, f := range []fingerprint.Fingerprint{a, b, c} {
			if e := mustEntry(t, s, f); !e.Pending() {
				t.Errorf("entry %v changed by a refused commit: %+v", f, e)
			}
		}
		if got := mustBatches(t, s, 0, 10); len(got) != 0 {
			t.Errorf("Batches after refused commits = %+v, want none", got)
		}
	}
	checkUntouched()

	b1, _ := seal(t, s, 1, at(20))
	if b1.ID != 1 {
		t.Errorf("first batch after refused commits has ID %d, want 1", b1.ID)
	}
	// a is sealed now; sealing it again is a conflict.
	if _, err := s.CommitBatch(ctx, []fingerprint.Fingerprint{a}, build(t, []fingerprint.Fingerprint{a}), at(21)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CommitBatch(already sealed) error = %v, want ErrConflict", err)
	}
	if _, err := s.CommitBatch(ctx, []fingerprint.Fingerprint{a, b}, build(t, []fingerprint.Fingerprint{a, b}), at(21)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CommitBatch(sealed + pending) error = %v, want ErrConflict", err)
	}
	if e := mustEntry(t, s, a); e.BatchID != 1 || e.Index != 0 {
		t.Errorf("entry of a after a refused re-seal = %+v, want batch 1 index 0", e)
	}
	b2, _ := seal(t, s, 2, at(22))
	if b2.ID != 2 {
		t.Errorf("second batch has ID %d, want 2", b2.ID)
	}
	checkPendingStats(t, s, 0, time.Time{})
}

// testConcurrentCommit races two sealers that read the same Pending
// snapshot: exactly one wins each round.
func testConcurrentCommit(t *testing.T, s store.Store) {
	ctx := context.Background()
	const total = 60
	var subs []store.Submission
	for i := range total {
		subs = append(subs, store.Submission{Fingerprint: fp(t, "", i), Institution: "x", ReceivedAt: at(i)})
	}
	mustSubmit(t, s, subs...)

	for round := range 5 {
		// Sealer A takes 5 fingerprints, sealer B 8: both prefixes of the
		// same snapshot, so whichever commits second no longer has the
		// pending prefix.
		sizes := [2]int{5, 8}
		var fps [2][]fingerprint.Fingerprint
		var trees [2]*merkle.Tree
		for i, n := range sizes {
			fps[i] = mustPending(t, s, n)
			trees[i] = build(t, fps[i])
		}
		var results [2]error
		var batches [2]store.Batch
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				<-start
				batches[i], results[i] = s.CommitBatch(ctx, fps[i], trees[i], at(1000+round))
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range results {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("round %d: both sealers committed (batches %d and %d)", round, batches[won].ID, batches[i].ID)
				}
				won = i
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("round %d: sealer %d: %v, want nil or ErrConflict", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither sealer committed: %v", round, results)
		}
		if want := uint64(round + 1); batches[won].ID != want {
			t.Errorf("round %d: batch ID %d, want %d", round, batches[won].ID, want)
		}
	}
	checkPartition(t, s, total)
}

// testSealWhileSubmitting runs a sealing loop (two sealers, retrying on
// conflict) while submitters add fingerprints, then checks that every
// fingerprint ended in exactly one batch, at a distinct index.
func testSealWhileSubmitting(t *testing.T, s store.Store) {
	ctx := context.Background()
	const submitters, calls, per = 4, 15, 4
	total := submitters * calls * per
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var sealers sync.WaitGroup
	for range 2 {
		sealers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				fps, err := s.Pending(ctx, 7)
				if err != nil {
					errs <- err
					return
				}
				if len(fps) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				tree, err := merkle.Build(fps)
				if err != nil {
					errs <- err
					return
				}
				if _, err := s.CommitBatch(ctx, fps, tree, time.Now()); err != nil && !errors.Is(err, store.ErrConflict) {
					errs <- err
					return
				}
			}
		})
	}
	var subs sync.WaitGroup
	for w := range submitters {
		subs.Go(func() {
			for c := range calls {
				var batch []store.Submission
				for j := range per {
					batch = append(batch, store.Submission{Fingerprint: fp(t, "", (w*calls+c)*per+j), Institution: "x", ReceivedAt: time.Now()})
				}
				if _, _, err := s.Submit(ctx, batch, 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	subs.Wait()
	close(stop)
	sealers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for {
		n, _, err := s.PendingStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		seal(t, s, 100, time.Now())
	}
	checkPartition(t, s, total)
}

func testBatches(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got := mustBatches(t, s, 0, 10); len(got) != 0 {
		t.Errorf("Batches of an empty store = %+v, want none", got)
	}
	var want []store.Batch
	for i := range 5 {
		mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "", i), Institution: "x", ReceivedAt: at(i)})
		b, _ := seal(t, s, 1, at(100+i))
		want = append(want, b)
	}
	a := testAnchor(2, 7, store.AnchorSigned)
	mustPutAnchor(t, s, a, "")
	want[1].Anchors = []store.Anchor{a}

	for _, tc := range []struct {
		after uint64
		limit int
		ids   []uint64
	}{
		{0, 2, []uint64{1, 2}},
		{2, 2, []uint64{3, 4}},
		{4, 10, []uint64{5}},
		{5, 10, nil},
		{0, 0, nil},
		{0, 100, []uint64{1, 2, 3, 4, 5}},
		{1<<64 - 1, 10, nil},
	} {
		got, err := s.Batches(ctx, tc.after, tc.limit)
		if err != nil {
			t.Fatalf("Batches(%d, %d): %v", tc.after, tc.limit, err)
		}
		if len(got) != len(tc.ids) {
			t.Errorf("Batches(%d, %d) returned %d batches, want %v", tc.after, tc.limit, len(got), tc.ids)
			continue
		}
		for i, b := range got {
			checkBatch(t, b, want[tc.ids[i]-1])
		}
	}
}

// testAdoptBatch: batches adopted from the chain (known by size and root
// alone) take the next IDs, densely; a retry of the same adoption
// succeeds, anything else conflicts without writing; anchors can be
// written to an adopted batch; the next sealed batch is numbered above
// the adopted ones and its fingerprints' proofs are right.
func testAdoptBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "", 0), Institution: "x", ReceivedAt: at(0)})
	b1, _ := seal(t, s, 1, at(100))
	root := func(i byte) (r [32]byte) { r[0], r[31] = i, 0xad; return r }
	b2 := store.Batch{ID: 2, Size: 7, Root: root(2), SealedAt: at(200)}
	b3 := store.Batch{ID: 3, Size: 1, Root: root(3), SealedAt: at(300)}
	if err := s.AdoptBatch(ctx, store.Batch{ID: 3, Size: 1, Root: root(3)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AdoptBatch(3) after batch 1: %v, want ErrConflict (not the next ID)", err)
	}
	if err := s.AdoptBatch(ctx, store.Batch{ID: 2, Root: root(2)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AdoptBatch of size 0: %v, want ErrConflict", err)
	}
	if err := s.AdoptBatch(ctx, store.Batch{ID: 1, Size: 1, Root: root(1)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AdoptBatch(1) over a sealed batch with another root: %v, want ErrConflict", err)
	}
	checkLatest(t, s, 1)
	for _, b := range []store.Batch{b2, b2, b3} { // the second b2 is a retry
		if err := s.AdoptBatch(ctx, b); err != nil {
			t.Fatalf("AdoptBatch(%d): %v", b.ID, err)
		}
	}
	other := b2
	other.Root = root(9)
	if err := s.AdoptBatch(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AdoptBatch(2) with another root: %v, want ErrConflict", err)
	}
	checkLatest(t, s, 3)
	checkBatch(t, mustBatch(t, s, 2), b2)
	checkBatch(t, mustBatch(t, s, 3), b3)
	a := testAnchor(2, 7, store.AnchorSigned)
	mustPutAnchor(t, s, a, "")
	b2.Anchors = []store.Anchor{a}
	got := mustBatches(t, s, 0, 10)
	if len(got) != 3 {
		t.Fatalf("Batches = %d batches, want 3", len(got))
	}
	for i, want := range []store.Batch{b1, b2, b3} {
		checkBatch(t, got[i], want)
	}
	checkUnconfirmed(t, s, 7, 10, 1, 2, 3)

	// Sealing goes on above the adopted batches.
	for i := 1; i < 4; i++ {
		mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "", i), Institution: "x", ReceivedAt: at(i)})
	}
	b4, tree := seal(t, s, 3, at(400))
	if b4.ID != 4 {
		t.Fatalf("sealed batch %d after adopting 2 and 3, want 4", b4.ID)
	}
	checkLatest(t, s, 4)
	for i := 1; i < 4; i++ {
		e := mustEntry(t, s, fp(t, "", i))
		if e.BatchID != 4 || e.Index != uint64(i-1) {
			t.Errorf("fingerprint %d in batch %d at %d, want batch 4 at %d", i, e.BatchID, e.Index, i-1)
		}
		checkProof(t, s, e, b4, tree)
	}
	if e := mustEntry(t, s, fp(t, "", 0)); e.BatchID != 1 || e.Index != 0 {
		t.Errorf("fingerprint 0 in batch %d at %d, want batch 1 at 0", e.BatchID, e.Index)
	}
	if err := s.AdoptBatch(ctx, store.Batch{ID: 5, Size: 1, Root: root(5)}); err != nil {
		t.Errorf("AdoptBatch(5) after a sealed batch 4: %v", err)
	}
}
