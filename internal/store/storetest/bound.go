package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// testSubmitBound: with maxPending, Submit refuses with ErrFull, writing
// nothing, a submission whose new fingerprints would take the pending
// count past it; it counts each new fingerprint once, never refuses a
// submission without a new one, and returns the pending count after the
// submission.
func testSubmitBound(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c, d, e := fp(t, "a"), fp(t, "b"), fp(t, "c"), fp(t, "d"), fp(t, "e")
	sub := func(f fingerprint.Fingerprint, inst string, i int) store.Submission {
		return store.Submission{Fingerprint: f, Institution: inst, ReceivedAt: at(i)}
	}
	submit := func(max int, subs ...store.Submission) ([]store.Record, int) {
		t.Helper()
		recs, n, err := s.Submit(ctx, subs, max)
		if err != nil {
			t.Fatalf("Submit(%d fingerprints, max %d): %v", len(subs), max, err)
		}
		return recs, n
	}
	refused := func(max int, subs ...store.Submission) {
		t.Helper()
		recs, _, err := s.Submit(ctx, subs, max)
		if !errors.Is(err, store.ErrFull) {
			t.Fatalf("Submit(%d fingerprints, max %d) = %+v, %v; want ErrFull", len(subs), max, recs, err)
		}
	}

	if recs, n := submit(3, sub(a, "x", 0), sub(b, "x", 1)); n != 2 || !recs[0].New || !recs[1].New {
		t.Errorf("below the bound: records %+v, pending %d; want both new, 2", recs, n)
	}
	// Two new ones would make 4: refused, and nothing of the submission is
	// written, not even another institution's record of a known one.
	refused(3, sub(c, "x", 2), sub(a, "y", 2), sub(d, "x", 2))
	for _, f := range []fingerprint.Fingerprint{c, d} {
		if _, err := s.Entry(ctx, f); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Entry of a refused fingerprint: %v, want ErrNotFound", err)
		}
	}
	if _, _, err := s.Submission(ctx, a, "y"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Submission(a, y) after a refused submission: %v, want ErrNotFound", err)
	}
	checkPendingStats(t, s, 2, at(0))
	// A fingerprint listed twice is one new fingerprint: 2 + 1 = 3 fits.
	if recs, n := submit(3, sub(c, "x", 3), sub(c, "x", 3)); n != 3 || !recs[0].New || recs[1].New {
		t.Errorf("one new fingerprint twice: records %+v, pending %d; want the first new, 3", recs, n)
	}
	// At the bound a new fingerprint is refused, even beside known ones ...
	refused(3, sub(e, "x", 4))
	refused(3, sub(a, "x", 4), sub(e, "x", 4))
	// ... and re-submissions of known fingerprints are not, by their first
	// submitter or by another institution (whose record is written), at
	// the bound and past it.
	recs, n := submit(3, sub(a, "x", 5), sub(b, "y", 5))
	if n != 3 || !recs[0].ReceivedAt.Equal(at(0)) || !recs[1].ReceivedAt.Equal(at(5)) {
		t.Errorf("known fingerprints at the bound: records %+v, pending %d; want a at %v, b by y at %v, 3", recs, n, at(0), at(5))
	}
	checkSubmission(t, s, b, "y", at(5), mustEntry(t, s, b))
	if _, n := submit(1, sub(c, "z", 6)); n != 3 {
		t.Errorf("a known fingerprint past the bound: pending %d, want 3", n)
	}
	// No bound.
	if _, n := submit(0, sub(e, "x", 7)); n != 4 {
		t.Errorf("no bound: pending %d, want 4", n)
	}
	if _, n, err := s.Submit(ctx, nil, 3); err != nil || n != 4 {
		t.Errorf("Submit(nothing) = pending %d, %v; want 4", n, err)
	}
	// A seal makes room.
	seal(t, s, 4, at(10))
	if _, n := submit(3, sub(d, "x", 11)); n != 1 {
		t.Errorf("after a seal: pending %d, want 1", n)
	}
}

// testSubmitBoundConcurrent: concurrent submitters never take the pending
// count past the bound.
func testSubmitBoundConcurrent(t *testing.T, s store.Store) {
	checkBoundConcurrent(t, []store.Store{s})
}

// checkBoundConcurrent has 16 submitters, spread over stores (replicas of
// one backend, or one store), submit 1, 2 or 3 new fingerprints at a time
// under one bound, without seals, until each has been refused: the count
// ends at most at the bound and less than 3 below it; what was admitted is
// there, what was refused is not; no submission is told of a count past
// the bound. It does so five times, raising the bound by 50 each time.
func checkBoundConcurrent(t *testing.T, stores []store.Store) {
	ctx := context.Background()
	const step, workers = 50, 16
	for round := range 5 {
		bound := step * (round + 1)
		before, _, err := stores[0].PendingStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var admitted, refused []fingerprint.Fingerprint
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range workers {
			st := stores[w%len(stores)]
			wg.Go(func() {
				<-start
				for i := 0; ; i++ {
					size := 1 + (w+i)%3
					subs := make([]store.Submission, size)
					fps := make([]fingerprint.Fingerprint, size)
					for j := range subs {
						fps[j] = fp(t, round, w, i, j)
						subs[j] = store.Submission{Fingerprint: fps[j], Institution: fmt.Sprint("inst", w), ReceivedAt: at(i)}
					}
					_, n, err := st.Submit(ctx, subs, bound)
					mu.Lock()
					switch {
					case err == nil:
						admitted = append(admitted, fps...)
					case errors.Is(err, store.ErrFull):
						refused = append(refused, fps...)
					}
					mu.Unlock()
					if err != nil {
						if !errors.Is(err, store.ErrFull) {
							t.Errorf("Submit: %v", err)
						}
						return
					}
					if n > bound {
						t.Errorf("Submit returned pending %d, past the bound %d", n, bound)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		n, _, err := stores[0].PendingStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n > bound || n <= bound-3 || n != before+len(admitted) {
			t.Errorf("round %d: %d pending after the submitters were refused, %d before and %d admitted; want as many, at most %d and more than %d",
				round, n, before, len(admitted), bound, bound-3)
		}
		for _, f := range admitted {
			mustEntry(t, stores[0], f)
		}
		for _, f := range refused {
			if _, err := stores[0].Entry(ctx, f); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Entry of a refused fingerprint: %v, want ErrNotFound", err)
			}
		}
	}
}
