package anchor_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

// openEvidence parses and opens rec's chain evidence, failing the test if
// there is none or it does not check.
func (e *env) openEvidence(rec store.Anchor) *evidence.Facts {
	e.t.Helper()
	if rec.Evidence == nil {
		e.t.Fatalf("batch %d (%s) has no chain evidence", rec.BatchID, rec.State)
	}
	ev, err := proof.ParseEvidence(rec.Evidence)
	if err != nil {
		e.t.Fatalf("batch %d: stored evidence does not parse: %v", rec.BatchID, err)
	}
	f, err := evidence.Open(ev)
	if err != nil {
		e.t.Fatalf("batch %d: stored evidence does not open: %v", rec.BatchID, err)
	}
	return f
}

// TestEvidenceOnConfirmation: the step that confirms an anchor stores its
// chain evidence at the confirmation depth; it shows the anchor's
// transaction, sender, payload and block, and is not collected again.
func TestEvidenceOnConfirmation(t *testing.T) {
	e := newEnv(t)
	a := e.anchorer(e.sim.Client(), 3)
	if !a.CollectsEvidence() {
		t.Fatal("an anchorer on the simulated client collects no evidence")
	}
	b := e.seal(3)
	e.step(a)
	for range 3 {
		if rec := e.record(b.ID); rec.Evidence != nil {
			t.Fatalf("evidence of a %s anchor", rec.State)
		}
		e.commit()
		e.step(a)
	}
	rec := e.record(b.ID)
	if rec.State != store.AnchorConfirmed {
		t.Fatalf("state %s, want confirmed", rec.State)
	}
	f := e.openEvidence(rec)
	p, err := proof.DecodePayload(f.Calldata)
	switch {
	case f.TxHash != rec.TxHash, f.BlockHash != rec.BlockHash, f.BlockNumber != rec.BlockNumber, f.ChainID != 1337:
		t.Fatalf("evidence of tx %s in block %d %s on chain %d; record %+v", f.TxHash, f.BlockNumber, f.BlockHash, f.ChainID, rec)
	case f.Sender != e.from || f.To == nil || *f.To != e.from || f.ReceiptStatus != types.ReceiptStatusSuccessful:
		t.Fatalf("evidence: sender %s to %v status %d", f.Sender, f.To, f.ReceiptStatus)
	case err != nil || p != (proof.Payload{BatchID: b.ID, Size: b.Size, Root: b.Root}):
		t.Fatalf("evidence payload %+v, %v; batch %+v", p, err, b)
	case f.Confirmations() != 3 || !f.BlockTime.Equal(rec.BlockTime):
		t.Fatalf("evidence with %d confirmations at %v; want 3 at %v", f.Confirmations(), f.BlockTime, rec.BlockTime)
	}
	// More blocks and steps leave it as it was: collected once.
	for range 3 {
		e.commit()
		e.step(a)
	}
	if again := e.record(b.ID); !bytes.Equal(again.Evidence, rec.Evidence) {
		t.Fatal("the evidence was collected again")
	}
	if got := testutil.ToFloat64(e.m.EvidenceFailures.WithLabelValues("1337")); got != 0 {
		t.Fatalf("evidence failures %v", got)
	}
	if got := testutil.ToFloat64(e.m.EvidenceCollected.WithLabelValues("1337")); got != 1 {
		t.Fatalf("evidence collected counted %v times, want once", got)
	}
}

// failingReceipts is the simulated client whose eth_getBlockReceipts fails
// while fail is set.
type failingReceipts struct {
	evidence.Client
	fail  *atomic.Bool
	calls *atomic.Int32
}

func (f failingReceipts) BlockReceipts(ctx context.Context, id rpc.BlockNumberOrHash) ([]*types.Receipt, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return nil, errors.New("the method eth_getBlockReceipts does not exist/is not available")
	}
	return f.Client.BlockReceipts(ctx, id)
}

// lockedBuffer is a log sink for the test's handler.
type lockedBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// TestEvidenceFailureDoesNotBlock: while the evidence cannot be read, the
// anchor is confirmed all the same, later batches are anchored, no step
// fails; every failed attempt is counted, logged once per batch, and
// retried on the next step until it succeeds.
func TestEvidenceFailureDoesNotBlock(t *testing.T) {
	e := newEnv(t)
	var fail atomic.Bool
	var calls atomic.Int32
	fail.Store(true)
	logs := &lockedBuffer{mu: make(chan struct{}, 1)}
	a, err := anchor.New(context.Background(), anchor.Config{
		Key: e.key, Confirmations: 1, RebroadcastAfter: time.Hour,
		Evidence: failingReceipts{e.sim.Client().(evidence.Client), &fail, &calls},
	}, e.sim.Client(), e.store, e.m, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	first := e.seal(2)
	e.step(a)
	e.commit()
	e.step(a) // confirms the first: its evidence fails
	if rec := e.record(first.ID); rec.State != store.AnchorConfirmed || rec.Evidence != nil {
		t.Fatalf("first batch %s with %d bytes of evidence; want confirmed without", rec.State, len(rec.Evidence))
	}
	second := e.seal(2)
	e.step(a) // anchors the second; the first's evidence fails again
	e.commit()
	e.step(a) // confirms the second; both fail
	if rec := e.record(second.ID); rec.State != store.AnchorConfirmed || rec.Evidence != nil {
		t.Fatalf("second batch %s with %d bytes of evidence; want confirmed without", rec.State, len(rec.Evidence))
	}
	failures := testutil.ToFloat64(e.m.EvidenceFailures.WithLabelValues("1337"))
	if failures != 4 || calls.Load() != 4 {
		t.Fatalf("evidence failures %v after %d attempts, want 4 (1 + 1 + 2)", failures, calls.Load())
	}
	if failed := testutil.ToFloat64(e.m.AnchorFailed.WithLabelValues("1337", "rpc")); failed != 0 || a.Err() != nil {
		t.Fatalf("anchoring counted %v failures (last error %v): evidence must not fail a step", failed, a.Err())
	}
	if n := strings.Count(logs.String(), "could not collect the chain evidence"); n != 2 {
		t.Fatalf("the failure was logged %d times, want once per batch (2):\n%s", n, logs.String())
	}
	if got := testutil.ToFloat64(e.m.EvidenceCollected.WithLabelValues("1337")); got != 0 {
		t.Fatalf("evidence collected %v while every attempt failed", got)
	}

	fail.Store(false)
	e.step(a)
	for _, b := range []store.Batch{first, second} {
		rec := e.record(b.ID)
		if f := e.openEvidence(rec); f.TxHash != rec.TxHash || f.BlockHash != rec.BlockHash {
			t.Fatalf("batch %d: evidence of %s in %s", b.ID, f.TxHash, f.BlockHash)
		}
	}
	if got := testutil.ToFloat64(e.m.EvidenceFailures.WithLabelValues("1337")); got != failures {
		t.Fatalf("failures %v after the endpoint recovered, want still %v", got, failures)
	}
	if got := testutil.ToFloat64(e.m.EvidenceCollected.WithLabelValues("1337")); got != 2 {
		t.Fatalf("evidence collected %v, want 2 once the endpoint recovered", got)
	}
	if got := testutil.ToFloat64(e.m.EvidenceAbandoned.WithLabelValues("1337")); got != 0 {
		t.Fatalf("evidence abandoned %v", got)
	}
}

// TestEvidenceAbandoned: an anchor whose evidence still cannot be read
// when it leaves the reorg window is given up on, once, in
// attestd_evidence_abandoned_total (the alert's signal that its proofs
// will never be standalone), and no more attempts are made or counted.
func TestEvidenceAbandoned(t *testing.T) {
	e := newEnv(t)
	var fail atomic.Bool
	var calls atomic.Int32
	fail.Store(true)
	a, err := anchor.New(context.Background(), anchor.Config{
		Key: e.key, Confirmations: 1, RebroadcastAfter: time.Hour, ReorgWindow: 2,
		Evidence: failingReceipts{e.sim.Client().(evidence.Client), &fail, &calls},
	}, e.sim.Client(), e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.seal(1)
	e.step(a)
	e.commit()
	e.step(a) // confirmed in block 1; its evidence fails
	abandoned := func() float64 { return testutil.ToFloat64(e.m.EvidenceAbandoned.WithLabelValues("1337")) }
	for range 2 { // blocks 2 and 3: still within the window
		e.commit()
		e.step(a)
		if got := abandoned(); got != 0 {
			t.Fatalf("abandoned %v within the reorg window", got)
		}
	}
	e.commit()
	e.step(a) // block 4 > 1 + 2: beyond the window
	if got := abandoned(); got != 1 {
		t.Fatalf("abandoned %v beyond the reorg window, want 1", got)
	}
	failures := testutil.ToFloat64(e.m.EvidenceFailures.WithLabelValues("1337"))
	e.commit()
	e.step(a)
	if got, again := abandoned(), testutil.ToFloat64(e.m.EvidenceFailures.WithLabelValues("1337")); got != 1 || again != failures {
		t.Fatalf("after giving up: abandoned %v (want 1), failures %v (want still %v)", got, again, failures)
	}
}

// TestNoEvidence: with Config.Evidence nil nothing is collected and
// nothing counts as failing.
func TestNoEvidence(t *testing.T) {
	e := newEnv(t)
	a, err := anchor.New(context.Background(), anchor.Config{Key: e.key, Confirmations: 1, RebroadcastAfter: time.Hour}, e.sim.Client(), e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.CollectsEvidence() {
		t.Fatal("CollectsEvidence with no evidence client")
	}
	b := e.seal(1)
	e.step(a)
	e.commit()
	e.step(a)
	e.commit()
	e.step(a)
	if rec := e.record(b.ID); rec.State != store.AnchorConfirmed || rec.Evidence != nil {
		t.Fatalf("%s with %d bytes of evidence; want confirmed without", rec.State, len(rec.Evidence))
	}
	if got := testutil.ToFloat64(e.m.EvidenceFailures.WithLabelValues("1337")); got != 0 {
		t.Fatalf("evidence failures %v", got)
	}
}

// TestEvidenceAfterRestart: an anchor confirmed by an anchorer that could
// not collect its evidence gets it from the anchorer started after it.
func TestEvidenceAfterRestart(t *testing.T) {
	e := newEnv(t)
	var fail atomic.Bool
	var calls atomic.Int32
	fail.Store(true)
	broken, err := anchor.New(context.Background(), anchor.Config{
		Key: e.key, Confirmations: 2, RebroadcastAfter: time.Hour,
		Evidence: failingReceipts{e.sim.Client().(evidence.Client), &fail, &calls},
	}, e.sim.Client(), e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := e.seal(1)
	e.step(broken)
	e.commit()
	e.commit()
	e.step(broken)
	if rec := e.record(b.ID); rec.State != store.AnchorConfirmed || rec.Evidence != nil || calls.Load() == 0 {
		t.Fatalf("%s with %d bytes of evidence after %d attempts", rec.State, len(rec.Evidence), calls.Load())
	}
	e.step(e.anchorer(e.sim.Client(), 2))
	rec := e.record(b.ID)
	if f := e.openEvidence(rec); f.BlockHash != rec.BlockHash || f.Confirmations() != 2 {
		t.Fatalf("evidence of %s with %d confirmations", f.BlockHash, f.Confirmations())
	}
	head, err := e.sim.Client().HeaderByNumber(context.Background(), new(big.Int).SetUint64(rec.BlockNumber+1))
	if err != nil {
		t.Fatal(err)
	}
	if f := e.openEvidence(rec); f.TipHash != head.Hash() {
		t.Fatalf("tip %s, chain %s", f.TipHash, head.Hash())
	}
}
