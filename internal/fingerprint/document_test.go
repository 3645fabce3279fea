package fingerprint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseCanonicalization(t *testing.T) {
	tests := []struct {
		in      string
		want    Canonicalization
		wantErr bool
	}{
		{"", CanonNone, false},
		{"none", CanonNone, false},
		{"jcs", CanonJCS, false},
		{"JCS", "", true},
		{"json", "", true},
		{" jcs", "", true},
		{"rfc8785", "", true},
		{strings.Repeat("x", 1000), "", true},
	}
	for _, tt := range tests {
		got, err := ParseCanonicalization(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseCanonicalization(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("ParseCanonicalization error is %d bytes long", len(err.Error()))
		}
	}
}

func TestHashDocumentNone(t *testing.T) {
	content := "{ \"b\": 1,\n \"a\": 2 }\n"
	path := writeFile(t, "r.json", content)
	nonce, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	raw := Sum([]byte(content))
	for _, canon := range []Canonicalization{CanonNone, ""} {
		var last int64
		fp, doc, err := HashDocument(path, canon, nil, func(done int64) { last = done })
		if err != nil || fp != raw || doc != raw || last != int64(len(content)) {
			t.Errorf("canon %q, no nonce: %v, %v, %v, progress %d", canon, fp, doc, err, last)
		}
		fp, doc, err = HashDocument(path, canon, &nonce, nil)
		if err != nil || doc != raw || fp != blindByHand(nonce, raw) {
			t.Errorf("canon %q, nonce: %v, %v, %v", canon, fp, doc, err)
		}
	}
}

func TestHashDocumentJCS(t *testing.T) {
	// RFC 8785 section 3.2.2 / 3.2.3 example: input and its canonical form.
	rfcIn := `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	rfcOut := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`

	record := `{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"},"valueQuantity":{"value":5.4,"unit":"%"},"subject":{"display":"Müller"}}`
	tests := []struct {
		name      string
		a, b      string
		same      bool
		canonical string // if set, the expected canonical bytes of a
	}{
		{"rfc 8785 example", rfcIn, rfcOut, true, rfcOut},
		{"whitespace and key order", record, `
{
	"valueQuantity": { "unit": "%", "value": 5.40 },
	"subject": {"display": "M\u00fcller"},
	"status": "final",
	"resourceType": "Observation",
	"code": { "text": "HbA1c" }
}
`, true, ""},
		{"nested order", `{"a":{"y":1,"x":[{"q":1,"p":2}]}}`, `{"a":{"x":[{"p":2,"q":1}],"y":1}}`, true, `{"a":{"x":[{"p":2,"q":1}],"y":1}}`},
		{"different value", record, strings.Replace(record, "5.4", "5.5", 1), false, ""},
		{"different key", `{"a":1}`, `{"b":1}`, false, ""},
		{"array order matters", `[1,2]`, `[2,1]`, false, ""},
		{"string vs number", `{"a":1}`, `{"a":"1"}`, false, ""},
	}
	nonce, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa, pb := writeFile(t, "a.json", tt.a), writeFile(t, "b.json", tt.b)
			var progress int64
			fa, da, err := HashDocument(pa, CanonJCS, nil, func(done int64) { progress = done })
			if err != nil {
				t.Fatal(err)
			}
			if progress != int64(len(tt.a)) {
				t.Errorf("progress = %d, want file size %d", progress, len(tt.a))
			}
			fb, db, err := HashDocument(pb, CanonJCS, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fa != da || fb != db {
				t.Errorf("unblinded fp differs from docHash")
			}
			if (fa == fb) != tt.same {
				t.Errorf("same fingerprint = %v, want %v (%v vs %v)", fa == fb, tt.same, fa, fb)
			}
			if tt.canonical != "" && da != Sum([]byte(tt.canonical)) {
				t.Errorf("docHash %v is not the hash of the canonical form %s", da, tt.canonical)
			}
			if raw, _, _ := HashFile(pa, nil); tt.canonical != "" && (raw == da) != (tt.a == tt.canonical) {
				t.Errorf("raw file hash == JCS hash is %v, but input canonical is %v", raw == da, tt.a == tt.canonical)
			}

			// Blinding composes with canonicalization.
			ba, dba, err := HashDocument(pa, CanonJCS, &nonce, nil)
			if err != nil {
				t.Fatal(err)
			}
			bb, _, err := HashDocument(pb, CanonJCS, &nonce, nil)
			if err != nil {
				t.Fatal(err)
			}
			if dba != da || ba != blindByHand(nonce, da) {
				t.Errorf("blinded = %v, %v; want %v, %v", ba, dba, blindByHand(nonce, da), da)
			}
			if (ba == bb) != tt.same {
				t.Errorf("blinded: same = %v, want %v", ba == bb, tt.same)
			}
		})
	}
}

func TestHashDocumentErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: rejected before reading.
	if err := f.Truncate(MaxCanonicalSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()

	tests := []struct {
		name  string
		path  string
		canon Canonicalization
		want  string // substring of the error besides the path
		is    error
	}{
		{"empty", writeFile(t, "empty.json", ""), CanonJCS, "empty", nil},
		{"whitespace only", writeFile(t, "ws.json", " \n"), CanonJCS, "not valid JSON", nil},
		{"truncated", writeFile(t, "t.json", `{"a":`), CanonJCS, "not valid JSON", nil},
		{"trailing comma", writeFile(t, "c.json", `{"a":1,}`), CanonJCS, "not valid JSON", nil},
		{"trailing garbage", writeFile(t, "g.json", `{"a":1} x`), CanonJCS, "not valid JSON", nil},
		{"duplicate key", writeFile(t, "d.json", `{"a":1,"a":2}`), CanonJCS, "not valid JSON", nil},
		{"not JSON", writeFile(t, "r.pdf", "%PDF-1.7\n"), CanonJCS, "not valid JSON", nil},
		{"too large", big, CanonJCS, "limit", nil},
		{"missing jcs", filepath.Join(dir, "missing.json"), CanonJCS, "", fs.ErrNotExist},
		{"missing none", filepath.Join(dir, "missing.json"), CanonNone, "", fs.ErrNotExist},
		{"unknown canon", writeFile(t, "u.json", `{}`), "JCS", "unknown canonicalization", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nonce := Nonce{1}
			fp, doc, err := HashDocument(tt.path, tt.canon, &nonce, nil)
			if err == nil {
				t.Fatalf("got %v, %v; want error", fp, doc)
			}
			if !fp.IsZero() || !doc.IsZero() {
				t.Errorf("non-zero results %v, %v with error", fp, doc)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the path", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

// TestCanonicalizeLimit checks the read limit itself, which HashDocument's
// size check on regular files would otherwise hide.
func TestCanonicalizeLimit(t *testing.T) {
	const limit = 10
	tests := []struct {
		in      string
		wantErr string
	}{
		{`{"a":1234}`, ""}, // exactly the limit
		{`{"a":12345}`, "limit"},
		{strings.Repeat(" ", 100) + "1", "limit"},
		{`[1]`, ""},
	}
	for _, tt := range tests {
		out, n, err := canonicalize(strings.NewReader(tt.in), limit)
		if tt.wantErr == "" {
			if err != nil || n != int64(len(tt.in)) || len(out) == 0 {
				t.Errorf("canonicalize(%q) = %q, %d, %v", tt.in, out, n, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("canonicalize(%q) error = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}
