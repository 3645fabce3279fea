package receipt_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
)

// TestAppendJSON: an Encoder writing one receipt, and one Encoder writing
// them one after another, write exactly what encoding/json writes (gin's c.JSON, which
// the handler used before), for real receipts of both versions (trees of
// 7 and 2, then receipts of other trees), names that need escaping, and
// odd values.
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
	var enc receipt.Encoder
	var seq []byte
	for i := range rs {
		want, err := json.Marshal(rs[i])
		if err != nil {
			t.Fatal(err)
		}
		if got := new(receipt.Encoder).Append(nil, &rs[i]); !bytes.Equal(got, want) {
			t.Fatalf("receipt %d:\n got %s\nwant %s", i, got, want)
		}
		n := len(seq)
		if seq = enc.Append(seq, &rs[i]); !bytes.Equal(seq[n:], want) {
			t.Fatalf("receipt %d after %d others, by one Encoder:\n got %s\nwant %s", i, i, seq[n:], want)
		}
	}
}

// TestEncoderSharesTree: an Encoder writing the receipts of one tree in
// order writes each as encoding/json does, also when the next tree's
// receipts have paths, times and a signature that differ in one byte.
func TestEncoderSharesTree(t *testing.T) {
	rs, err := receipt.NewSigner(testKey()).Sign(factsN(64)...)
	if err != nil {
		t.Fatal(err)
	}
	next := make([]receipt.Receipt, len(rs))
	for i, r := range rs {
		r.TreePath = slices.Clone(r.TreePath)
		r.TreePath[len(r.TreePath)-1-i%len(r.TreePath)][31] ^= 1
		r.Signature = slices.Clone(r.Signature)
		r.Signature[63] ^= 1
		r.ReceivedAt = r.ReceivedAt.Add(time.Duration(i % 2))
		r.Deadline = r.Deadline.In(time.FixedZone("Z", 3600*(i%2)))
		next[i] = r
	}
	var enc receipt.Encoder
	for i, r := range append(rs, next...) {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := enc.Append(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("receipt %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// FuzzAppendJSON: for any institution name, times and tree fields, an
// Encoder writes what encoding/json does, and so does one Encoder writing a receipt
// and then another that shares some of its fields (the bits of share
// choose which).
func FuzzAppendJSON(f *testing.F) {
	f.Add("Hôpital", int64(1700000000123456789), int64(-1), uint64(3), uint64(2), []byte{1, 2}, byte(0xff))
	f.Add("<&>\"\\\x00\xff", int64(0), int64(1<<62), uint64(0), uint64(1<<63), []byte(nil), byte(0))
	f.Fuzz(func(t *testing.T, inst string, rec, dl int64, size, idx uint64, sig []byte, share byte) {
		r := receipt.Receipt{Version: 3, Salt: receipt.Salt{byte(rec)}, Institution: inst, ReceivedAt: time.Unix(0, rec).UTC(), Deadline: time.Unix(0, dl).In(time.FixedZone("Z", int(dl%50000))),
			KeyID: inst, TreeSize: size, TreeIndex: idx, TreePath: []proof.Hash{{byte(size)}, {byte(idx)}}, Signature: sig}
		// r2 differs from r where a bit of share is 0.
		r2 := r
		if share&1 == 0 {
			r2.ReceivedAt = r.ReceivedAt.Add(1)
		}
		if share&2 == 0 {
			r2.Deadline = r.Deadline.UTC()
		}
		if share&4 == 0 {
			r2.TreePath = []proof.Hash{{byte(size) + 1}}
		}
		if share&8 == 0 {
			r2.TreePath = []proof.Hash{r.TreePath[0], {byte(idx) ^ 0x80}, {3}}
		}
		if share&16 == 0 {
			r2.Signature = append(slices.Clone(sig), 0)
		}
		if share&32 == 0 {
			r2.Signature = nil
		}
		var enc receipt.Encoder
		for i, r := range []receipt.Receipt{r, r2} {
			want, err := json.Marshal(r)
			if err != nil {
				t.Skip()
			}
			if got := new(receipt.Encoder).Append(nil, &r); !bytes.Equal(got, want) {
				t.Fatalf("\n got %s\nwant %s", got, want)
			}
			if got := enc.Append(nil, &r); !bytes.Equal(got, want) {
				t.Fatalf("receipt %d by one Encoder:\n got %s\nwant %s", i, got, want)
			}
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

// BenchmarkEncode: the receipts of one request of 1,000 new fingerprints
// (one tree, one received time), as writeReceipts writes them.
func BenchmarkEncode(b *testing.B) {
	facts := factsN(1000)
	for i := range facts {
		facts[i].ReceivedAt, facts[i].Deadline = facts[0].ReceivedAt, facts[0].Deadline
	}
	rs, err := receipt.NewSigner(testKey()).Sign(facts...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = buf[:0]
		var enc receipt.Encoder
		for i := range rs {
			buf = enc.Append(buf, &rs[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/receipt")
}
