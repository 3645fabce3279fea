// Package storetest is the conformance suite every store.Store backend
// passes. A backend's tests call Run (and RunReopen if it persists to a
// directory):
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { … a new, empty store … })
//	}
//
// The suite checks the contract documented in package store, plus what
// these tests assume of every backend:
//
//   - times (ReceivedAt, SealedAt, anchor times) come back equal (time.Time
//     Equal) to what was written, to the nanosecond;
//   - Close may be called more than once;
//   - PendingStats' oldest is the ReceivedAt of the first fingerprint in
//     acceptance order.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
)

// t0 has a nanosecond part so that a backend that truncates times fails.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// at returns t0 plus i milliseconds.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }

// Run runs the conformance suite. newStore returns a new, empty store and
// arranges for it to be closed at the end of the test (the suite closes
// some stores itself first, so Close must tolerate a second call).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SubmitNew", testSubmitNew},
		{"SubmitDuplicate", testSubmitDuplicate},
		{"SubmitDuplicatesInOneCall", testSubmitDuplicatesInOneCall},
		{"SubmitOwnRecords", testSubmitOwnRecords},
		{"SubmissionPrivacy", testSubmissionPrivacy},
		{"SubmitEmpty", testSubmitEmpty},
		{"SubmitBound", testSubmitBound},
		{"SubmitBoundConcurrent", testSubmitBoundConcurrent},
		{"EntryNotFound", testEntryNotFound},
		{"PendingStats", testPendingStats},
		{"PendingOrder", testPendingOrder},
		{"CommitBatch", testCommitBatch},
		{"CommitBatchConflict", testCommitBatchConflict},
		{"ConcurrentSubmit", testConcurrentSubmit},
		{"ConcurrentCommit", testConcurrentCommit},
		{"SealWhileSubmitting", testSealWhileSubmitting},
		{"Batches", testBatches},
		{"PutAnchor", testPutAnchor},
		{"ConcurrentPutAnchor", testConcurrentPutAnchor},
		{"Status", testStatus},
		{"Unconfirmed", testUnconfirmed},
		{"Closed", testClosed},
		{"Cancelled", testCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// RunReopen checks that a backend persisting to a directory keeps what it
// acknowledged across Close and a new open of the same directory. open
// opens (creating if needed) the store in dir; RunReopen closes every store
// it opens.
func RunReopen(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)

	// Acknowledged submissions from concurrent submitters.
	const workers, per = 8, 25
	all := make([]fingerprint.Fingerprint, 0, workers*per)
	for i := range workers * per {
		all = append(all, fp(t, "reopen", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w * per; i < (w+1)*per; i++ {
				if _, _, err := s.Submit(ctx, []store.Submission{{Fingerprint: all[i], Institution: fmt.Sprint("inst", w), ReceivedAt: at(i)}}, 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Submit: %v", err)
	}

	b1, tree1 := seal(t, s, 50, at(1000))
	b2, tree2 := seal(t, s, 7, at(1001))
	a := testAnchor(b1.ID, 1, store.AnchorMined)
	mustPutAnchor(t, s, a, "")
	// Another institution's records, of sealed and pending fingerprints,
	// some in the same call as a new fingerprint.
	other := func(i int) time.Time { return at(5000 + i) }
	late := fp(t, "reopen", "late")
	for i := 0; i < len(all); i += 3 {
		subs := []store.Submission{{Fingerprint: all[i], Institution: "other", ReceivedAt: other(i)}}
		if i == 99 {
			subs = append(subs, store.Submission{Fingerprint: late, Institution: "other", ReceivedAt: other(i)})
		}
		mustSubmit(t, s, subs...)
	}
	all = append(all, late)
	want := map[fingerprint.Fingerprint]store.Entry{}
	for _, f := range all {
		want[f] = mustEntry(t, s, f)
	}
	pendingBefore := mustPending(t, s, len(all))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, dir)
	defer s.Close()
	for _, f := range all {
		if got := mustEntry(t, s, f); !entryEqual(got, want[f]) {
			t.Errorf("after reopen, Entry(%v) = %+v, want %+v", f, got, want[f])
		}
	}
	// Every institution's record survived, and re-submission still finds it.
	for i, f := range all[:len(all)-1] {
		checkSubmission(t, s, f, fmt.Sprint("inst", i/per), at(i), want[f])
		if i%3 != 0 {
			if rec, _, err := s.Submission(ctx, f, "other"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("after reopen, Submission(%v, other) = %+v, %v; want ErrNotFound", f, rec, err)
			}
			continue
		}
		checkSubmission(t, s, f, "other", other(i), want[f])
		got := mustSubmit(t, s, store.Submission{Fingerprint: f, Institution: "other", ReceivedAt: at(9000)})
		if w := (store.Record{Fingerprint: f, Institution: "other", ReceivedAt: other(i)}); !recordEqual(got[0], w) {
			t.Errorf("after reopen, re-submission by another institution = %+v, want its first %+v", got[0], w)
		}
	}
	checkSubmission(t, s, late, "other", other(99), want[late])
	b1.Anchors = []store.Anchor{a}
	for _, f := range all {
		switch e := want[f]; e.BatchID {
		case 0:
			checkProof(t, s, e, store.Batch{}, nil)
		case b1.ID:
			checkProof(t, s, e, b1, tree1)
		case b2.ID:
			checkProof(t, s, e, b2, tree2)
		}
	}
	if got := mustPending(t, s, len(all)); !slices.Equal(got, pendingBefore) {
		t.Errorf("after reopen, Pending has %d fingerprints, want the same %d as before", len(got), len(pendingBefore))
	}
	n, oldest, err := s.PendingStats(ctx)
	if err != nil || n != len(pendingBefore) || !oldest.Equal(mustEntry(t, s, pendingBefore[0]).ReceivedAt) {
		t.Errorf("after reopen, PendingStats = %d, %v, %v; want %d, %v", n, oldest, err, len(pendingBefore), mustEntry(t, s, pendingBefore[0]).ReceivedAt)
	}
	checkBatch(t, mustBatch(t, s, b1.ID), b1)
	checkBatch(t, mustBatch(t, s, b2.ID), b2)
	checkLatest(t, s, b2.ID)
	checkUnconfirmed(t, s, 1, 10, b1.ID, b2.ID)

	b3, _ := seal(t, s, 1, at(1002))
	if b3.ID != b2.ID+1 {
		t.Errorf("after reopen, the next batch is %d, want %d", b3.ID, b2.ID+1)
	}
}

func testSubmitNew(t *testing.T, s store.Store) {
	ctx := context.Background()
	subs := []store.Submission{
		{Fingerprint: fp(t, "a"), Institution: "hospital-a", ReceivedAt: at(0)},
		{Fingerprint: fp(t, "b"), Institution: "lab-b", ReceivedAt: at(1)},
		{Fingerprint: fp(t, "c"), Institution: "", ReceivedAt: at(2)},
	}
	got, _, err := s.Submit(ctx, subs, 0)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if len(got) != len(subs) {
		t.Fatalf("Submit returned %d records for %d submissions", len(got), len(subs))
	}
	for i, sub := range subs {
		want := store.Entry{Fingerprint: sub.Fingerprint, Institution: sub.Institution, ReceivedAt: sub.ReceivedAt}
		if rec := own(sub, sub.ReceivedAt, true); !recordEqual(got[i], rec) {
			t.Errorf("Submit record %d = %+v, want %+v", i, got[i], rec)
		}
		if e := mustEntry(t, s, sub.Fingerprint); !entryEqual(e, want) || !e.Pending() {
			t.Errorf("Entry(%v) = %+v, want %+v (pending)", sub.Fingerprint, e, want)
		}
		checkSubmission(t, s, sub.Fingerprint, sub.Institution, sub.ReceivedAt, want)
	}
	checkPendingStats(t, s, 3, at(0))
}

func testSubmitDuplicate(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := fp(t, "a"), fp(t, "b")
	first := store.Entry{Fingerprint: a, Institution: "first", ReceivedAt: at(0)}
	mustSubmit(t, s, store.Submission{Fingerprint: a, Institution: "first", ReceivedAt: at(0)})

	got, _, err := s.Submit(ctx, []store.Submission{
		{Fingerprint: a, Institution: "second", ReceivedAt: at(5)},
		{Fingerprint: b, Institution: "second", ReceivedAt: at(5)},
	}, 0)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	// Another institution's submission of a known fingerprint is its own:
	// its own time, not the first submitter's.
	if want := (store.Record{Fingerprint: a, Institution: "second", ReceivedAt: at(5)}); !recordEqual(got[0], want) {
		t.Errorf("another institution's submission of a known fingerprint returned %+v, want its own %+v", got[0], want)
	}
	if want := (store.Record{Fingerprint: b, Institution: "second", ReceivedAt: at(5), New: true}); !recordEqual(got[1], want) {
		t.Errorf("new submission returned %+v, want %+v", got[1], want)
	}
	if e := mustEntry(t, s, a); !entryEqual(e, first) {
		t.Errorf("Entry after re-submission = %+v, want the first %+v", e, first)
	}
	checkPendingStats(t, s, 2, at(0))
	if got := mustPending(t, s, 10); !slices.Equal(got, []fingerprint.Fingerprint{a, b}) {
		t.Errorf("Pending = %v, want [a b]", got)
	}

	// Re-submission is idempotent for each institution.
	got = mustSubmit(t, s,
		store.Submission{Fingerprint: a, Institution: "first", ReceivedAt: at(7)},
		store.Submission{Fingerprint: a, Institution: "second", ReceivedAt: at(7)},
		store.Submission{Fingerprint: b, Institution: "second", ReceivedAt: at(7)},
	)
	for i, want := range []store.Record{
		{Fingerprint: a, Institution: "first", ReceivedAt: at(0)},
		{Fingerprint: a, Institution: "second", ReceivedAt: at(5)},
		{Fingerprint: b, Institution: "second", ReceivedAt: at(5)},
	} {
		if !recordEqual(got[i], want) {
			t.Errorf("re-submission %d returned %+v, want the institution's first %+v", i, got[i], want)
		}
	}
	checkSubmission(t, s, a, "first", at(0), first)
	checkSubmission(t, s, a, "second", at(5), first)

	// Re-submitting a sealed fingerprint: a third institution gets its own
	// record, and reads it back with the sealed entry.
	seal(t, s, 2, at(10))
	got = mustSubmit(t, s, store.Submission{Fingerprint: a, Institution: "third", ReceivedAt: at(20)})
	if want := (store.Record{Fingerprint: a, Institution: "third", ReceivedAt: at(20)}); !recordEqual(got[0], want) {
		t.Errorf("re-submission of a sealed fingerprint returned %+v, want %+v", got[0], want)
	}
	want := first
	want.BatchID, want.Index = 1, 0
	checkSubmission(t, s, a, "third", at(20), want)
	checkSubmission(t, s, a, "second", at(5), want)
	checkSubmission(t, s, a, "first", at(0), want)
	checkPendingStats(t, s, 0, time.Time{})
}

func testSubmitDuplicatesInOneCall(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := fp(t, "a"), fp(t, "b")
	got, _, err := s.Submit(ctx, []store.Submission{
		{Fingerprint: a, Institution: "one", ReceivedAt: at(0)},
		{Fingerprint: a, Institution: "two", ReceivedAt: at(1)},
		{Fingerprint: b, Institution: "two", ReceivedAt: at(1)},
		{Fingerprint: a, Institution: "three", ReceivedAt: at(2)},
		{Fingerprint: a, Institution: "two", ReceivedAt: at(3)},
		{Fingerprint: b, Institution: "two", ReceivedAt: at(3)},
		{Fingerprint: a, Institution: "one", ReceivedAt: at(3)},
	}, 0)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	// Each (fingerprint, institution) has its first time in the call; only
	// the submission that created an entry is New.
	for i, want := range []store.Record{
		{Fingerprint: a, Institution: "one", ReceivedAt: at(0), New: true},
		{Fingerprint: a, Institution: "two", ReceivedAt: at(1)},
		{Fingerprint: b, Institution: "two", ReceivedAt: at(1), New: true},
		{Fingerprint: a, Institution: "three", ReceivedAt: at(2)},
		{Fingerprint: a, Institution: "two", ReceivedAt: at(1)},
		{Fingerprint: b, Institution: "two", ReceivedAt: at(1)},
		{Fingerprint: a, Institution: "one", ReceivedAt: at(0)},
	} {
		if !recordEqual(got[i], want) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want)
		}
	}
	wantA := store.Entry{Fingerprint: a, Institution: "one", ReceivedAt: at(0)}
	if e := mustEntry(t, s, a); !entryEqual(e, wantA) {
		t.Errorf("Entry(a) = %+v, want %+v", e, wantA)
	}
	checkSubmission(t, s, a, "two", at(1), wantA)
	checkSubmission(t, s, a, "three", at(2), wantA)
	checkPendingStats(t, s, 2, at(0))
	if got := mustPending(t, s, 10); !slices.Equal(got, []fingerprint.Fingerprint{a, b}) {
		t.Errorf("Pending = %v, want [a b]", got)
	}
}

// testSubmitOwnRecords: several institutions submit the same fingerprints
// in separate calls, in both orders, before and after sealing; each always
// gets back its own first time, and the entry (first submitter, first
// time, batch) never changes.
func testSubmitOwnRecords(t *testing.T, s store.Store) {
	a, b := fp(t, "a"), fp(t, "b")
	insts := []string{"hospital-a", "lab-b", "clinic-c"}
	// Round i: insts[i] submits a at 10i ms, insts[n-1-i] submits b at
	// 10i+1 ms, each in a call of its own.
	n := len(insts)
	recvA := func(inst int) time.Time { return at(10 * inst) }
	recvB := func(inst int) time.Time { return at(10*(n-1-inst) + 1) }
	for i := range n {
		for _, sub := range []struct {
			f    fingerprint.Fingerprint
			inst int
			recv time.Time
		}{{a, i, recvA(i)}, {b, n - 1 - i, recvB(n - 1 - i)}} {
			got := mustSubmit(t, s, store.Submission{Fingerprint: sub.f, Institution: insts[sub.inst], ReceivedAt: sub.recv})
			if want := (store.Record{Fingerprint: sub.f, Institution: insts[sub.inst], ReceivedAt: sub.recv, New: i == 0}); !recordEqual(got[0], want) {
				t.Errorf("first submission of %v by %s = %+v, want %+v", sub.f, insts[sub.inst], got[0], want)
			}
		}
	}
	entryA := store.Entry{Fingerprint: a, Institution: insts[0], ReceivedAt: recvA(0)}
	entryB := store.Entry{Fingerprint: b, Institution: insts[n-1], ReceivedAt: recvB(n - 1)}
	check := func(when string, ea, eb store.Entry) {
		t.Helper()
		if e := mustEntry(t, s, a); !entryEqual(e, ea) {
			t.Errorf("%s: Entry(a) = %+v, want %+v", when, e, ea)
		}
		if e := mustEntry(t, s, b); !entryEqual(e, eb) {
			t.Errorf("%s: Entry(b) = %+v, want %+v", when, e, eb)
		}
		for i, inst := range insts {
			checkSubmission(t, s, a, inst, recvA(i), ea)
			checkSubmission(t, s, b, inst, recvB(i), eb)
		}
		// Re-submission by each, at a later time, changes nothing.
		for i, inst := range insts {
			got := mustSubmit(t, s,
				store.Submission{Fingerprint: a, Institution: inst, ReceivedAt: at(1000)},
				store.Submission{Fingerprint: b, Institution: inst, ReceivedAt: at(1000)},
			)
			if want := (store.Record{Fingerprint: a, Institution: inst, ReceivedAt: recvA(i)}); !recordEqual(got[0], want) {
				t.Errorf("%s: re-submission of a by %s = %+v, want %+v", when, inst, got[0], want)
			}
			if want := (store.Record{Fingerprint: b, Institution: inst, ReceivedAt: recvB(i)}); !recordEqual(got[1], want) {
				t.Errorf("%s: re-submission of b by %s = %+v, want %+v", when, inst, got[1], want)
			}
		}
	}
	check("pending", entryA, entryB)
	checkPendingStats(t, s, 2, recvA(0))
	seal(t, s, 2, at(500))
	entryA.BatchID, entryA.Index = 1, 0
	entryB.BatchID, entryB.Index = 1, 1
	check("sealed", entryA, entryB)
	checkPendingStats(t, s, 0, time.Time{})
}

// testSubmissionPrivacy: a record says nothing of another institution's
// submission. An institution that never submitted a fingerprint gets the
// same ErrNotFound as for an unknown one; another institution's first
// submission of a known fingerprint returns exactly what it would for a
// fingerprint nobody had submitted (but New), and leaves the entry and
// the pending queue alone.
func testSubmissionPrivacy(t *testing.T, s store.Store) {
	ctx := context.Background()
	known, fresh, unknown := fp(t, "known"), fp(t, "fresh"), fp(t, "unknown")
	mustSubmit(t, s, store.Submission{Fingerprint: known, Institution: "A", ReceivedAt: at(0)})
	for _, q := range []struct {
		f    fingerprint.Fingerprint
		inst string
	}{{known, "B"}, {known, ""}, {known, "a"}, {known, "A "}, {unknown, "A"}, {unknown, "B"}} {
		if rec, e, err := s.Submission(ctx, q.f, q.inst); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Submission(%v, %q) = %+v, %+v, %v; want ErrNotFound", q.f, q.inst, rec, e, err)
		}
	}

	got := mustSubmit(t, s,
		store.Submission{Fingerprint: known, Institution: "B", ReceivedAt: at(1500)},
		store.Submission{Fingerprint: fresh, Institution: "B", ReceivedAt: at(1500)},
	)
	wantKnown := store.Record{Fingerprint: known, Institution: "B", ReceivedAt: at(1500)}
	wantFresh := wantKnown
	wantFresh.Fingerprint, wantFresh.New = fresh, true
	if !recordEqual(got[0], wantKnown) || !recordEqual(got[1], wantFresh) {
		t.Errorf("B's records = %+v; want %+v and %+v: nothing of A's submission", got, wantKnown, wantFresh)
	}
	entry := store.Entry{Fingerprint: known, Institution: "A", ReceivedAt: at(0)}
	if e := mustEntry(t, s, known); !entryEqual(e, entry) {
		t.Errorf("B's submission changed the entry: %+v, want %+v", e, entry)
	}
	checkSubmission(t, s, known, "A", at(0), entry)
	checkSubmission(t, s, known, "B", at(1500), entry)
	// B's record is not a fingerprint: the queue holds known once.
	checkPendingStats(t, s, 2, at(0))
	if p := mustPending(t, s, 10); !slices.Equal(p, []fingerprint.Fingerprint{known, fresh}) {
		t.Errorf("Pending = %v, want [known fresh]", p)
	}
	// Institution names are compared exactly, as bytes.
	if rec, _, err := s.Submission(ctx, known, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Submission(known, %q) = %+v, %v; want ErrNotFound", "b", rec, err)
	}
}

func testSubmitEmpty(t *testing.T, s store.Store) {
	got, _, err := s.Submit(context.Background(), nil, 0)
	if err != nil || len(got) != 0 {
		t.Errorf("Submit(nil) = %v, %v; want no entries, nil", got, err)
	}
	checkPendingStats(t, s, 0, time.Time{})
}

func testEntryNotFound(t *testing.T, s store.Store) {
	if e, err := s.Entry(context.Background(), fp(t, "unknown")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Entry(unknown) = %+v, %v; want ErrNotFound", e, err)
	}
	if p, err := s.Proof(context.Background(), fp(t, "unknown")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Proof(unknown) = %+v, %v; want ErrNotFound", p, err)
	}
}

func testPendingStats(t *testing.T, s store.Store) {
	checkPendingStats(t, s, 0, time.Time{})
	for i := range 3 {
		mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "", i), Institution: "x", ReceivedAt: at(i)})
	}
	checkPendingStats(t, s, 3, at(0))
	seal(t, s, 1, at(10))
	checkPendingStats(t, s, 2, at(1))
	seal(t, s, 2, at(11))
	checkPendingStats(t, s, 0, time.Time{})
}

func testPendingOrder(t *testing.T, s store.Store) {
	var want []fingerprint.Fingerprint
	for call := range 4 {
		var subs []store.Submission
		for j := range call + 1 {
			f := fp(t, "", call, j)
			want = append(want, f)
			subs = append(subs, store.Submission{Fingerprint: f, Institution: "x", ReceivedAt: at(call)})
		}
		mustSubmit(t, s, subs...)
	}
	for _, max := range []int{0, 1, 3, len(want), len(want) + 5} {
		got, err := s.Pending(context.Background(), max)
		if err != nil {
			t.Fatalf("Pending(%d): %v", max, err)
		}
		if w := want[:min(max, len(want))]; !slices.Equal(got, w) {
			t.Errorf("Pending(%d) = %v, want %v", max, got, w)
		}
	}
	// Pending changes nothing.
	if got := mustPending(t, s, 100); !slices.Equal(got, want) {
		t.Errorf("Pending after Pending = %v, want %v", got, want)
	}
}

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

func testConcurrentSubmit(t *testing.T, s store.Store) {
	ctx := context.Background()
	// workers submit overlapping sets: worker w submits fingerprints
	// [w*stride, w*stride+calls*per) of a shared range, so most of them are
	// submitted by two workers at about the same time.
	const workers, calls, per, stride = 16, 10, 5, 25
	distinct := (workers-1)*stride + calls*per
	var mu sync.Mutex
	seen := map[fingerprint.Fingerprint][]store.Record{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				subs := make([]store.Submission, per)
				for j := range per {
					subs[j] = store.Submission{
						Fingerprint: fp(t, "", w*stride+c*per+j),
						Institution: fmt.Sprint("inst", w),
						ReceivedAt:  at(w*1000 + c),
					}
				}
				got, _, err := s.Submit(ctx, subs, 0)
				if err != nil {
					errs <- err
					return
				}
				if len(got) != per {
					errs <- fmt.Errorf("Submit returned %d records for %d submissions", len(got), per)
					return
				}
				for j, e := range got {
					// Each worker is its own institution: its own time.
					if want := own(subs[j], subs[j].ReceivedAt, e.New); !recordEqual(e, want) {
						errs <- fmt.Errorf("record %d is %+v, want %+v", j, e, want)
						return
					}
				}
				mu.Lock()
				for _, e := range got {
					seen[e.Fingerprint] = append(seen[e.Fingerprint], e)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if len(seen) != distinct {
		t.Fatalf("%d distinct fingerprints acknowledged, want %d", len(seen), distinct)
	}
	// Exactly one submitter of a fingerprint created it, and the entry is
	// its; every submitter reads its own record back.
	for f, es := range seen {
		stored := mustEntry(t, s, f)
		news := 0
		for _, e := range es {
			if e.New {
				news++
				if e.Institution != stored.Institution || !e.ReceivedAt.Equal(stored.ReceivedAt) {
					t.Errorf("fingerprint %v: the new record %+v is not the entry %+v", f, e, stored)
				}
			}
			checkSubmission(t, s, f, e.Institution, e.ReceivedAt, stored)
		}
		if news != 1 {
			t.Errorf("fingerprint %v: %d submissions were new, want 1", f, news)
		}
	}
	n, _, err := s.PendingStats(ctx)
	if err != nil || n != distinct {
		t.Errorf("PendingStats count = %d, %v; want %d", n, err, distinct)
	}
	pending := mustPending(t, s, distinct+10)
	if len(pending) != distinct {
		t.Errorf("Pending returned %d fingerprints, want %d", len(pending), distinct)
	}
	dup := map[fingerprint.Fingerprint]bool{}
	for _, f := range pending {
		if dup[f] {
			t.Errorf("fingerprint %v is pending twice", f)
		}
		dup[f] = true
		if seen[f] == nil {
			t.Errorf("pending fingerprint %v was never acknowledged", f)
		}
	}
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

func testPutAnchor(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)})
	b, _ := seal(t, s, 1, at(1))

	if err := s.PutAnchor(ctx, testAnchor(b.ID+1, 1, store.AnchorSigned), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutAnchor(unknown batch) error = %v, want ErrNotFound", err)
	}
	if err := s.PutAnchor(ctx, testAnchor(0, 1, store.AnchorSigned), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutAnchor(batch 0) error = %v, want ErrNotFound", err)
	}

	// Chain 5 first, chain 1 second: Anchors come back by ChainID.
	signed5 := testAnchor(b.ID, 5, store.AnchorSigned)
	signed5.BroadcastAt = time.Time{} // never sent yet
	signed5.RawTx = []byte{0x02, 0xf8, 0x01}
	mustPutAnchor(t, s, signed5, "")
	signed1 := testAnchor(b.ID, 1, store.AnchorSigned)
	mustPutAnchor(t, s, signed1, "")
	checkAnchors(t, mustBatch(t, s, b.ID), signed1, signed5)

	// A second "new" record, or a wrong previous state, is refused and
	// changes nothing.
	other := testAnchor(b.ID, 1, store.AnchorSigned)
	other.Nonce = 99
	if err := s.PutAnchor(ctx, other, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutAnchor(existing, prev \"\") error = %v, want ErrConflict", err)
	}
	mined1 := testAnchor(b.ID, 1, store.AnchorMined)
	if err := s.PutAnchor(ctx, mined1, store.AnchorMined); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutAnchor(prev mined, stored signed) error = %v, want ErrConflict", err)
	}
	if err := s.PutAnchor(ctx, mined1, store.AnchorConfirmed); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutAnchor(prev confirmed, stored signed) error = %v, want ErrConflict", err)
	}
	checkAnchors(t, mustBatch(t, s, b.ID), signed1, signed5)

	// Transitions: signed → mined → confirmed, and back to signed (reorg).
	mustPutAnchor(t, s, mined1, store.AnchorSigned)
	checkAnchors(t, mustBatch(t, s, b.ID), mined1, signed5)
	if got, ok := mustBatch(t, s, b.ID).Anchor(1); !ok || got.FeeWei == nil || got.FeeWei.Cmp(mined1.FeeWei) != 0 {
		t.Errorf("Batch.Anchor(1) = %+v, %v; want the mined record with its fee", got, ok)
	}
	confirmed1 := testAnchor(b.ID, 1, store.AnchorConfirmed)
	mustPutAnchor(t, s, confirmed1, store.AnchorMined)
	checkAnchors(t, mustBatch(t, s, b.ID), confirmed1, signed5)
	resigned := testAnchor(b.ID, 1, store.AnchorSigned)
	resigned.Nonce++
	mustPutAnchor(t, s, resigned, store.AnchorConfirmed)
	checkAnchors(t, mustBatch(t, s, b.ID), resigned, signed5)
	if _, ok := mustBatch(t, s, b.ID).Anchor(3); ok {
		t.Error("Batch.Anchor(3) found a record on a chain never written")
	}
}

func testConcurrentPutAnchor(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)})
	b, _ := seal(t, s, 1, at(1))
	mustPutAnchor(t, s, testAnchor(b.ID, 1, store.AnchorSigned), "")

	const writers = 8
	var wg sync.WaitGroup
	results := make([]error, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			a := testAnchor(b.ID, 1, store.AnchorMined)
			a.GasUsed = uint64(i)
			<-start
			results[i] = s.PutAnchor(ctx, a, store.AnchorSigned)
		})
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range results {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("writers %d and %d both moved signed → mined", won, i)
			}
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("writer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer won")
	}
	if got, _ := mustBatch(t, s, b.ID).Anchor(1); got.GasUsed != uint64(won) {
		t.Errorf("stored record is writer %d's, want the winner %d's", got.GasUsed, won)
	}
}

func testStatus(t *testing.T, s store.Store) {
	mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)})
	b, _ := seal(t, s, 1, at(1))
	chains := []uint64{1, 2}
	check := func(want store.Status) {
		t.Helper()
		if got := mustBatch(t, s, b.ID).Status(chains); got != want {
			t.Errorf("Status = %s, want %s", got, want)
		}
	}
	check(store.StatusSealed)
	mustPutAnchor(t, s, testAnchor(b.ID, 1, store.AnchorSigned), "")
	check(store.StatusSealed)
	mustPutAnchor(t, s, testAnchor(b.ID, 1, store.AnchorMined), store.AnchorSigned)
	check(store.StatusSealed) // chain 2 missing
	mustPutAnchor(t, s, testAnchor(b.ID, 2, store.AnchorMined), "")
	check(store.StatusAnchored)
	mustPutAnchor(t, s, testAnchor(b.ID, 1, store.AnchorConfirmed), store.AnchorMined)
	check(store.StatusAnchored)
	mustPutAnchor(t, s, testAnchor(b.ID, 2, store.AnchorConfirmed), store.AnchorMined)
	check(store.StatusConfirmed)
	if got := mustBatch(t, s, b.ID).Status(nil); got != store.StatusSealed {
		t.Errorf("Status(no chains) = %s, want sealed", got)
	}
	if got := mustBatch(t, s, b.ID).Status([]uint64{1}); got != store.StatusConfirmed {
		t.Errorf("Status([1]) = %s, want confirmed", got)
	}
}

func testUnconfirmed(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 6 {
		mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "", i), Institution: "x", ReceivedAt: at(i)})
		seal(t, s, 1, at(10+i))
	}
	checkUnconfirmed(t, s, 1, 10, 1, 2, 3, 4, 5, 6)

	// Chain 1: 1 confirmed, 2 mined, 3 missing, 4 signed, 5 confirmed, 6 missing.
	put := func(id uint64, chain uint64, states ...store.AnchorState) {
		t.Helper()
		prev := store.AnchorState("")
		for _, st := range states {
			mustPutAnchor(t, s, testAnchor(id, chain, st), prev)
			prev = st
		}
	}
	put(1, 1, store.AnchorSigned, store.AnchorMined, store.AnchorConfirmed)
	put(2, 1, store.AnchorSigned, store.AnchorMined)
	put(4, 1, store.AnchorSigned)
	put(5, 1, store.AnchorSigned, store.AnchorMined, store.AnchorConfirmed)
	put(3, 2, store.AnchorSigned, store.AnchorMined, store.AnchorConfirmed)

	checkUnconfirmed(t, s, 1, 10, 2, 3, 4, 6)
	checkUnconfirmed(t, s, 1, 2, 2, 3)
	checkUnconfirmed(t, s, 1, 0)
	checkUnconfirmed(t, s, 2, 10, 1, 2, 4, 5, 6)
	checkUnconfirmed(t, s, 3, 3, 1, 2, 3)

	// The returned batches carry their anchors.
	got, err := s.Unconfirmed(ctx, 1, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Unconfirmed(1, 1) = %v, %v", got, err)
	}
	if a, ok := got[0].Anchor(1); !ok || a.State != store.AnchorMined {
		t.Errorf("Unconfirmed batch 2 anchor on chain 1 = %+v, %v; want the mined record", a, ok)
	}

	// Confirm everything on chain 1, out of order.
	mustPutAnchor(t, s, testAnchor(2, 1, store.AnchorConfirmed), store.AnchorMined)
	checkUnconfirmed(t, s, 1, 10, 3, 4, 6)
	put(6, 1, store.AnchorSigned, store.AnchorMined, store.AnchorConfirmed)
	checkUnconfirmed(t, s, 1, 10, 3, 4)
	mustPutAnchor(t, s, testAnchor(4, 1, store.AnchorConfirmed), store.AnchorSigned)
	checkUnconfirmed(t, s, 1, 10, 3)
	put(3, 1, store.AnchorSigned, store.AnchorConfirmed)
	checkUnconfirmed(t, s, 1, 10)

	// A reorg takes batch 1 back below confirmed; a new batch is unconfirmed.
	mustPutAnchor(t, s, testAnchor(1, 1, store.AnchorSigned), store.AnchorConfirmed)
	checkUnconfirmed(t, s, 1, 10, 1)
	mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "new"), Institution: "x", ReceivedAt: at(100)})
	seal(t, s, 1, at(101))
	checkUnconfirmed(t, s, 1, 10, 1, 7)
	put(7, 1, store.AnchorSigned, store.AnchorMined)
	mustPutAnchor(t, s, testAnchor(1, 1, store.AnchorConfirmed), store.AnchorSigned)
	checkUnconfirmed(t, s, 1, 10, 7)
	mustPutAnchor(t, s, testAnchor(7, 1, store.AnchorConfirmed), store.AnchorMined)
	checkUnconfirmed(t, s, 1, 10)
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)})
	fps := mustPending(t, s, 1)
	tree := build(t, fps)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, err := range callAll(ctx, t, s, fps, tree) {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s on a closed store: error %v, want ErrClosed", name, err)
		}
	}
}

func testCancelled(t *testing.T, s store.Store) {
	mustSubmit(t, s, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)})
	fps := mustPending(t, s, 1)
	tree := build(t, fps)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range callAll(ctx, t, s, fps, tree) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error %v, want context.Canceled", name, err)
		}
	}
	// Nothing was written.
	if _, err := s.Entry(context.Background(), fp(t, "b")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Submit with a cancelled context stored its fingerprint (Entry error %v)", err)
	}
	checkPendingStats(t, s, 1, at(0))
	if got := mustBatches(t, s, 0, 10); len(got) != 0 {
		t.Errorf("CommitBatch with a cancelled context sealed a batch: %+v", got)
	}
}

// callAll calls every method but Close with ctx, with arguments that would
// succeed on an open store given a pending fps (one fingerprint) and its
// tree, and returns the errors by method name.
func callAll(ctx context.Context, t *testing.T, s store.Store, fps []fingerprint.Fingerprint, tree *merkle.Tree) map[string]error {
	errs := map[string]error{}
	_, _, errs["Submit"] = s.Submit(ctx, []store.Submission{{Fingerprint: fp(t, "b"), Institution: "x", ReceivedAt: at(1)}}, 0)
	_, errs["Entry"] = s.Entry(ctx, fps[0])
	_, _, errs["Submission"] = s.Submission(ctx, fps[0], "x")
	_, errs["Proof"] = s.Proof(ctx, fps[0])
	_, _, errs["PendingStats"] = s.PendingStats(ctx)
	_, errs["Pending"] = s.Pending(ctx, 10)
	_, errs["CommitBatch"] = s.CommitBatch(ctx, fps, tree, at(2))
	_, errs["Batch"] = s.Batch(ctx, 1)
	_, errs["Batches"] = s.Batches(ctx, 0, 10)
	_, errs["LatestBatch"] = s.LatestBatch(ctx)
	_, errs["Unconfirmed"] = s.Unconfirmed(ctx, 1, 10)
	errs["PutAnchor"] = s.PutAnchor(ctx, testAnchor(1, 1, store.AnchorSigned), "")
	return errs
}

// Helpers.

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

// anchorDiff describes the first difference between got and want, or
// returns "".
func anchorDiff(got, want store.Anchor) string {
	type field struct {
		name string
		eq   bool
	}
	feeEq := (got.FeeWei == nil) == (want.FeeWei == nil) && (got.FeeWei == nil || got.FeeWei.Cmp(want.FeeWei) == 0)
	for _, f := range []field{
		{"BatchID", got.BatchID == want.BatchID},
		{"ChainID", got.ChainID == want.ChainID},
		{"State", got.State == want.State},
		{"From", got.From == want.From},
		{"To", got.To == want.To},
		{"Nonce", got.Nonce == want.Nonce},
		{"TxHash", got.TxHash == want.TxHash},
		{"RawTx", bytes.Equal(got.RawTx, want.RawTx)},
		{"Replaced", slices.Equal(got.Replaced, want.Replaced)},
		{"SignedAt", got.SignedAt.Equal(want.SignedAt)},
		{"BroadcastAt", got.BroadcastAt.Equal(want.BroadcastAt)},
		{"BlockNumber", got.BlockNumber == want.BlockNumber},
		{"BlockHash", got.BlockHash == want.BlockHash},
		{"BlockTime", got.BlockTime.Equal(want.BlockTime)},
		{"GasUsed", got.GasUsed == want.GasUsed},
		{"FeeWei", feeEq},
		{"MinedAt", got.MinedAt.Equal(want.MinedAt)},
		{"ConfirmedAt", got.ConfirmedAt.Equal(want.ConfirmedAt)},
	} {
		if !f.eq {
			return fmt.Sprintf("%s differs: got %+v, want %+v", f.name, got, want)
		}
	}
	return ""
}

// testAnchor returns a plausible record of batch id on chainID in state st,
// with the mined fields set for mined and confirmed.
func testAnchor(id, chainID uint64, st store.AnchorState) store.Anchor {
	a := store.Anchor{
		BatchID:     id,
		ChainID:     chainID,
		State:       st,
		From:        common.HexToAddress("0x71562b71999873DB5b286dF957af199Ec94617F7"),
		To:          common.HexToAddress("0x71562b71999873DB5b286dF957af199Ec94617F7"),
		Nonce:       id*100 + chainID,
		TxHash:      common.BytesToHash(fmt.Append(nil, "tx", id, chainID)),
		RawTx:       fmt.Append([]byte{0x02}, "raw", id, chainID),
		Replaced:    []common.Hash{common.BytesToHash(fmt.Append(nil, "bumped", id, chainID))},
		SignedAt:    at(int(2000 + id)),
		BroadcastAt: at(int(2001 + id)),
	}
	if st == store.AnchorMined || st == store.AnchorConfirmed {
		a.BlockNumber = 1000 + id
		a.BlockHash = common.BytesToHash(fmt.Append(nil, "block", id, chainID))
		a.BlockTime = time.Unix(1_700_000_000+int64(id), 0).UTC()
		a.GasUsed = 22_000 + chainID
		// More than 64 bits of wei, to catch a lossy encoding.
		a.FeeWei, _ = new(big.Int).SetString("123456789012345678901234567890", 10)
		a.MinedAt = at(int(2002 + id))
	}
	if st == store.AnchorConfirmed {
		a.ConfirmedAt = at(int(2003 + id))
	}
	return a
}
