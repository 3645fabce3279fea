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
		{"AdoptBatch", testAdoptBatch},
		{"PutAnchor", testPutAnchor},
		{"ConcurrentPutAnchor", testConcurrentPutAnchor},
		{"Status", testStatus},
		{"Unconfirmed", testUnconfirmed},
		{"Statements", testStatements},
		{"StatementsConcurrent", testStatementsConcurrent},
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
	c := testAnchor(b1.ID, 2, store.AnchorConfirmed)
	c.Evidence = testEvidence(b1.ID, 2)
	mustPutAnchor(t, s, c, "")
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
	// Statements about a sealed and a pending fingerprint.
	subj, pend := all[0], late
	stmts := []store.Statement{statementOf(t, s, subj, 1), statementOf(t, s, pend, 2), statementOf(t, s, subj, 3)}
	for i := range stmts {
		stmts[i] = mustAddStatement(t, s, stmts[i])
	}
	pendingBefore := mustPending(t, s, len(all)+len(stmts))
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
	checkStatementsAbout(t, s, subj, stmts[0], stmts[2])
	checkStatementsAbout(t, s, pend, stmts[1])
	if got, err := s.Statements(ctx, 0, 10); err != nil || !slices.EqualFunc(got, stmts, statementEqual) {
		t.Errorf("after reopen, Statements = %+v, %v; want %+v", got, err, stmts)
	}
	b1.Anchors = []store.Anchor{a, c}
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
	if got := mustPending(t, s, len(all)+len(stmts)); !slices.Equal(got, pendingBefore) {
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
	if next := mustAddStatement(t, s, statementOf(t, s, pend, 4)); next.Seq != 4 {
		t.Errorf("after reopen, the next statement has seq %d, want 4", next.Seq)
	}
}
