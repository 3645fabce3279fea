package server_test

import (
	"testing"
	"time"

	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/server"
)

// TestReceiptKeyRotation: a rotation scheduled in the keyring file reaches
// the running service (re-read, no restart); /v1/info lists both keys with
// their periods; a fingerprint received before the switch is signed by the
// old key, one received after by the new, and a resubmission of the first
// after the switch still by the old key (its own received time), each
// verifying only under its own key.
func TestReceiptKeyRotation(t *testing.T) {
	f := newFixture(t, server.Config{})
	before, _ := receipt.LoadKeyring(f.rkFile)
	old := before.Keys()[0]
	fpOld, fpNew := fp(t, "before the switch"), fp(t, "after the switch")
	first := f.submit(keyA, fpOld).Receipts[0]
	if first.KeyID != old.ID() {
		t.Fatalf("first receipt signed by %s, want the only key %s", first.KeyID, old.ID())
	}

	at := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	cur, err := receipt.Rotate(f.rkFile, at, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * app.KeysReloadInterval)
	for len(f.info().ReceiptKeys) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the service did not re-read the rotated keyring in %s", 10*app.KeysReloadInterval)
		}
		time.Sleep(50 * time.Millisecond)
	}
	keys := f.info().ReceiptKeys
	if keys[0].KeyID != old.ID() || keys[0].ValidUntil == nil || !keys[0].ValidUntil.Equal(at) ||
		keys[1].KeyID != cur.ID() || keys[1].ValidFrom == nil || !keys[1].ValidFrom.Equal(at) || keys[1].ValidUntil != nil {
		t.Fatalf("/v1/info receipt keys after the rotation: %+v; want %s until %s, then %s from %s", keys, old.ID(), at, cur.ID(), at)
	}
	if keys[0].ValidFrom == nil || !keys[0].ValidFrom.Equal(old.ValidFrom) {
		t.Fatalf("the old key's start: %v, want %s", keys[0].ValidFrom, old.ValidFrom)
	}

	time.Sleep(time.Until(at)) // the switch is an instant on the clock
	after := f.submit(keyA, fpNew).Receipts[0]
	again := f.submit(keyA, fpOld).Receipts[0]
	for _, c := range []struct {
		name      string
		r         receipt.Receipt
		own, othr receipt.Key
	}{{"received after the switch", after, cur, old}, {"resubmitted after the switch", again, old, cur}} {
		if c.r.KeyID != c.own.ID() {
			t.Fatalf("%s: signed by %s, want %s", c.name, c.r.KeyID, c.own.ID())
		}
		if err := receipt.Verify(c.r, c.own.Public()); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if receipt.Verify(c.r, c.othr.Public()) == nil {
			t.Fatalf("%s: verifies under the other key too", c.name)
		}
	}
	if !again.ReceivedAt.Equal(first.ReceivedAt) || again.ReceivedAt.After(at) {
		t.Fatalf("the resubmission's received time %s, want the first's %s", again.ReceivedAt, first.ReceivedAt)
	}
	if after.ReceivedAt.Before(at) {
		t.Fatalf("received %s, before the switch at %s", after.ReceivedAt, at)
	}
}
