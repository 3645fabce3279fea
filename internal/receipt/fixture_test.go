package receipt_test

import (
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/attestd/attestd/internal/receipt"
)

var update = flag.Bool("update", false, "rewrite testdata/receipts-v3.json")

// fixtureV3 is testdata/receipts-v3.json: version 3 receipts of one tree,
// signed by testKey, for other verifiers' tests (the web page's).
type fixtureV3 struct {
	PublicKey []byte            `json:"public_key"` // base64
	Receipts  []receipt.Receipt `json:"receipts"`
}

// TestVersion3Fixture: the committed version 3 receipts verify under the
// test key (go test -run Version3Fixture -update writes new ones).
func TestVersion3Fixture(t *testing.T) {
	s := receipt.NewSigner(testKey())
	if *update {
		facts := factsN(5)
		facts[2].Institution = "Hôpital Saint-Louis"
		rs, err := s.Sign(facts...)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(fixtureV3{s.PublicKey(), rs}, "", "  ")
		if err := os.WriteFile("testdata/receipts-v3.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("testdata/receipts-v3.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixtureV3
	if err := json.Unmarshal(data, &f); err != nil || len(f.Receipts) != 5 || !s.PublicKey().Equal(ed25519.PublicKey(f.PublicKey)) {
		t.Fatalf("fixture: %d receipts, key %x, %v", len(f.Receipts), f.PublicKey, err)
	}
	for i, r := range f.Receipts {
		if r.Version != receipt.Version || r.Salt.IsZero() {
			t.Fatalf("receipt %d: version %d, salt %x", i, r.Version, r.Salt)
		}
		if err := receipt.Verify(r, s.PublicKey()); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
	}
}
