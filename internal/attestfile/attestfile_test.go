package attestfile_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/strictjson"
	"github.com/attestd/attestd/internal/strictjson/jsonref"
)

func signer() *receipt.Signer {
	seed := sha256.Sum256([]byte("attestfile test key"))
	return receipt.NewSigner(ed25519.NewKeyFromSeed(seed[:]))
}

// sampleReceipts are the sample's receipt and its neighbour, signed once
// (each signing draws new salts).
var sampleReceipts = sync.OnceValue(func() []receipt.Receipt {
	received := time.Date(2025, 6, 1, 8, 0, 0, 123456789, time.UTC)
	rs, err := signer().Sign(
		receipt.Facts{Fingerprint: fingerprint.Sum([]byte("another record")), Institution: "Laboratoire Central", ReceivedAt: received, Deadline: received.Add(time.Minute)},
		receipt.Facts{Fingerprint: sampleFP, Institution: "Laboratoire Central", ReceivedAt: received, Deadline: received.Add(time.Minute)},
	)
	if err != nil {
		panic(err)
	}
	return rs
})

var sampleFP = fingerprint.Blind(fingerprint.Nonce{0x5a, 31: 0xa5}, fingerprint.Sum([]byte("lab result")))

// sample returns a complete sidecar: blinded, with a receipt and a proof.
func sample() *attestfile.File {
	nonce := fingerprint.Nonce{0x5a, 31: 0xa5}
	fp := sampleFP
	r := sampleReceipts()[1]
	r.TreePath = slices.Clone(r.TreePath) // a test may change the sample
	return &attestfile.File{
		Version:          attestfile.Version,
		Document:         "lab-result.txt",
		Fingerprint:      fp,
		Canonicalization: fingerprint.CanonNone,
		Blinding:         &attestfile.Blinding{Scheme: fingerprint.BlindDomain, Nonce: nonce},
		Server:           "http://127.0.0.1:8080",
		Receipt:          &r,
		Proof: &proof.Bundle{
			Version: proof.VersionV1, Fingerprint: fp, BatchID: 4, Index: 1, Size: 3,
			Root: proof.Hash{1}, Path: []proof.Hash{{2}, {3}},
			Anchors: []proof.Anchor{{ChainID: 1337, TxHash: common.Hash{4}, BlockNumber: 5, BlockHash: common.Hash{6}, Anchorer: common.Address{7}}},
		},
	}
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// normalized returns a copy of f with the receipt times in UTC, so that
// reflect.DeepEqual compares instants (JSON keeps the offset, not the
// *time.Location).
func normalized(f *attestfile.File) attestfile.File {
	out := *f
	if f.Receipt != nil {
		r := *f.Receipt
		r.ReceivedAt, r.Deadline = r.ReceivedAt.UTC(), r.Deadline.UTC()
		out.Receipt = &r
	}
	return out
}

func TestWriteRead(t *testing.T) {
	minimal := &attestfile.File{Version: 1, Fingerprint: fingerprint.Sum([]byte("x")), Canonicalization: fingerprint.CanonJCS}
	for name, f := range map[string]*attestfile.File{"full": sample(), "minimal": minimal} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, attestfile.PathFor("doc.pdf"))
			if filepath.Base(path) != "doc.pdf.attest" {
				t.Fatalf("PathFor gave %s", path)
			}
			if err := attestfile.Write(path, f, 0); err != nil {
				t.Fatal(err)
			}
			got, err := attestfile.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalized(got), normalized(f)) {
				t.Fatalf("Read(Write(f)) =\n%+v\nwant\n%+v", got, f)
			}
			if got.Receipt != nil {
				if err := receipt.Verify(*got.Receipt, signer().PublicKey()); err != nil {
					t.Fatalf("receipt read back does not verify: %v", err)
				}
			}
			checkDir(t, dir, filepath.Base(path))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 { // it holds the nonce
				t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
			}
			data, _ := os.ReadFile(path)
			if !bytes.HasSuffix(data, []byte("}\n")) {
				t.Fatalf("file does not end in a newline: %q", data[max(0, len(data)-10):])
			}
		})
	}
}

// checkDir fails unless dir holds exactly the named files (no temporary
// files left behind).
func checkDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
}

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.attest")
	// An older sidecar, which its holder made group-readable, is replaced
	// whole and keeps its mode.
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 100000), 0o640); err != nil {
		t.Fatal(err)
	}
	f := sample()
	if err := attestfile.Write(path, f, 0); err != nil {
		t.Fatal(err)
	}
	got, err := attestfile.Read(path)
	if err != nil || got.Fingerprint != f.Fingerprint {
		t.Fatalf("Read after replace: %v, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want the file's own 0640", fi.Mode().Perm())
	}
	checkDir(t, dir, "a.attest")
	// A new file takes the mode asked for.
	shared := filepath.Join(dir, "b.attest")
	if err := attestfile.Write(shared, f, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644 as asked", fi.Mode().Perm())
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	// The target is a non-empty directory: the rename fails.
	target := filepath.Join(dir, "d.attest")
	if err := os.MkdirAll(filepath.Join(target, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := attestfile.Write(target, sample(), 0); err == nil {
		t.Fatal("Write over a directory succeeded")
	}
	checkDir(t, dir, "d.attest")
	// A missing directory.
	if err := attestfile.Write(filepath.Join(dir, "missing", "x.attest"), sample(), 0); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
	checkDir(t, dir, "d.attest")
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := attestfile.Read(filepath.Join(dir, "none.attest")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing file: %v", err)
	}
	big := filepath.Join(dir, "big.attest")
	data := encode(t, sample())
	data = append(data, bytes.Repeat([]byte(" "), attestfile.MaxSize)...)
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := attestfile.Read(big); !errors.Is(err, attestfile.ErrInvalid) {
		t.Fatalf("Read of an oversize file: %v, want ErrInvalid", err)
	}
	bad := filepath.Join(dir, "bad.attest")
	if err := os.WriteFile(bad, []byte(`{"version":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := attestfile.Read(bad); !errors.Is(err, attestfile.ErrInvalid) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Read of a bad file: %v, want ErrInvalid naming the file", err)
	}
}

func TestNonce(t *testing.T) {
	f := sample()
	if n := f.Nonce(); n == nil || *n != f.Blinding.Nonce {
		t.Fatalf("Nonce = %v", n)
	}
	f.Blinding = nil
	if n := f.Nonce(); n != nil {
		t.Fatalf("Nonce of an unblinded file = %v", n)
	}
}

// edit returns the sample's JSON after f changed it as a generic object.
func edit(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(encode(t, sample()), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	return encode(t, m)
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestParse(t *testing.T) {
	good := encode(t, sample())
	if f, err := attestfile.Parse(good); err != nil || !reflect.DeepEqual(normalized(f), normalized(sample())) {
		t.Fatalf("Parse(sample) = %+v, %v", f, err)
	}
	accepted := map[string][]byte{
		"unblinded":          edit(t, func(m map[string]any) { delete(m, "blinding") }),
		"no receipt":         edit(t, func(m map[string]any) { delete(m, "receipt") }),
		"no proof":           edit(t, func(m map[string]any) { delete(m, "proof") }),
		"jcs":                edit(t, func(m map[string]any) { m["canonicalization"] = "jcs" }),
		"no document name":   edit(t, func(m map[string]any) { delete(m, "document") }),
		"trailing newline":   append(bytes.Clone(good), '\n'),
		"fingerprint prefix": edit(t, func(m map[string]any) { m["fingerprint"] = "sha256:" + m["fingerprint"].(string) }),
	}
	for name, data := range accepted {
		if _, err := attestfile.Parse(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	otherFP := fingerprint.Sum([]byte("another document")).String()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"null", []byte("null")},
		{"not JSON", []byte("{\"version\":")},
		{"unknown field", edit(t, func(m map[string]any) { m["comment"] = "hi" })},
		{"unknown blinding field", edit(t, func(m map[string]any) { obj(m, "blinding")["salt"] = "x" })},
		{"unknown receipt field", edit(t, func(m map[string]any) { obj(m, "receipt")["extra"] = 1 })},
		{"unknown proof field", edit(t, func(m map[string]any) { obj(m, "proof")["extra"] = 1 })},
		{"trailing data", append(bytes.Clone(good), "{}"...)},
		{"trailing garbage", append(bytes.Clone(good), "x"...)},
		{"version 0", edit(t, func(m map[string]any) { m["version"] = 0 })},
		{"version 2", edit(t, func(m map[string]any) { m["version"] = 2 })},
		{"no version", edit(t, func(m map[string]any) { delete(m, "version") })},
		{"unknown canonicalization", edit(t, func(m map[string]any) { m["canonicalization"] = "c14n" })},
		{"canonicalization in upper case", edit(t, func(m map[string]any) { m["canonicalization"] = "JCS" })},
		{"no canonicalization", edit(t, func(m map[string]any) { delete(m, "canonicalization") })},
		{"unknown blinding scheme", edit(t, func(m map[string]any) { obj(m, "blinding")["scheme"] = "attestd/blind/v2" })},
		{"empty blinding scheme", edit(t, func(m map[string]any) { obj(m, "blinding")["scheme"] = "" })},
		{"bad nonce", edit(t, func(m map[string]any) { obj(m, "blinding")["nonce"] = "00" })},
		{"bad fingerprint", edit(t, func(m map[string]any) { m["fingerprint"] = strings.ToUpper(m["fingerprint"].(string)) })},
		{"receipt for another fingerprint", edit(t, func(m map[string]any) { obj(m, "receipt")["fingerprint"] = otherFP })},
		{"proof for another fingerprint", edit(t, func(m map[string]any) { obj(m, "proof")["fingerprint"] = otherFP })},
		{"file fingerprint differs from both", edit(t, func(m map[string]any) { m["fingerprint"] = otherFP })},
		{"malformed proof: version", edit(t, func(m map[string]any) { obj(m, "proof")["version"] = 2 })},
		{"malformed proof: index", edit(t, func(m map[string]any) { obj(m, "proof")["index"] = 3 })},
		{"malformed proof: batch 0", edit(t, func(m map[string]any) { obj(m, "proof")["batch_id"] = 0 })},
		{"malformed receipt time", edit(t, func(m map[string]any) { obj(m, "receipt")["received_at"] = "yesterday" })},
		{"oversize", append(bytes.Clone(good), bytes.Repeat([]byte(" "), attestfile.MaxSize)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if f, err := attestfile.Parse(tc.data); !errors.Is(err, attestfile.ErrInvalid) {
				t.Fatalf("Parse = %+v, %v; want ErrInvalid", f, err)
			}
		})
	}
	// Exactly MaxSize bytes is still accepted.
	padded := append(bytes.Clone(good), bytes.Repeat([]byte(" "), attestfile.MaxSize-len(good))...)
	if _, err := attestfile.Parse(padded); err != nil {
		t.Fatalf("a file of exactly MaxSize bytes: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	full := sample()
	f.Add(encode(f, full))
	pretty, _ := json.MarshalIndent(full, "", "  ")
	f.Add(pretty)
	f.Add(encode(f, &attestfile.File{Version: 1, Canonicalization: fingerprint.CanonJCS}))
	f.Add([]byte(`{"version":1,"fingerprint":"sha256:0000000000000000000000000000000000000000000000000000000000000000","canonicalization":"none","receipt":{"version":1,"fingerprint":"0000000000000000000000000000000000000000000000000000000000000000","institution":"x","received_at":"2025-01-01T01:00:00+01:00","deadline":"2025-01-01T00:00:00Z","key_id":"","signature":"AAAA"}}`))
	// The attacks of TestParseRejectsAmbiguousNames: a second proof under
	// "PROOF" or "proof", a second root inside the proof.
	good := encode(f, full)
	other := sample()
	other.Proof.Root = proof.Hash{9}
	f.Add(append(bytes.Clone(good[:len(good)-1]), `,"PROOF":`+string(encode(f, other.Proof))+`}`...))
	f.Add(append(bytes.Clone(good[:len(good)-1]), `,"proof":`+string(encode(f, other.Proof))+`}`...))
	f.Add(bytes.Replace(good, []byte(`"proof":{`), []byte(`"proof":{"root":"`+strings.Repeat("09", 32)+`",`), 1))
	f.Add(bytes.Replace(good, []byte(`"receipt":{`), []byte(`"receipt":{"Institution":"x",`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := attestfile.Parse(data)
		if err != nil {
			if !errors.Is(err, attestfile.ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// What Parse accepts has one reading: an encoding/json-based
		// reference finds no duplicate names, even case-insensitively.
		if err := jsonref.Check(data, true); err != nil {
			t.Fatalf("Parse accepted %q, which the reference refuses: %v", data, err)
		}
		if file.Receipt != nil && file.Receipt.Fingerprint != file.Fingerprint || file.Proof != nil && file.Proof.Fingerprint != file.Fingerprint {
			t.Fatalf("Parse accepted parts for another fingerprint: %+v", file)
		}
		if file.Proof != nil {
			if err := file.Proof.Check(); err != nil {
				t.Fatalf("Parse accepted a malformed proof: %v", err)
			}
		}
		enc, err := json.Marshal(file)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		again, err := attestfile.Parse(enc)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", enc, err)
		}
		if !reflect.DeepEqual(normalized(again), normalized(file)) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v", file, again)
		}
		if enc2 := encode(t, again); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// TestParseRejectsAmbiguousNames: a sidecar that encoding/json reads one
// way (the last of two members, "PROOF" for "proof") and other parsers
// another way is refused, naming the member: one .attest, one proof.
func TestParseRejectsAmbiguousNames(t *testing.T) {
	good := encode(t, sample())
	other := sample()
	other.Proof.Root = proof.Hash{9}
	otherProof := encode(t, other.Proof)
	// put inserts member text right after the first occurrence of at.
	put := func(at, member string) []byte {
		i := bytes.Index(good, []byte(at))
		if i < 0 {
			t.Fatalf("%s not in %s", at, good)
		}
		i += len(at)
		return append(append(bytes.Clone(good[:i]), member...), good[i:]...)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
		says []string
	}{
		{"proof and PROOF", append(bytes.Clone(good[:len(good)-1]), `,"PROOF":`+string(otherProof)+`}`...), strictjson.ErrCaseVariant, []string{`"proof"`, `"PROOF"`}},
		{"proof twice", append(bytes.Clone(good[:len(good)-1]), `,"proof":`+string(otherProof)+`}`...), strictjson.ErrDuplicateName, []string{`"proof"`}},
		{"Proof alone", bytes.Replace(good, []byte(`"proof":`), []byte(`"Proof":`), 1), strictjson.ErrUnknownField, []string{`"Proof"`}},
		{"root twice in the proof", put(`"proof":{`, `"root":"`+strings.Repeat("09", 32)+`",`), strictjson.ErrDuplicateName, []string{`"root"`, "/proof"}},
		{"signature twice in the receipt", put(`"receipt":{`, `"signature":"AAAA",`), strictjson.ErrDuplicateName, []string{`"signature"`, "/receipt"}},
		{"Institution in the receipt", put(`"receipt":{`, `"Institution":"Someone Else",`), strictjson.ErrCaseVariant, []string{`"Institution"`, "/receipt"}},
		{"nonce twice", put(`"blinding":{`, `"nonce":"`+strings.Repeat("00", 32)+`",`), strictjson.ErrDuplicateName, []string{`"nonce"`, "/blinding"}},
		{"canonicalization twice", put(`{`, `"canonicalization":"jcs",`), strictjson.ErrDuplicateName, []string{`"canonicalization"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := attestfile.Parse(tc.data)
			if !errors.Is(err, attestfile.ErrInvalid) || !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%s) = %+v, %v; want ErrInvalid and %v", tc.data, f, err, tc.want)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}
