package api

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/statement"
)

var regen = flag.Bool("regen-examples", false, "print the spec examples' receipts and status file signed anew with the example keys")

// exampleKey is the spec examples' receipt key n (1 or 2, the two keys of
// the GET /v1/info example): made from a published seed, so that an
// example can be signed again when a format changes (-regen-examples).
func exampleKey(n int) ed25519.PrivateKey {
	seed := sha256.Sum256(fmt.Appendf(nil, "attestd openapi example receipt key %d", n))
	return ed25519.NewKeyFromSeed(seed[:])
}

// TestExampleKeys: the GET /v1/info example publishes exampleKey 1 and 2,
// and with -regen-examples prints what to paste into api/openapi.yaml.
func TestExampleKeys(t *testing.T) {
	doc := loadSpec(t)
	var info Info
	for _, e := range examples(t, doc) {
		if e.schema == "Info" {
			if err := decodeExample(e.value, &info); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(info.ReceiptKeys) != 2 {
		t.Fatalf("the GET /v1/info example has %d receipt keys, want 2", len(info.ReceiptKeys))
	}
	for i, k := range info.ReceiptKeys {
		pub := exampleKey(i + 1).Public().(ed25519.PublicKey)
		if !pub.Equal(ed25519.PublicKey(k.PublicKey)) {
			t.Errorf("receipt key %d of the GET /v1/info example is not exampleKey(%d) (%s)", i, i+1, base64.StdEncoding.EncodeToString(pub))
		}
	}
	if !*regen {
		return
	}
	day := func(s string) time.Time { t0, _ := time.Parse(time.RFC3339, s); return t0 }
	sign := func(key int, facts ...receipt.Facts) {
		rs, err := receipt.NewSigner(exampleKey(key)).Sign(facts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			t.Logf("receipt of %s: key_id %s salt %x path %v signature %s", r.Fingerprint, r.KeyID, r.Salt, r.TreePath, base64.StdEncoding.EncodeToString(r.Signature))
		}
	}
	fp := func(s string) fingerprint.Fingerprint { f, _ := fingerprint.Parse(s); return f }
	rec := day("2026-03-14T09:26:53Z")
	a, b := fp("3d6bf92bc3712c45fb1a2959254d1aa3061357825cf5e2f1c43f7a2d909809f5"), fp("30bab95953620a6938ca0114f3bdb71410839b0ca0bb66dcf304369dcb3cb7e6")
	t.Log("POST /v1/fingerprints:")
	sign(1, receipt.Facts{Fingerprint: a, Institution: "example-hospital", ReceivedAt: rec, Deadline: rec.Add(11 * time.Minute)},
		receipt.Facts{Fingerprint: b, Institution: "example-hospital", ReceivedAt: rec, Deadline: rec.Add(11 * time.Minute)})
	t.Log("GET /v1/submissions:")
	sign(1, receipt.Facts{Fingerprint: a, Institution: "example-hospital", ReceivedAt: rec, Deadline: rec.Add(11 * time.Minute)})
	for _, s := range []struct{ fp, at string }{{"57fba5202e24078c3b1bcc6ed3affe513659d1229abc8e837601ffd2d4bc08aa", "2027-01-05T09:00:00Z"}, {"54e480165a564fdbaaa6c00400ba5ea639db1de8c6a8c1d479b631ba83408748", "2027-01-06T09:00:00Z"}} {
		t.Log("POST /v1/statements:")
		sign(2, receipt.Facts{Fingerprint: fp(s.fp), Institution: "example-hospital", ReceivedAt: day(s.at), Deadline: day(s.at).Add(11 * time.Minute)})
	}
	var status *statement.StatusFile
	for _, e := range examples(t, doc) {
		if e.schema == "StatusFile" {
			status = new(statement.StatusFile)
			if err := decodeExample(e.value, status); err != nil {
				t.Fatal(err)
			}
		}
	}
	f, err := statement.Sign(status.IssuedAt.Time, status.Statements, exampleKey(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GET /v1/status: key_id %s signature %s", f.KeyID, f.Signature)
	for i := range 2 {
		pub := exampleKey(i + 1).Public().(ed25519.PublicKey)
		t.Logf("GET /v1/info key %d: key_id %s public_key %s", i+1, receipt.KeyID(pub), base64.StdEncoding.EncodeToString(pub))
	}
}
