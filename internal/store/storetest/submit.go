package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

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
