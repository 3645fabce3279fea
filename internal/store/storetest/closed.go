package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
)

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
	_, errs["AddStatement"] = s.AddStatement(ctx, store.Statement{Fingerprint: fp(t, "s"), Subject: fps[0], Text: []byte("{}")})
	_, errs["Statement"] = s.Statement(ctx, fps[0])
	_, errs["Statements"] = s.Statements(ctx, 0, 10)
	return errs
}
