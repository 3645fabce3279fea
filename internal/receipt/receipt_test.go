package receipt_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
)

// testKey is a fixed key, so the test is reproducible.
func testKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("attestd receipt test key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

var (
	testFP       = fingerprint.Sum([]byte("lab result 42"))
	testReceived = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	testDeadline = testReceived.Add(10 * time.Minute)
	testFacts    = receipt.Facts{Fingerprint: testFP, Institution: "lab", ReceivedAt: testReceived, Deadline: testDeadline}
)

// signOne signs one receipt and fails the test on error.
func signOne(t testing.TB, s *receipt.Signer, f receipt.Facts) receipt.Receipt {
	t.Helper()
	rs, err := s.Sign(f)
	if err != nil || len(rs) != 1 {
		t.Fatalf("Sign: %d receipts, %v", len(rs), err)
	}
	return rs[0]
}

// factsN returns n distinct facts: fingerprints, institutions and times vary.
func factsN(n int) []receipt.Facts {
	out := make([]receipt.Facts, n)
	for i := range out {
		out[i] = receipt.Facts{
			Fingerprint: fingerprint.Sum(fmt.Appendf(nil, "record %d", i)),
			Institution: fmt.Sprintf("hospital-%d", i%3),
			ReceivedAt:  testReceived.Add(time.Duration(i) * time.Millisecond),
			Deadline:    testDeadline.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return out
}

func TestStatementLayout(t *testing.T) {
	received := time.Unix(1700000000, 123456789)
	deadline := time.Unix(1700000600, 0)
	fp := fingerprint.Fingerprint{0: 0xab, 31: 0x01}
	salt := receipt.Salt{0: 0x5a, 15: 0x0f}
	want := "attestd/receipt/v3\n" +
		"5a00000000000000000000000000000f\n" +
		"ab00000000000000000000000000000000000000000000000000000000000001\n" +
		"Hôpital Saint-Louis\n" +
		"1700000000123456789\n" +
		"1700000600000000000\n"
	f := receipt.Facts{Fingerprint: fp, Institution: "Hôpital Saint-Louis", ReceivedAt: received, Deadline: deadline}
	if got := string(receipt.Statement(f, salt)); got != want {
		t.Fatalf("Statement =\n%q\nwant\n%q", got, want)
	}
	if receipt.Leaf(f, salt) != sha256.Sum256([]byte(want)) {
		t.Fatal("Leaf is not SHA-256 of the statement")
	}
	wantV2 := "attestd/receipt/v2\n" + want[len("attestd/receipt/v3\n5a00000000000000000000000000000f\n"):]
	if got := string(receipt.StatementV2(f)); got != wantV2 {
		t.Fatalf("StatementV2 =\n%q\nwant\n%q", got, wantV2)
	}
	// The time zone of the arguments does not matter, only the instant;
	// times before 1970 are negative.
	paris := time.FixedZone("CET", 3600)
	got := receipt.Statement(receipt.Facts{Fingerprint: fp, Institution: "x", ReceivedAt: received.In(paris), Deadline: time.Unix(-1, 0).In(paris)}, salt)
	want = "attestd/receipt/v3\n5a00000000000000000000000000000f\nab00000000000000000000000000000000000000000000000000000000000001\nx\n1700000000123456789\n-1000000000\n"
	if string(got) != want {
		t.Fatalf("Statement =\n%q\nwant\n%q", got, want)
	}
	root := [32]byte{0: 0x01, 31: 0xff}
	wantTree := "attestd/receipt-tree/v3\n1000\n01000000000000000000000000000000000000000000000000000000000000ff\n"
	if got := string(receipt.TreeMessage(1000, root)); got != wantTree {
		t.Fatalf("TreeMessage =\n%q\nwant\n%q", got, wantTree)
	}
	if got := string(receipt.TreeMessageV2(1000, root)); got != strings.Replace(wantTree, "v3", "v2", 1) {
		t.Fatalf("TreeMessageV2 = %q", got)
	}
}

// TestSaltText: a salt is 32 lowercase hex digits in JSON, and only that.
func TestSaltText(t *testing.T) {
	var s receipt.Salt
	good := "00112233445566778899aabbccddeeff"
	if err := s.UnmarshalText([]byte(good)); err != nil || hex.EncodeToString(s[:]) != good {
		t.Fatalf("UnmarshalText(%s) = %x, %v", good, s, err)
	}
	if b, _ := s.MarshalText(); string(b) != good {
		t.Fatalf("MarshalText = %s", b)
	}
	for _, bad := range []string{"", good[:31], good + "0", strings.ToUpper(good), good[:30] + "g0", " " + good[1:], good[:31] + "\n"} {
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("salt %q accepted", bad)
		}
	}
}

func TestKeyID(t *testing.T) {
	pub := testKey().Public().(ed25519.PublicKey)
	h := sha256.Sum256(pub)
	if got, want := receipt.KeyID(pub), hex.EncodeToString(h[:8]); got != want || len(got) != 16 {
		t.Fatalf("KeyID = %q, want %q", got, want)
	}
	s := receipt.NewSigner(testKey())
	if s.KeyID() != receipt.KeyID(pub) || !s.PublicKey().Equal(pub) {
		t.Fatalf("signer key %q %x, want %q %x", s.KeyID(), s.PublicKey(), receipt.KeyID(pub), pub)
	}
}

func TestSignVerify(t *testing.T) {
	s := receipt.NewSigner(testKey())
	f := testFacts
	f.ReceivedAt = f.ReceivedAt.In(time.FixedZone("X", -7200))
	r := signOne(t, s, f)
	if err := receipt.Verify(r, s.PublicKey()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.Version != receipt.Version || r.Fingerprint != testFP || r.Institution != "lab" || r.KeyID != s.KeyID() {
		t.Fatalf("receipt %+v", r)
	}
	if !r.ReceivedAt.Equal(testReceived) || r.ReceivedAt.Location() != time.UTC || !r.Deadline.Equal(testDeadline) {
		t.Fatalf("times %v %v, want %v %v in UTC", r.ReceivedAt, r.Deadline, testReceived, testDeadline)
	}
	// Alone in its tree: size 1, index 0, and (proof format v1: the lone
	// leaf is paired with itself) a path of its own leaf hash. The
	// signature is over the tree message of node(leaf, leaf).
	leaf := merkle.LeafHash(receipt.Leaf(testFacts, r.Salt))
	if r.TreeSize != 1 || r.TreeIndex != 0 || len(r.TreePath) != 1 || r.TreePath[0] != leaf {
		t.Fatalf("tree %d/%d path %v, want 0/1 and [%x]", r.TreeIndex, r.TreeSize, r.TreePath, leaf)
	}
	if !ed25519.Verify(s.PublicKey(), receipt.TreeMessage(1, merkle.NodeHash(leaf, leaf)), r.Signature) {
		t.Fatal("signature does not verify over TreeMessage(1, node(leaf, leaf))")
	}
	// Salted: the same facts signed again state the same, under another
	// salt (and so another signature).
	again := signOne(t, s, testFacts)
	if r.Salt.IsZero() || again.Salt == r.Salt || again.Facts() != r.Facts() || bytes.Equal(again.Signature, r.Signature) {
		t.Fatalf("re-signing gave salt %x (first %x), facts %+v", again.Salt, r.Salt, again.Facts())
	}
	// Through JSON and back (nanoseconds and all) it still verifies.
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back receipt.Receipt
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(back, s.PublicKey()); err != nil {
		t.Fatalf("Verify after JSON round trip (%s): %v", data, err)
	}
}

// TestSignMany: the receipts of one call share one signature, each
// verifies on its own (also after JSON), and each states exactly its facts.
func TestSignMany(t *testing.T) {
	s := receipt.NewSigner(testKey())
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 1000} {
		facts := factsN(n)
		rs, err := s.Sign(facts...)
		if err != nil || len(rs) != n {
			t.Fatalf("n=%d: %d receipts, %v", n, len(rs), err)
		}
		for i, r := range rs {
			if r.Facts() != (receipt.Facts{Fingerprint: facts[i].Fingerprint, Institution: facts[i].Institution, ReceivedAt: facts[i].ReceivedAt.UTC(), Deadline: facts[i].Deadline.UTC()}) {
				t.Fatalf("n=%d: receipt %d states %+v, want %+v", n, i, r.Facts(), facts[i])
			}
			if r.TreeSize != uint64(n) || r.TreeIndex != uint64(i) || !bytes.Equal(r.Signature, rs[0].Signature) {
				t.Fatalf("n=%d: receipt %d: tree %d/%d, shared signature %v", n, i, r.TreeIndex, r.TreeSize, bytes.Equal(r.Signature, rs[0].Signature))
			}
			data, _ := json.Marshal(r)
			var back receipt.Receipt
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if err := receipt.Verify(back, s.PublicKey()); err != nil {
				t.Fatalf("n=%d: receipt %d: %v", n, i, err)
			}
			// Another receipt's facts on this receipt's path do not verify.
			if n > 1 {
				other := r
				j := (i + 1) % n
				other.Fingerprint, other.Institution, other.ReceivedAt, other.Deadline = rs[j].Fingerprint, rs[j].Institution, rs[j].ReceivedAt, rs[j].Deadline
				if receipt.Verify(other, s.PublicKey()) == nil {
					t.Fatalf("n=%d: receipt %d verified with the facts of receipt %d", n, i, j)
				}
			}
		}
	}
	if _, err := s.Sign(); err == nil {
		t.Fatal("signing nothing succeeded")
	}
	bad := testFacts
	bad.ReceivedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.Sign(bad); err == nil {
		t.Fatal("signing a time outside the int64 nanosecond range succeeded")
	}
}

// TestVerifyRejectsMangled: every change of a stated fact, of the tree
// fields, of the signature, of the key ID or of the version is rejected.
func TestVerifyRejectsMangled(t *testing.T) {
	s := receipt.NewSigner(testKey())
	pub := s.PublicKey()
	facts := factsN(11)
	facts[6].Institution = "Clinique du Parc"
	rs, err := s.Sign(facts...)
	if err != nil {
		t.Fatal(err)
	}
	good := rs[6] // an index with both left and right siblings and a self-paired level
	reject := func(t *testing.T, what string, r receipt.Receipt) {
		t.Helper()
		if err := receipt.Verify(r, pub); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("%s: Verify = %v, want ErrInvalid", what, err)
		}
	}
	if err := receipt.Verify(good, pub); err != nil {
		t.Fatal(err)
	}

	t.Run("signature", func(t *testing.T) {
		for i := range good.Signature {
			for d := 1; d < 256; d++ {
				r := good
				r.Signature = bytes.Clone(good.Signature)
				r.Signature[i] ^= byte(d)
				if receipt.Verify(r, pub) == nil {
					t.Fatalf("signature byte %d xor %#02x accepted", i, d)
				}
			}
		}
		for _, sig := range [][]byte{nil, {}, good.Signature[:63], append(bytes.Clone(good.Signature), 0), make([]byte, 64)} {
			r := good
			r.Signature = sig
			reject(t, "signature of "+hex.EncodeToString(sig), r)
		}
	})
	t.Run("fingerprint", func(t *testing.T) {
		for i := range good.Fingerprint {
			for _, d := range []byte{0x01, 0x80, 0xff} {
				r := good
				r.Fingerprint[i] ^= d
				reject(t, "fingerprint", r)
			}
		}
	})
	t.Run("institution", func(t *testing.T) {
		for _, inst := range []string{"", "Clinique du parc", "Clinique du Parc ", " Clinique du Parc", "Clinique du Parc\n", "Clinique", "Clinique du Parc2"} {
			r := good
			r.Institution = inst
			reject(t, "institution "+inst, r)
		}
	})
	t.Run("times", func(t *testing.T) {
		for _, d := range []time.Duration{1, -1, time.Microsecond, time.Second, -time.Hour} {
			r := good
			r.ReceivedAt = good.ReceivedAt.Add(d)
			reject(t, "received_at "+d.String(), r)
			r = good
			r.Deadline = good.Deadline.Add(d)
			reject(t, "deadline "+d.String(), r)
		}
		r := good
		r.ReceivedAt, r.Deadline = good.Deadline, good.ReceivedAt
		reject(t, "swapped times", r)
	})
	t.Run("tree path", func(t *testing.T) {
		for i := range good.TreePath {
			for b := range 32 {
				for _, d := range []byte{0x01, 0x80} {
					r := good
					r.TreePath = slicesClone(good.TreePath)
					r.TreePath[i][b] ^= d
					reject(t, fmt.Sprintf("path[%d] byte %d", i, b), r)
				}
			}
		}
		for _, p := range [][]proof.Hash{nil, good.TreePath[:len(good.TreePath)-1], append(slicesClone(good.TreePath), proof.Hash{}), good.TreePath[1:]} {
			r := good
			r.TreePath = p
			reject(t, fmt.Sprintf("path of %d", len(p)), r)
		}
	})
	t.Run("tree index and size", func(t *testing.T) {
		for _, idx := range []uint64{0, 5, 7, 10, 11, 12, 1 << 40, math.MaxUint64} {
			r := good
			r.TreeIndex = idx
			reject(t, fmt.Sprintf("index %d", idx), r)
		}
		for _, size := range []uint64{0, 1, 7, 10, 12, 16, receipt.MaxTreeSize + 1, math.MaxUint64} {
			r := good
			r.TreeSize = size
			reject(t, fmt.Sprintf("size %d", size), r)
		}
	})
	t.Run("key id", func(t *testing.T) {
		for _, id := range []string{"", good.KeyID[:15], good.KeyID + "0", "0000000000000000", receipt.KeyID(make(ed25519.PublicKey, 32))} {
			r := good
			r.KeyID = id
			reject(t, "key_id "+id, r)
		}
	})
	t.Run("salt", func(t *testing.T) {
		for i := range good.Salt {
			for _, d := range []byte{0x01, 0x80, 0xff} {
				r := good
				r.Salt[i] ^= d
				reject(t, fmt.Sprintf("salt byte %d", i), r)
			}
		}
		r := good
		r.Salt = receipt.Salt{}
		reject(t, "no salt", r)
		r = good
		r.Salt = rs[5].Salt
		reject(t, "a neighbour's salt", r)
	})
	t.Run("version", func(t *testing.T) {
		for _, v := range []int{0, 1, 2, 4, -1, math.MaxInt} {
			r := good
			r.Version = v
			reject(t, "version", r)
		}
	})
	t.Run("wrong public key", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(nil)
		if err := receipt.Verify(good, other.Public().(ed25519.PublicKey)); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("Verify with another key: %v", err)
		}
		// Even a receipt claiming the other key's ID does not verify with it.
		r := good
		r.KeyID = receipt.KeyID(other.Public().(ed25519.PublicKey))
		if err := receipt.Verify(r, other.Public().(ed25519.PublicKey)); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("Verify with another key and its ID: %v", err)
		}
	})
	t.Run("unrepresentable times", func(t *testing.T) {
		// Unix nanoseconds wrap around every 2^64 ns (about 584 years): a
		// received time moved by exactly that much gives the same statement.
		// Verify must not accept it as the same receipt.
		wrap := func(t0 time.Time) time.Time { return t0.Add(math.MaxInt64).Add(math.MaxInt64).Add(2) }
		r := good
		r.ReceivedAt = wrap(good.ReceivedAt)
		if r.ReceivedAt.Equal(good.ReceivedAt) {
			t.Fatal("test bug: the wrapped time is the same instant")
		}
		reject(t, "received_at + 2^64 ns", r)
		r = good
		r.Deadline = wrap(good.Deadline)
		reject(t, "deadline + 2^64 ns", r)
	})
}

func slicesClone(p []proof.Hash) []proof.Hash { return append([]proof.Hash(nil), p...) }

// FuzzVerify: whatever JSON is presented as a receipt, Verify accepts it
// only if it states facts that were signed, under the salt and at the
// index they were signed at. The seeds (and the signed set) are the
// committed receipts of both versions: fixed, since each signing draws
// new salts and every fuzz worker runs this setup again.
func FuzzVerify(f *testing.F) {
	pub := receipt.NewSigner(testKey()).PublicKey()
	var v3 fixtureV3
	if err := json.Unmarshal(mustRead(f, "testdata/receipts-v3.json"), &v3); err != nil {
		f.Fatal(err)
	}
	var v2 []receipt.Receipt
	if err := json.Unmarshal(mustRead(f, "testdata/receipts-v2.json"), &v2); err != nil {
		f.Fatal(err)
	}
	type signedAs struct {
		version int
		facts   receipt.Facts
		salt    receipt.Salt
	}
	signed := map[signedAs]uint64{}
	for _, r := range append(v3.Receipts, v2...) {
		if err := receipt.Verify(r, pub); err != nil {
			f.Fatal(err)
		}
		got := r.Facts()
		got.ReceivedAt, got.Deadline = got.ReceivedAt.UTC(), got.Deadline.UTC()
		signed[signedAs{r.Version, got, r.Salt}] = r.TreeIndex
		data, _ := json.Marshal(r)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r receipt.Receipt
		if json.Unmarshal(data, &r) != nil {
			return
		}
		if receipt.Verify(r, pub) != nil {
			return
		}
		got := r.Facts()
		got.ReceivedAt, got.Deadline = got.ReceivedAt.UTC(), got.Deadline.UTC()
		idx, ok := signed[signedAs{r.Version, got, r.Salt}]
		if !ok || idx != r.TreeIndex || r.TreeSize != 5 {
			t.Fatalf("accepted a receipt that was never signed: %s", data)
		}
	})
}

// BenchmarkSign: one request's receipts (one signature for all).
func BenchmarkSign(b *testing.B) {
	s := receipt.NewSigner(testKey())
	for _, n := range []int{1, 1000} {
		facts := factsN(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(facts...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/receipt")
		})
	}
}

// TestSignRefusesControlCharacters: a statement is one line per field, so
// an institution's name with a newline or another control character (or
// invalid UTF-8) is never signed; accents and spaces are.
func TestSignRefusesControlCharacters(t *testing.T) {
	s := receipt.NewSigner(testKey())
	for _, name := range []string{"a\nb", "a\rb", "a\x00b", "a\x1b[31mb", "a\u0085b", "\xff"} {
		f := testFacts
		f.Institution = name
		if _, err := s.Sign(f); err == nil {
			t.Errorf("signed a receipt for the institution %q", name)
		}
	}
	f := testFacts
	f.Institution = "Hôpital Saint-Louis"
	rs, err := s.Sign(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(rs[0], testKey().Public().(ed25519.PublicKey)); err != nil || rs[0].Institution != f.Institution {
		t.Fatalf("%+v: %v", rs[0], err)
	}
}
