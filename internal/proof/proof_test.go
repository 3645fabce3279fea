package proof_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/strictjson"
	"github.com/attestd/attestd/internal/strictjson/jsonref"
)

// TestPayloadLayout checks Encode byte by byte against payloads assembled
// here from docs/proof-format.md ("On-chain payload"), and Decode back.
func TestPayloadLayout(t *testing.T) {
	var root [32]byte
	for i := range root {
		root[i] = byte(0xa0 + i)
	}
	for _, tc := range []struct {
		name string
		p    proof.Payload
		want []byte
	}{
		{
			"zero",
			proof.Payload{},
			append([]byte{'A', 'T', 'S', 'T', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 32)...),
		},
		{
			"distinct bytes",
			proof.Payload{BatchID: 0x0102030405060708, Size: 0x1112131415161718, Root: root},
			append([]byte{0x41, 0x54, 0x53, 0x54, 0x01,
				0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18}, root[:]...),
		},
		{
			"small numbers are big-endian",
			proof.Payload{BatchID: 1, Size: 256, Root: [32]byte{31: 0xff}},
			append([]byte{'A', 'T', 'S', 'T', 1,
				0, 0, 0, 0, 0, 0, 0, 1,
				0, 0, 0, 0, 0, 0, 1, 0}, append(make([]byte, 31), 0xff)...),
		},
		{
			"max",
			proof.Payload{BatchID: math.MaxUint64, Size: math.MaxUint64, Root: [32]byte(bytes.Repeat([]byte{0xff}, 32))},
			append([]byte{'A', 'T', 'S', 'T', 1}, bytes.Repeat([]byte{0xff}, 48)...),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) != 53 || proof.PayloadSize != 53 {
				t.Fatalf("test vector is %d bytes, PayloadSize %d; both must be 53", len(tc.want), proof.PayloadSize)
			}
			got := tc.p.Encode()
			if len(got) != 53 {
				t.Fatalf("Encode gave %d bytes, want 53", len(got))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("byte %d = %#02x, want %#02x", i, got[i], tc.want[i])
				}
			}
			back, err := proof.DecodePayload(tc.want)
			if err != nil || back != tc.p {
				t.Fatalf("DecodePayload = %+v, %v; want %+v", back, err, tc.p)
			}
		})
	}
}

func TestDecodePayloadRejects(t *testing.T) {
	good := proof.Payload{BatchID: 7, Size: 3, Root: [32]byte{1, 2, 3}}.Encode()
	with := func(i int, b byte) []byte {
		out := bytes.Clone(good)
		out[i] = b
		return out
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"magic only", []byte("ATST")},
		{"one short", good[:52]},
		{"one long", append(bytes.Clone(good), 0)},
		{"two payloads", append(bytes.Clone(good), good...)},
		{"magic byte 0", with(0, 'a')},
		{"magic byte 3", with(3, 'X')},
		{"lowercase magic", append([]byte("atst"), good[4:]...)},
		{"version 0", with(4, 0)},
		{"version 2", with(4, 2)},
		{"version 0xff", with(4, 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := proof.DecodePayload(tc.data); !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("DecodePayload = %+v, %v; want ErrInvalid", p, err)
			}
		})
	}
}

// validBundle is a well-formed bundle (not a true one: Parse checks form).
func validBundle() *proof.Bundle {
	return &proof.Bundle{
		Version:     1,
		Fingerprint: fingerprint.Sum([]byte("doc")),
		BatchID:     3,
		Index:       2,
		Size:        5,
		Root:        proof.Hash{0xaa, 31: 0xbb},
		Path:        []proof.Hash{{1}, {2}, {3}},
		Anchors: []proof.Anchor{
			{ChainID: 1337, TxHash: common.Hash{0x11}, BlockNumber: 9, BlockHash: common.Hash{0x22}, Anchorer: common.Address{0x33}},
			{ChainID: 11155111, TxHash: common.Hash{0x44}, BlockNumber: 123456, BlockHash: common.Hash{0x55}, Anchorer: common.Address{0x66}},
		},
	}
}

// filled returns n distinct non-zero path hashes.
func filled(n int) []proof.Hash {
	out := make([]proof.Hash, n)
	for i := range out {
		out[i] = proof.Hash{byte(i + 1)}
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRoundTrip(t *testing.T) {
	for _, b := range []*proof.Bundle{
		validBundle(),
		{Version: 1, Fingerprint: fingerprint.Fingerprint{1}, Root: proof.Hash{2}, BatchID: 1, Size: 1, Path: []proof.Hash{{3}}}, // no anchors yet
		{Version: 1, Fingerprint: fingerprint.Fingerprint{1}, Root: proof.Hash{2}, BatchID: math.MaxUint64, Index: math.MaxUint64 - 1, Size: math.MaxUint64, Path: filled(64)},
	} {
		data := mustJSON(t, b)
		got, err := proof.Parse(data)
		if err != nil {
			t.Fatalf("Parse(%s): %v", data, err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Fatalf("Parse(Marshal(b)) = %+v, want %+v", got, b)
		}
		if again := mustJSON(t, got); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n%s\n%s", again, data)
		}
	}
	// The documented example parses, with the anchorer in EIP-55 case.
	doc := `{
	  "version": 1,
	  "fingerprint": "ffbdae224c6dd5613260c6720f6c65d3121523227d69e38f934fd1bef2296578",
	  "batch_id": 1, "index": 0, "size": 1,
	  "root": "2f87b3b438f6d5fadb42720db9e09de4243e984ecf32fa11db889cf1dafce510",
	  "path": ["ffbdae224c6dd5613260c6720f6c65d3121523227d69e38f934fd1bef2296578"],
	  "anchors": [{
	    "chain_id": 1337,
	    "tx_hash": "0x6a7def97c33de94baa7eb18d4610ce0292d4b469485dbe1e3552c174016b0bd4",
	    "block_number": 2,
	    "block_hash": "0x7f96bb0164381a3108257b84d1acb375955f437a124996b62e2d09b87dd9e345",
	    "anchorer": "0xc3DB4c1e067c7e42e36799fE510840ec3D14c137"
	  }]
	}`
	b, err := proof.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if b.Anchors[0].Anchorer != common.HexToAddress("0xc3db4c1e067c7e42e36799fe510840ec3d14c137") || b.Anchors[0].BlockNumber != 2 {
		t.Fatalf("documented example parsed as %+v", b.Anchors[0])
	}
}

// edit returns the valid bundle's JSON as a generic object after f changed it.
func edit(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, validBundle()), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	return mustJSON(t, m)
}

func anchor0(m map[string]any) map[string]any { return m["anchors"].([]any)[0].(map[string]any) }

func TestParseRejects(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	path := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = hex64
		}
		return out
	}
	good := mustJSON(t, validBundle())
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"null", []byte("null")},
		{"array", []byte("[]")},
		{"not JSON", []byte("{")},
		{"unknown field", edit(t, func(m map[string]any) { m["extra"] = 1 })},
		{"unknown anchor field", edit(t, func(m map[string]any) { anchor0(m)["extra"] = 1 })},
		{"trailing object", append(bytes.Clone(good), "{}"...)},
		{"trailing garbage", append(bytes.Clone(good), " x"...)},
		{"two bundles", append(bytes.Clone(good), good...)},
		{"version 0", edit(t, func(m map[string]any) { m["version"] = 0 })},
		{"version 3", edit(t, func(m map[string]any) { m["version"] = 3 })},
		{"version 1 with evidence", edit(t, func(m map[string]any) { m["anchors"].([]any)[0].(map[string]any)["no_evidence"] = "pending" })},
		{"version 2, unknown no_evidence", edit(t, func(m map[string]any) {
			m["version"] = 2
			m["anchors"].([]any)[0].(map[string]any)["no_evidence"] = "later"
		})},
		{"version 2, evidence null", edit(t, func(m map[string]any) { m["version"] = 2; m["anchors"].([]any)[0].(map[string]any)["evidence"] = nil })},
		{"version 2, evidence not evidence", edit(t, func(m map[string]any) {
			m["version"] = 2
			m["anchors"].([]any)[0].(map[string]any)["evidence"] = map[string]any{"version": 1}
		})},
		{"version missing", edit(t, func(m map[string]any) { delete(m, "version") })},
		{"version as string", edit(t, func(m map[string]any) { m["version"] = "1" })},
		{"batch_id 0", edit(t, func(m map[string]any) { m["batch_id"] = 0 })},
		{"batch_id negative", edit(t, func(m map[string]any) { m["batch_id"] = -1 })},
		{"batch_id 2^64", edit(t, func(m map[string]any) { m["batch_id"] = json.Number("18446744073709551616") })},
		{"size 0", edit(t, func(m map[string]any) { m["size"] = 0; m["index"] = 0 })},
		{"size missing", edit(t, func(m map[string]any) { delete(m, "size") })},
		{"index = size", edit(t, func(m map[string]any) { m["index"] = 5 })},
		{"index > size", edit(t, func(m map[string]any) { m["index"] = 6 })},
		{"index max", edit(t, func(m map[string]any) { m["index"] = json.Number("18446744073709551615") })},
		{"index fractional", edit(t, func(m map[string]any) { m["index"] = 1.5 })},
		{"65 path entries", edit(t, func(m map[string]any) { m["path"] = path(65) })},
		{"17 anchors", edit(t, func(m map[string]any) {
			var as []any
			for i := range 17 {
				a := map[string]any{}
				for k, v := range anchor0(m) {
					a[k] = v
				}
				a["chain_id"] = i + 1
				as = append(as, a)
			}
			m["anchors"] = as
		})},
		{"duplicate chain", edit(t, func(m map[string]any) {
			m["anchors"] = []any{anchor0(m), anchor0(m)}
		})},
		{"duplicate chain, other tx", edit(t, func(m map[string]any) {
			a := m["anchors"].([]any)
			a[1].(map[string]any)["chain_id"] = 1337
		})},
		{"fingerprint uppercase", edit(t, func(m map[string]any) { m["fingerprint"] = strings.ToUpper(m["fingerprint"].(string)) })},
		{"fingerprint short", edit(t, func(m map[string]any) { m["fingerprint"] = m["fingerprint"].(string)[:62] })},
		{"fingerprint long", edit(t, func(m map[string]any) { m["fingerprint"] = m["fingerprint"].(string) + "00" })},
		{"fingerprint non-hex", edit(t, func(m map[string]any) { m["fingerprint"] = "g" + m["fingerprint"].(string)[1:] })},
		{"fingerprint 0x", edit(t, func(m map[string]any) { m["fingerprint"] = "0x" + m["fingerprint"].(string)[2:] })},
		{"fingerprint sha1 prefix", edit(t, func(m map[string]any) { m["fingerprint"] = "sha1:" + m["fingerprint"].(string) })},
		{"fingerprint number", edit(t, func(m map[string]any) { m["fingerprint"] = 1 })},
		{"root uppercase", edit(t, func(m map[string]any) { m["root"] = strings.ToUpper(m["root"].(string)) })},
		{"root one uppercase digit", edit(t, func(m map[string]any) { m["root"] = "A" + m["root"].(string)[1:] })},
		{"root short", edit(t, func(m map[string]any) { m["root"] = m["root"].(string)[:63] })},
		{"root empty", edit(t, func(m map[string]any) { m["root"] = "" })},
		{"root non-hex", edit(t, func(m map[string]any) { m["root"] = strings.Repeat("z", 64) })},
		{"root 0x", edit(t, func(m map[string]any) { m["root"] = "0x" + m["root"].(string) })},
		{"root with space", edit(t, func(m map[string]any) { m["root"] = " " + m["root"].(string)[1:] })},
		{"path entry uppercase", edit(t, func(m map[string]any) { m["path"] = []any{hex64, strings.ToUpper(hex64), hex64} })},
		{"path entry short", edit(t, func(m map[string]any) { m["path"] = []any{hex64, hex64[:60], hex64} })},
		{"path entry non-hex", edit(t, func(m map[string]any) { m["path"] = []any{hex64, "x" + hex64[1:], hex64} })},
		{"tx_hash short", edit(t, func(m map[string]any) { anchor0(m)["tx_hash"] = "0x" + hex64[:62] })},
		{"tx_hash non-hex", edit(t, func(m map[string]any) { anchor0(m)["tx_hash"] = "0x" + "q" + hex64[1:] })},
		{"tx_hash without 0x", edit(t, func(m map[string]any) { anchor0(m)["tx_hash"] = hex64 })},
		{"block_hash long", edit(t, func(m map[string]any) { anchor0(m)["block_hash"] = "0x" + hex64 + "00" })},
		{"anchorer short", edit(t, func(m map[string]any) { anchor0(m)["anchorer"] = "0x" + hex64[:38] })},
		{"anchorer non-hex", edit(t, func(m map[string]any) { anchor0(m)["anchorer"] = "0x" + "g" + hex64[:39] })},
		{"chain_id negative", edit(t, func(m map[string]any) { anchor0(m)["chain_id"] = -1 })},
		{"over MaxBundleSize", func() []byte {
			// Valid JSON, well-formed bundle, but padded past the limit.
			b := bytes.Clone(good)
			return append(b[:len(b)-1], append(append([]byte(`,"version":1`), bytes.Repeat([]byte(" "), proof.MaxBundleSize)...), '}')...)
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := proof.Parse(tc.data); !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("Parse(%.200s) = %+v, %v; want ErrInvalid", tc.data, b, err)
			}
		})
	}
}

// TestParseLimits: what is right at the limits parses.
func TestParseLimits(t *testing.T) {
	b := validBundle()
	b.Path = filled(64)
	b.Anchors = nil
	for i := range proof.MaxAnchors {
		b.Anchors = append(b.Anchors, proof.Anchor{ChainID: uint64(i + 1), TxHash: common.Hash{1}, BlockHash: common.Hash{2}, Anchorer: common.Address{3}})
	}
	data := mustJSON(t, b)
	if _, err := proof.Parse(data); err != nil {
		t.Fatalf("64 path entries and %d anchors: %v", proof.MaxAnchors, err)
	}
	// Exactly MaxBundleSize bytes (padded with trailing whitespace) parses;
	// one more does not.
	padded := append(bytes.Clone(data), bytes.Repeat([]byte(" "), proof.MaxBundleSize-len(data))...)
	if _, err := proof.Parse(padded); err != nil {
		t.Fatalf("bundle of exactly MaxBundleSize bytes: %v", err)
	}
	if _, err := proof.Parse(append(padded, ' ')); !errors.Is(err, proof.ErrInvalid) {
		t.Fatalf("bundle of MaxBundleSize+1 bytes: %v, want ErrInvalid", err)
	}
	// The "sha256:" prefix the fingerprint parser accepts reads as the same
	// fingerprint.
	prefixed := bytes.Replace(data, []byte(`"fingerprint":"`), []byte(`"fingerprint":"sha256:`), 1)
	got, err := proof.Parse(prefixed)
	if err != nil || got.Fingerprint != b.Fingerprint {
		t.Fatalf("sha256: prefix: %v, %v", got, err)
	}
}

func TestBundleAccessors(t *testing.T) {
	b := validBundle()
	if a, ok := b.Anchor(11155111); !ok || a.BlockNumber != 123456 {
		t.Fatalf("Anchor(11155111) = %+v, %v", a, ok)
	}
	if a, ok := b.Anchor(1); ok {
		t.Fatalf("Anchor(1) = %+v, want none", a)
	}
	ph := b.PathHashes()
	if len(ph) != len(b.Path) {
		t.Fatalf("PathHashes has %d entries, want %d", len(ph), len(b.Path))
	}
	for i := range ph {
		if ph[i] != [32]byte(b.Path[i]) {
			t.Fatalf("PathHashes[%d] = %x, want %x", i, ph[i], b.Path[i])
		}
	}
	if got, want := b.Root.String(), "aa000000000000000000000000000000000000000000000000000000000000bb"; got != want {
		t.Fatalf("Hash.String = %s, want %s", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(mustJSON(f, validBundle()))
	f.Add([]byte(`{"version":1,"fingerprint":"ffbdae224c6dd5613260c6720f6c65d3121523227d69e38f934fd1bef2296578","batch_id":1,"index":0,"size":1,"root":"2f87b3b438f6d5fadb42720db9e09de4243e984ecf32fa11db889cf1dafce510","path":["ffbdae224c6dd5613260c6720f6c65d3121523227d69e38f934fd1bef2296578"],"anchors":[{"chain_id":1337,"tx_hash":"0x6a7def97c33de94baa7eb18d4610ce0292d4b469485dbe1e3552c174016b0bd4","block_number":2,"block_hash":"0x7f96bb0164381a3108257b84d1acb375955f437a124996b62e2d09b87dd9e345","anchorer":"0xc3DB4c1e067c7e42e36799fE510840ec3D14c137"}]}`))
	f.Add([]byte(`{"version":1,"batch_id":1,"size":1,"path":null,"anchors":null}`))
	f.Add([]byte(`{}`))
	// The attacks of TestParseRejectsAmbiguousNames.
	good := mustJSON(f, validBundle())
	f.Add(append([]byte(`{"root":"`+strings.Repeat("cd", 32)+`",`), good[1:]...))
	f.Add(append([]byte(`{"ROOT":"`+strings.Repeat("cd", 32)+`",`), good[1:]...))
	f.Add(bytes.Replace(good, []byte(`"anchors":[{`), []byte(`"anchors":[{"TX_HASH":"0x`+strings.Repeat("cd", 32)+`",`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := proof.Parse(data)
		if err != nil {
			if !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// What Parse accepts has one reading: an encoding/json-based
		// reference finds no duplicate names, even case-insensitively.
		if err := jsonref.Check(data, true); err != nil {
			t.Fatalf("Parse accepted %q, which the reference refuses: %v", data, err)
		}
		if err := b.Check(); err != nil {
			t.Fatalf("Parse accepted a bundle Check rejects: %v", err)
		}
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("re-encoding a parsed bundle: %v", err)
		}
		again, err := proof.Parse(enc)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", enc, err)
		}
		if !reflect.DeepEqual(again, b) {
			t.Fatalf("round trip changed the bundle:\n%+v\n%+v", b, again)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	f.Add(proof.Payload{BatchID: 1, Size: 3, Root: [32]byte{9}}.Encode())
	f.Add(proof.Payload{BatchID: math.MaxUint64, Size: math.MaxUint64}.Encode())
	f.Add([]byte("ATST"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := proof.DecodePayload(data)
		wellFormed := len(data) == proof.PayloadSize && string(data[:4]) == proof.PayloadMagic && data[4] == proof.PayloadVersion
		if (err == nil) != wellFormed {
			t.Fatalf("DecodePayload(%x) error %v, well-formed %v", data, err, wellFormed)
		}
		if err != nil {
			if !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if p != (proof.Payload{}) {
				t.Fatalf("failed decode returned %+v", p)
			}
			return
		}
		if enc := p.Encode(); !bytes.Equal(enc, data) {
			t.Fatalf("Encode(DecodePayload(%x)) = %x", data, enc)
		}
	})
}

// TestParseRejectsMissingValues: null or missing hashes decode to all
// zeros; Parse refuses them instead of treating them as values.
func TestParseRejectsMissingValues(t *testing.T) {
	for name, mutate := range map[string]func(m map[string]any){
		"null root":        func(m map[string]any) { m["root"] = nil },
		"missing root":     func(m map[string]any) { delete(m, "root") },
		"null fingerprint": func(m map[string]any) { m["fingerprint"] = nil },
		"null path entry":  func(m map[string]any) { m["path"].([]any)[0] = nil },
		"zero tx hash": func(m map[string]any) {
			m["anchors"].([]any)[0].(map[string]any)["tx_hash"] = "0x" + strings.Repeat("0", 64)
		},
		"missing anchorer": func(m map[string]any) { delete(m["anchors"].([]any)[0].(map[string]any), "anchorer") },
		"chain 0":          func(m map[string]any) { m["anchors"].([]any)[0].(map[string]any)["chain_id"] = 0 },
	} {
		var m map[string]any
		if err := json.Unmarshal(mustJSON(t, validBundle()), &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		if _, err := proof.Parse(mustJSON(t, m)); !errors.Is(err, proof.ErrInvalid) {
			t.Errorf("%s: Parse = %v, want ErrInvalid", name, err)
		}
	}
}

// TestParseRejectsAmbiguousNames: a bundle that encoding/json reads one
// way (the last of two "root"s, or "ROOT" for "root") and other parsers
// another is refused, naming the member.
func TestParseRejectsAmbiguousNames(t *testing.T) {
	good := mustJSON(t, validBundle())
	other := strings.Repeat("cd", 32)
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
		{"root twice", put(`{`, `"root":"`+other+`",`), strictjson.ErrDuplicateName, []string{`"root"`}},
		{"ROOT before root", put(`{`, `"ROOT":"`+other+`",`), strictjson.ErrCaseVariant, []string{`"ROOT"`, `"root"`}},
		{"Root alone", bytes.Replace(good, []byte(`"root"`), []byte(`"Root"`), 1), strictjson.ErrUnknownField, []string{`"Root"`}},
		{"anchors twice", put(`{`, `"anchors":[],`), strictjson.ErrDuplicateName, []string{`"anchors"`}},
		{"tx_hash twice in an anchor", put(`"anchors":[{`, `"tx_hash":"0x`+other+`",`), strictjson.ErrDuplicateName, []string{`"tx_hash"`, "/anchors/0"}},
		{"TX_HASH in an anchor", put(`"anchors":[{`, `"TX_HASH":"0x`+other+`",`), strictjson.ErrCaseVariant, []string{`"TX_HASH"`, "/anchors/0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proof.Parse(tc.data)
			if !errors.Is(err, proof.ErrInvalid) || !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%s) = %+v, %v; want ErrInvalid and %v", tc.data, b, err, tc.want)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}
