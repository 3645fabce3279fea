package statement_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/statement"
)

// A status file names its key as receipts do, so a verifier finds it in
// the same trust list entry (statement cannot import receipt: receipt
// imports the verifier, which reads statements).
func TestKeyIDIsReceiptKeyID(t *testing.T) {
	for range 20 {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := statement.KeyID(pub), receipt.KeyID(pub); got != want {
			t.Fatalf("statement.KeyID = %s, receipt.KeyID = %s", got, want)
		}
	}
}
