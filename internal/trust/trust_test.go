package trust

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/strictjson"
	"github.com/attestd/attestd/internal/verify"
)

func key(seed byte) string {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey))
}

const (
	addrA = "0x1111111111111111111111111111111111111111"
	addrB = "0x2222222222222222222222222222222222222222"
	sinkA = "0x5555555555555555555555555555555555555555"
)

// valid is a two-issuer list; each test case edits it with one replacement.
func valid() string {
	return `{"version": 1, "issuers": [
  {"name": "Taipei Attest", "jurisdiction": "TW", "contact": "ops@example.tw",
   "receipt_keys": [
     {"public_key": "` + key(1) + `", "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-06-01T00:00:00Z"},
     {"public_key": "` + key(2) + `", "valid_from": "2026-06-01T00:00:00Z"}],
   "chains": [{"chain_id": 1337, "anchorer": "` + addrA + `", "sink": "` + sinkA + `"}]},
  {"name": "Hong Kong Attest", "jurisdiction": "HK", "contact": "ops@example.hk",
   "receipt_keys": [{"public_key": "` + key(3) + `", "valid_from": "2026-01-01T00:00:00Z"}],
   "chains": [{"chain_id": 1337, "anchorer": "` + addrB + `", "sink": "` + addrB + `"}]}
]}`
}

func TestParse(t *testing.T) {
	l, err := Parse([]byte(valid()))
	if err != nil {
		t.Fatal(err)
	}
	e, c := l.IssuerFor(1337, common.HexToAddress(addrA))
	if e == nil || e.Name != "Taipei Attest" || c.Sink != common.HexToAddress(sinkA) {
		t.Fatalf("IssuerFor(1337, A) = %+v, %+v", e, c)
	}
	if e, _ := l.IssuerFor(1338, common.HexToAddress(addrA)); e != nil {
		t.Errorf("IssuerFor on another chain = %q, want none", e.Name)
	}
	if e, _ := l.IssuerFor(1337, common.HexToAddress(sinkA)); e != nil {
		t.Errorf("IssuerFor(sink) = %q, want none", e.Name)
	}
	for _, tc := range []struct {
		at   string
		want string // key(n), or "" for none
	}{
		{"2025-12-31T23:59:59Z", ""},
		{"2026-01-01T00:00:00Z", key(1)},
		{"2026-05-31T23:59:59Z", key(1)},
		{"2026-06-01T00:00:00Z", key(2)}, // valid_until is exclusive
		{"2030-01-01T00:00:00Z", key(2)},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		k := e.KeyAt(at)
		got := ""
		if k != nil {
			got = base64.StdEncoding.EncodeToString(k.PublicKey)
		}
		if got != tc.want {
			t.Errorf("KeyAt(%s) = %q, want %q", tc.at, got, tc.want)
		}
	}
	// It round-trips.
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Parse(b)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, b)
	}
	if len(l2.Issuers) != 2 || l2.Issuers[0].ReceiptKeys[1].ValidUntil != nil || !l2.Issuers[0].ReceiptKeys[0].ValidUntil.Equal(*l.Issuers[0].ReceiptKeys[0].ValidUntil) {
		t.Errorf("round trip changed the list:\n%s", b)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           []string // in the error
		is             error
	}{
		{"duplicate issuer", `"Hong Kong Attest"`, `"Taipei Attest"`, []string{"both named", "Taipei Attest"}, nil},
		{"case-variant issuer", `"Hong Kong Attest"`, `"TAIPEI attest"`, []string{"both named"}, nil},
		{"case-variant member", `"contact": "ops@example.hk"`, `"contact": "ops@example.hk", "Contact": "x"`, nil, strictjson.ErrCaseVariant},
		{"duplicate member", `"contact": "ops@example.hk"`, `"contact": "ops@example.hk", "contact": "x"`, nil, strictjson.ErrDuplicateName},
		{"unknown member", `"contact": "ops@example.hk"`, `"contact": "ops@example.hk", "website": "x"`, nil, strictjson.ErrUnknownField},
		{"overlapping validity", `"valid_from": "2026-06-01T00:00:00Z"}`, `"valid_from": "2026-05-31T00:00:00Z"}`, []string{"Taipei Attest", "overlapping validity"}, nil},
		{"inverted validity", `"valid_until": "2026-06-01T00:00:00Z"`, `"valid_until": "2025-06-01T00:00:00Z"`, []string{"Taipei Attest", "not after valid_from"}, nil},
		{"empty validity", `"valid_until": "2026-06-01T00:00:00Z"`, `"valid_until": "2026-01-01T00:00:00Z"`, []string{"not after valid_from"}, nil},
		{"no valid_from", `{"public_key": "` + key(3) + `", "valid_from": "2026-01-01T00:00:00Z"}`, `{"public_key": "` + key(3) + `"}`, []string{"Hong Kong Attest", "no valid_from"}, nil},
		{"short key", key(3), "AAAA", []string{"Hong Kong Attest", "receipt key 0", "3 bytes"}, nil},
		{"bad base64", key(3), "not base64!", nil, nil},
		{"same key twice in one issuer", key(2), key(1), []string{"same key"}, nil},
		{"one key, two issuers", key(3), key(2), []string{"both list receipt key"}, nil},
		{"bad anchorer", `"anchorer": "` + addrB, `"anchorer": "0x12`, []string{"Hong Kong Attest", "anchorer", "not an address"}, nil},
		{"anchorer without 0x", `"anchorer": "` + addrB, `"anchorer": "` + addrB[2:], []string{"not an address"}, nil},
		{"bad sink", `"sink": "` + sinkA, `"sink": "0xzz55555555555555555555555555555555555555`, []string{"Taipei Attest", "sink", "not an address"}, nil},
		{"zero anchorer", `"anchorer": "` + addrB, `"anchorer": "0x0000000000000000000000000000000000000000`, []string{"zero address"}, nil},
		{"one address, two issuers", `"anchorer": "` + addrB, `"anchorer": "` + strings.ToUpper(addrA[2:3]) + addrA[1:], nil, nil},
		{"address claimed twice", `"anchorer": "` + addrB, `"anchorer": "` + addrA, []string{"both claim anchoring address", "Taipei Attest", "Hong Kong Attest"}, nil},
		{"chain twice in one issuer", `"chains": [{"chain_id": 1337, "anchorer": "` + addrB + `", "sink": "` + addrB + `"}]`,
			`"chains": [{"chain_id": 1337, "anchorer": "` + addrB + `", "sink": "` + addrB + `"}, {"chain_id": 1337, "anchorer": "` + sinkA + `", "sink": "` + addrB + `"}]`, []string{"both chain 1337"}, nil},
		{"no chain id", `"chain_id": 1337, "anchorer": "` + addrB, `"chain_id": 0, "anchorer": "` + addrB, []string{"no chain_id"}, nil},
		{"no keys", `"receipt_keys": [{"public_key": "` + key(3) + `", "valid_from": "2026-01-01T00:00:00Z"}]`, `"receipt_keys": []`, []string{"Hong Kong Attest", "no receipt key"}, nil},
		{"no chains", `"chains": [{"chain_id": 1337, "anchorer": "` + addrB + `", "sink": "` + addrB + `"}]`, `"chains": []`, []string{"no chain"}, nil},
		{"no name", `"Hong Kong Attest"`, `"  "`, []string{"no name"}, nil},
		{"newline in name", `"Hong Kong Attest"`, `"Hong Kong\nAttest"`, []string{"printable"}, nil},
		{"no jurisdiction", `"HK"`, `""`, []string{"no jurisdiction"}, nil},
		{"version", `"version": 1`, `"version": 2`, []string{"version 2"}, nil},
		{"trailing data", "\n]}", "\n]} {}", nil, strictjson.ErrTrailingData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			if !strings.Contains(in, tc.old) {
				t.Fatalf("the fixture has no %q", tc.old)
			}
			in = strings.Replace(in, tc.old, tc.new, 1)
			_, err := Parse([]byte(in))
			if err == nil {
				t.Fatalf("accepted:\n%s", in)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestAddRemoveSave(t *testing.T) {
	l, err := Parse([]byte(valid()))
	if err != nil {
		t.Fatal(err)
	}
	hk := *l.Find("hong kong attest")
	if !l.Remove("HONG KONG ATTEST") || l.Find("Hong Kong Attest") != nil || l.Remove("Hong Kong Attest") {
		t.Fatal("Remove did not remove exactly once")
	}
	if err := l.Add(hk); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(hk); err == nil || !strings.Contains(err.Error(), "already in the list") {
		t.Errorf("Add of a duplicate: %v", err)
	}
	other := hk
	other.Name = "Another"
	if err := l.Add(other); err == nil || !strings.Contains(err.Error(), "both claim") {
		t.Errorf("Add of an entry claiming another's address: %v", err)
	}
	if len(l.Issuers) != 2 {
		t.Fatalf("a refused Add changed the list: %d issuers", len(l.Issuers))
	}
	path := filepath.Join(t.TempDir(), "trust.json")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("saved file: %v, %v", fi, err)
	}
	l2, err := Load(path)
	if err != nil || len(l2.Issuers) != 2 || l2.Issuers[1].Name != "Hong Kong Attest" {
		t.Fatalf("Load: %+v, %v", l2, err)
	}
	// ParseEntry reads one entry (info --trust-entry's output).
	b, err := (&List{Issuers: []Entry{hk}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	entry := s[strings.Index(s, "[")+1 : strings.LastIndex(s, "]")]
	if e, err := ParseEntry([]byte(entry)); err != nil || e.Name != hk.Name {
		t.Fatalf("ParseEntry: %+v, %v", e, err)
	}
	if _, err := ParseEntry([]byte(entry + "," + entry)); err == nil {
		t.Error("ParseEntry accepted two entries")
	}
	if _, err := ParseEntry([]byte(`]}, {"x": 1}`)); err == nil {
		t.Error("ParseEntry accepted an injection")
	}
}

func TestWriteDev(t *testing.T) {
	dir := t.TempDir()
	made := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	pub, _ := base64.StdEncoding.DecodeString(key(1))
	path := filepath.Join(dir, DevFile)
	if err := WriteDev(path, []Key{{PublicKey: pub, ValidFrom: made}}, []Chain{{ChainID: 1337, Anchorer: common.HexToAddress(addrA), Sink: common.HexToAddress(addrA)}}); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := l.IssuerFor(1337, common.HexToAddress(addrA))
	if e == nil || e.Name != DevName || e.KeyAt(made.Truncate(time.Second)) == nil || e.KeyAt(made.Add(-time.Second)) != nil {
		t.Fatalf("dev list: %+v", l)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid()))
	f.Add([]byte(`{"version":1,"issuers":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			return
		}
		// What Parse accepts, it writes back in a form it accepts again,
		// with the same answers.
		b, err := l.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		l2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		if len(l2.Issuers) != len(l.Issuers) {
			t.Fatalf("%d issuers, then %d", len(l.Issuers), len(l2.Issuers))
		}
		for i, e := range l.Issuers {
			for _, c := range e.Chains {
				if got, _ := l2.IssuerFor(c.ChainID, c.Anchorer); got == nil || got.Name != l2.Issuers[i].Name {
					t.Fatalf("IssuerFor(%d, %s) changed", c.ChainID, c.Anchorer.Hex())
				}
			}
		}
	})
}

var _ verify.IssuerList = (*List)(nil)

// TestDocExample: the example in docs/trust-list.md is a list Parse
// accepts, with the rotation it describes.
func TestDocExample(t *testing.T) {
	md, err := os.ReadFile("../../docs/trust-list.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	start := strings.Index(s, "```json\n")
	if start < 0 {
		t.Fatal("no ```json block")
	}
	s = s[start+len("```json\n"):]
	l, err := Parse([]byte(s[:strings.Index(s, "```")]))
	if err != nil {
		t.Fatal(err)
	}
	e := l.Find("Taipei Attest")
	if e == nil || e.KeyAt(time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)) == e.KeyAt(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("the example: %+v", l)
	}
}
