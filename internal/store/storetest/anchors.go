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

	"github.com/attestd/attestd/internal/store"
	"github.com/ethereum/go-ethereum/common"
)

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
	// The chain evidence is written to the confirmed record (a write from
	// confirmed to confirmed) and read back byte for byte, by every read.
	withEvidence := confirmed1
	withEvidence.Evidence = testEvidence(b.ID, 1)
	mustPutAnchor(t, s, withEvidence, store.AnchorConfirmed)
	checkAnchors(t, mustBatch(t, s, b.ID), withEvidence, signed5)
	if p, err := s.Proof(ctx, fp(t, "a")); err != nil {
		t.Errorf("Proof: %v", err)
	} else {
		checkAnchors(t, p.Batch, withEvidence, signed5)
	}
	if bs, err := s.Batches(ctx, b.ID-1, 1); err != nil || len(bs) != 1 {
		t.Errorf("Batches = %v, %v", bs, err)
	} else {
		checkAnchors(t, bs[0], withEvidence, signed5)
	}
	// A reorg sends it back: the record written without evidence has none.
	resigned := testAnchor(b.ID, 1, store.AnchorSigned)
	resigned.Nonce++
	mustPutAnchor(t, s, resigned, store.AnchorConfirmed)
	checkAnchors(t, mustBatch(t, s, b.ID), resigned, signed5)
	if got, _ := mustBatch(t, s, b.ID).Anchor(1); got.Evidence != nil {
		t.Errorf("after the reorg the record still has %d bytes of evidence", len(got.Evidence))
	}
	// Re-anchored and confirmed again: new evidence replaces none, and
	// Unconfirmed (the record is not confirmed on chain 5) returns it too.
	mined1.Nonce = resigned.Nonce
	mustPutAnchor(t, s, mined1, store.AnchorSigned)
	again := testAnchor(b.ID, 1, store.AnchorConfirmed)
	again.Nonce, again.Evidence = resigned.Nonce, testEvidence(b.ID+7, 1)
	mustPutAnchor(t, s, again, store.AnchorMined)
	checkAnchors(t, mustBatch(t, s, b.ID), again, signed5)
	if bs, err := s.Unconfirmed(ctx, 5, 10); err != nil || len(bs) != 1 {
		t.Errorf("Unconfirmed(5) = %v, %v", bs, err)
	} else {
		checkAnchors(t, bs[0], again, signed5)
	}
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
			got.Evidence, want.Evidence = nil, nil // shown by length below
			return fmt.Sprintf("%s differs: got %+v, want %+v", f.name, got, want)
		}
	}
	if !bytes.Equal(got.Evidence, want.Evidence) || (got.Evidence == nil) != (want.Evidence == nil) {
		return fmt.Sprintf("Evidence differs: got %d bytes (nil: %v), want %d bytes (nil: %v)",
			len(got.Evidence), got.Evidence == nil, len(want.Evidence), want.Evidence == nil)
	}
	return ""
}

// testEvidence returns stand-in chain evidence for batch id on chainID:
// about 40 KiB (more than a real one at 12 confirmations), every byte
// value included, distinct per batch and chain. The store never looks
// inside.
func testEvidence(id, chainID uint64) []byte {
	out := fmt.Appendf(nil, `{"version":1,"batch":%d,"chain":%d,"blob":"`, id, chainID)
	for i := range 40 << 10 {
		out = append(out, byte(i*7+int(id)))
	}
	return append(out, `"}`...)
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
