package receipt_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
)

// TestAppendJSON: AppendJSON writes exactly what encoding/json writes
// (gin's c.JSON, which the handler used before), for real receipts of
// both versions, names that need escaping, and odd values.
func TestAppendJSON(t *testing.T) {
	s := receipt.NewSigner(testKey())
	facts := factsN(9)
	for i, name := range []string{"Hôpital Saint-Louis", `A "quoted" \ name`, "<script>&amp;", "plain-slug", "\u2028 line sep", "émoji 🏥", "x"} {
		facts[i].Institution = name
	}
	facts[7].ReceivedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)) // whole seconds
	rs, err := s.Sign(facts[:7]...)
	if err != nil {
		t.Fatal(err)
	}
	rs2, err := s.Sign(facts[7:]...)
	if err != nil {
		t.Fatal(err)
	}
	rs = append(rs, rs2...)
	var v2 []receipt.Receipt
	if err := json.Unmarshal(mustRead(t, "testdata/receipts-v2.json"), &v2); err != nil {
		t.Fatal(err)
	}
	rs = append(rs, v2...)
	odd := rs[0]
	odd.TreePath, odd.Signature, odd.Institution = nil, nil, "tab\there"
	odd.ReceivedAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("Y", -5*3600-1800))
	rs = append(rs, odd, receipt.Receipt{TreePath: []proof.Hash{}, Signature: []byte{}, Fingerprint: fingerprint.Fingerprint{1}})
	for i := range rs {
		want, err := json.Marshal(rs[i])
		if err != nil {
			t.Fatal(err)
		}
		if got := receipt.AppendJSON(nil, &rs[i]); !bytes.Equal(got, want) {
			t.Fatalf("receipt %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// FuzzAppendJSON: for any institution name, times and tree fields,
// AppendJSON is encoding/json.
func FuzzAppendJSON(f *testing.F) {
	f.Add("Hôpital", int64(1700000000123456789), int64(-1), uint64(3), uint64(2), []byte{1, 2})
	f.Add("<&>\"\\\x00\xff", int64(0), int64(1<<62), uint64(0), uint64(1<<63), []byte(nil))
	f.Fuzz(func(t *testing.T, inst string, rec, dl int64, size, idx uint64, sig []byte) {
		r := receipt.Receipt{Version: 3, Salt: receipt.Salt{byte(rec)}, Institution: inst, ReceivedAt: time.Unix(0, rec).UTC(), Deadline: time.Unix(0, dl).In(time.FixedZone("Z", int(dl%50000))),
			KeyID: inst, TreeSize: size, TreeIndex: idx, TreePath: []proof.Hash{{byte(size)}}, Signature: sig}
		want, err := json.Marshal(r)
		if err != nil {
			t.Skip()
		}
		if got := receipt.AppendJSON(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
