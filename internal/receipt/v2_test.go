package receipt_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/attestd/attestd/internal/receipt"
)

// TestVersion2StillVerifies: receipts attestd issued before version 3
// (testdata/receipts-v2.json, one request of five, signed by testKey)
// still verify, and a change to any byte of one of them is refused.
func TestVersion2StillVerifies(t *testing.T) {
	data, err := os.ReadFile("testdata/receipts-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil || len(raws) != 5 {
		t.Fatalf("fixture: %d receipts, %v", len(raws), err)
	}
	pub := receipt.NewSigner(testKey()).PublicKey()
	for i, raw := range raws {
		var r receipt.Receipt
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.Version != receipt.VersionV2 || !r.Salt.IsZero() {
			t.Fatalf("fixture %d: version %d, salt %x", i, r.Version, r.Salt)
		}
		if err := receipt.Verify(r, pub); err != nil {
			t.Fatalf("version 2 receipt %d: %v", i, err)
		}
		// A salt added to a version 2 receipt, or the receipt relabelled
		// version 3, is refused.
		salted := r
		salted.Salt[0] = 1
		if err := receipt.Verify(salted, pub); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("receipt %d with a salt: %v", i, err)
		}
		v3 := salted
		v3.Version = receipt.Version
		if err := receipt.Verify(v3, pub); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("receipt %d as version 3: %v", i, err)
		}
		// Every byte of the JSON changed: either it no longer parses or it
		// no longer verifies, unless the change is one JSON does not see
		// (the case of a hex digit it reads either way, or whitespace).
		for b := range raw {
			for _, d := range []byte{0x01, 0x20} {
				m := append([]byte(nil), raw...)
				m[b] ^= d
				var mr receipt.Receipt
				if json.Unmarshal(m, &mr) != nil {
					continue
				}
				if receipt.Verify(mr, pub) == nil && !sameReceipt(mr, r) {
					t.Fatalf("receipt %d: byte %d xor %#x verifies as %+v", i, b, d, mr)
				}
			}
		}
	}
}

// sameReceipt: a and b state the same, at the same place, signed the same.
func sameReceipt(a, b receipt.Receipt) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
