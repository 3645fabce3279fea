package anchor_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/verify"
)

// sealLeaves commits a batch of n fresh fingerprints and returns it with
// its leaves.
func (e *env) sealLeaves(n int) (store.Batch, []fingerprint.Fingerprint) {
	e.t.Helper()
	ctx := context.Background()
	subs := make([]store.Submission, n)
	for i := range subs {
		subs[i] = store.Submission{Fingerprint: fingerprint.Sum(fmt.Appendf(nil, "%s leaf %d %d", e.t.Name(), i, time.Now().UnixNano())), Institution: "lab", ReceivedAt: time.Now()}
	}
	if _, _, err := e.store.Submit(ctx, subs, 0); err != nil {
		e.t.Fatal(err)
	}
	fps, err := e.store.Pending(ctx, n)
	if err != nil {
		e.t.Fatal(err)
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := e.store.CommitBatch(ctx, fps, tree, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return b, fps
}

// bundleOf is the version 2 proof of fp with the anchor record rec, as
// the server assembles it.
func (e *env) bundleOf(fp fingerprint.Fingerprint, b store.Batch, rec store.Anchor) *proof.Bundle {
	e.t.Helper()
	p, err := e.store.Proof(context.Background(), fp)
	if err != nil {
		e.t.Fatal(err)
	}
	path := make([]proof.Hash, len(p.Path))
	for i, n := range p.Path {
		path[i] = n
	}
	return &proof.Bundle{
		Version: proof.Version, Fingerprint: fp, BatchID: b.ID, Index: p.Entry.Index, Size: b.Size, Root: b.Root, Path: path,
		Anchors: []proof.Anchor{{ChainID: rec.ChainID, TxHash: rec.TxHash, BlockNumber: rec.BlockNumber, BlockHash: rec.BlockHash,
			Anchorer: rec.From, Evidence: rec.Evidence}},
	}
}

// TestReorgOldEvidenceOffline: a confirmed anchor's evidence, collected
// before a reorg deeper than the confirmation depth, is replaced once the
// anchor is confirmed again; and the old evidence (kept by whoever
// fetched a proof before the reorg), verified offline against the new
// canonical chain's hash at its block's height, is invalid: the canonical
// check fails. The new evidence is valid against the same chain.
func TestReorgOldEvidenceOffline(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := e.sim.Client()
	parent, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := e.anchorer(client, 2)
	b, fps := e.sealLeaves(3)
	e.step(a)
	e.commit()
	e.commit()
	e.step(a)
	first := e.record(b.ID)
	if first.State != store.AnchorConfirmed {
		t.Fatalf("state %s, want confirmed", first.State)
	}
	old := e.openEvidence(first)
	oldBundle := e.bundleOf(fps[1], b, first)
	policy := func(trusted ...verify.TrustedBlock) verify.Policy {
		return verify.Policy{Offline: true, Anchorers: map[uint64]common.Address{1337: e.from}, Trusted: map[uint64][]verify.TrustedBlock{1337: trusted}}
	}
	// Before the reorg it is valid, trusting the chain's tip.
	if r := verify.Verify(ctx, oldBundle, &fps[1], nil, policy(verify.TrustedBlock{Number: old.TipNumber, Hash: old.TipHash, HasNumber: true})); !r.Valid {
		t.Fatalf("before the reorg: %s %+v", r.Verdict, r.Failed())
	}

	if err := e.sim.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	e.sim.Rollback() // the fork must not carry the anchor tx
	for range 3 {    // longer than the chain it replaces
		e.commit()
	}
	e.step(a)
	if rec := e.record(b.ID); rec.State != store.AnchorSigned || rec.Evidence != nil {
		t.Fatalf("after the deep reorg: %s with %d bytes of evidence, want signed again without", rec.State, len(rec.Evidence))
	}
	for range 2 {
		e.commit()
		e.step(a)
	}
	rec := e.record(b.ID)
	if rec.State != store.AnchorConfirmed || rec.BlockHash == first.BlockHash || rec.Evidence == nil || bytes.Equal(rec.Evidence, first.Evidence) {
		t.Fatalf("re-anchored: %s in %s (first in %s), evidence replaced: %v", rec.State, rec.BlockHash, first.BlockHash, !bytes.Equal(rec.Evidence, first.Evidence))
	}
	now := e.openEvidence(rec)
	if now.BlockHash != rec.BlockHash || now.Confirmations() != 2 {
		t.Fatalf("new evidence of %s with %d confirmations; anchor in %s", now.BlockHash, now.Confirmations(), rec.BlockHash)
	}
	canonAt := func(n uint64) common.Hash {
		t.Helper()
		h, err := client.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		return h.Hash()
	}

	// The old evidence against the new chain, at each height it holds.
	for n := old.BlockNumber; n <= old.TipNumber; n++ {
		canon := canonAt(n)
		if h, _ := old.HashAt(n); h == canon {
			t.Fatalf("block %d is the same on both forks: the test does not reorg it", n)
		}
		r := verify.Verify(ctx, oldBundle, &fps[1], nil, policy(verify.TrustedBlock{Number: n, Hash: canon, HasNumber: true}))
		c := canonical(r)
		if r.Valid || r.Verdict != verify.VerdictInvalid || c.State != verify.StateFailed {
			t.Fatalf("old evidence, trusting block %d of the new chain: %s, canonical %s (%s)", n, r.Verdict, c.State, c.Detail)
		}
		// By hash only: no block of the old evidence has it either.
		if r := verify.Verify(ctx, oldBundle, nil, nil, policy(verify.TrustedBlock{Hash: canon})); r.Verdict != verify.VerdictInvalid || canonical(r).State != verify.StateFailed {
			t.Fatalf("old evidence, trusting the hash of block %d of the new chain: %s %+v", n, r.Verdict, r.Failed())
		}
	}

	// The new evidence against the new chain.
	newBundle := e.bundleOf(fps[1], b, rec)
	for n := now.BlockNumber; n <= now.TipNumber; n++ {
		if r := verify.Verify(ctx, newBundle, &fps[1], nil, policy(verify.TrustedBlock{Number: n, Hash: canonAt(n), HasNumber: true})); !r.Valid {
			t.Fatalf("new evidence, trusting block %d: %s %+v", n, r.Verdict, r.Failed())
		}
	}
}

// canonical returns r's anchor[1337].canonical check.
func canonical(r verify.Result) verify.Check {
	for _, c := range r.Checks {
		if c.Name == "anchor[1337]."+verify.CheckCanonical {
			return c
		}
	}
	var names []string
	for _, c := range r.Checks {
		names = append(names, c.Name)
	}
	return verify.Check{Detail: "no canonical check among " + strings.Join(names, ", ")}
}
