package fingerprint

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FIPS 180-2 SHA-256 test vectors.
const (
	sha256Empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sha256ABC   = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
)

func TestParseValid(t *testing.T) {
	abc := sha256.Sum256([]byte("abc"))
	tests := []struct {
		name string
		in   string
		want Fingerprint
	}{
		{"plain", sha256ABC, abc},
		{"prefixed", "sha256:" + sha256ABC, abc},
		{"uppercase (PowerShell's Get-FileHash)", strings.ToUpper(sha256ABC), abc},
		{"mixed case", sha256ABC[:10] + strings.ToUpper(sha256ABC[10:40]) + sha256ABC[40:], abc},
		{"prefixed uppercase", "sha256:" + strings.ToUpper(sha256ABC), abc},
		{"empty-string vector", sha256Empty, sha256.Sum256(nil)},
		{"zero", strings.Repeat("0", 64), Fingerprint{}},
		{"all ones", strings.Repeat("f", 64), func() (f Fingerprint) {
			for i := range f {
				f[i] = 0xff
			}
			return f
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %x, want %x", tt.in, got, tt.want)
			}
			// Round trip: String is the plain lowercase form and parses back.
			s := got.String()
			if want := strings.ToLower(strings.TrimPrefix(tt.in, "sha256:")); s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
			// The wire form takes the lowercase spelling only.
			var w Fingerprint
			if err := w.UnmarshalText([]byte(tt.in)); (err == nil) != (tt.in == strings.ToLower(tt.in)) {
				t.Errorf("UnmarshalText(%q) = %v", tt.in, err)
			}
			again, err := Parse(s)
			if err != nil || again != got {
				t.Errorf("Parse(String()) = %x, %v; want %x, nil", again, err, got)
			}
			if got.IsZero() != (tt.want == Fingerprint{}) {
				t.Errorf("IsZero() = %v", got.IsZero())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	hex := sha256ABC
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error message
	}{
		{"empty", "", []string{"empty"}},
		{"prefix only", "sha256:", []string{"empty", `"sha256:"`}},
		{"too short", hex[:63], []string{"wrong length", "got 63"}},
		{"too long", hex + "0", []string{"wrong length", "got 65"}},
		{"sha512 length", hex + hex, []string{"wrong length", "got 128"}},
		{"prefixed too short", "sha256:" + hex[:40], []string{"wrong length", "got 40"}},
		{"non-hex", hex[:20] + "g" + hex[21:], []string{"non-hex", "'g'", "position 20"}},
		{"uppercase non-hex", strings.ToUpper(hex[:20]) + "G" + hex[21:], []string{"non-hex", "'G'", "position 20"}},
		{"leading space", " " + hex, []string{"non-hex", "' '", "position 0"}},
		{"trailing newline", hex + "\n", []string{"non-hex", `'\n'`, "position 64"}},
		{"inner space", hex[:32] + " " + hex[33:], []string{"non-hex", "position 32"}},
		{"non-ASCII", "é" + hex[2:], []string{"non-hex", "'é'", "position 0"}},
		{"invalid UTF-8", "\xff" + hex[1:], []string{"invalid UTF-8", "0xff", "position 0"}},
		{"0x prefix", "0x" + hex, []string{"unknown prefix", `"0x"`}},
		{"0X prefix", "0X" + hex, []string{"unknown prefix", `"0X"`}},
		{"sha1 prefix", "sha1:a9993e364706816aba3e25717850c26c9cd0d89d", []string{"unknown prefix", `"sha1:"`}},
		{"sha512 prefix", "sha512:" + hex, []string{"unknown prefix", `"sha512:"`}},
		{"uppercase prefix", "SHA256:" + hex, []string{"unknown prefix", `"SHA256:"`}},
		{"sha3 prefix", "sha3-256:" + hex, []string{"unknown prefix", `"sha3-256:"`}},
		{"double prefix", "sha256:sha256:" + hex, []string{"non-hex", "position 7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if errors.Is(err, ErrInvalidNonce) {
				t.Errorf("error %q wraps ErrInvalidNonce", err)
			}
			if got != (Fingerprint{}) {
				t.Errorf("Parse returned non-zero %v with error", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// UnmarshalText follows Parse and leaves the receiver alone.
			f := Sum([]byte("keep"))
			if err := f.UnmarshalText([]byte(tt.in)); !errors.Is(err, ErrInvalid) {
				t.Errorf("UnmarshalText error = %v, want ErrInvalid", err)
			}
			if f != Sum([]byte("keep")) {
				t.Errorf("UnmarshalText changed the receiver on error")
			}
		})
	}
}

// TestUnmarshalTextLowercaseOnly: the wire formats (.attest, proof
// bundles, receipts) keep one spelling; Parse takes these.
func TestUnmarshalTextLowercaseOnly(t *testing.T) {
	hex := sha256ABC
	for _, tt := range []struct{ in, want string }{
		{strings.ToUpper(hex), "position 0"},
		{hex[:10] + "A" + hex[11:], "'A' at position 10"},
		{"sha256:" + hex[:5] + "F" + hex[6:], "'F' at position 12"},
	} {
		f := Sum([]byte("keep"))
		err := f.UnmarshalText([]byte(tt.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "uppercase") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("UnmarshalText(%q) = %v, want an uppercase error naming %s", tt.in, err, tt.want)
		}
		if f != Sum([]byte("keep")) {
			t.Errorf("UnmarshalText changed the receiver on error")
		}
		if _, err := Parse(tt.in); err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
		}
	}
	if _, err := ParseNonce(strings.ToUpper(hex)); !errors.Is(err, ErrInvalidNonce) {
		t.Errorf("ParseNonce(uppercase) = %v, want ErrInvalidNonce (a nonce is wire form)", err)
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	for _, s := range []string{sha256ABC, "sha256:" + sha256ABC, strings.ToUpper(sha256ABC)} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Parse(s) }); n != 0 {
			t.Errorf("Parse(%q) allocates %v times, want 0", s, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseNonce(sha256ABC) }); n != 0 {
		t.Errorf("ParseNonce allocates %v times, want 0", n)
	}
}

func TestStringAndMarshalText(t *testing.T) {
	for _, data := range []string{"", "abc", "attestd"} {
		f := Sum([]byte(data))
		want := sha256.Sum256([]byte(data))
		var wantHex strings.Builder
		for _, b := range want {
			wantHex.WriteString(string("0123456789abcdef"[b>>4]) + string("0123456789abcdef"[b&15]))
		}
		if got := f.String(); got != wantHex.String() {
			t.Errorf("String() = %q, want %q", got, wantHex.String())
		}
		text, err := f.MarshalText()
		if err != nil || string(text) != wantHex.String() {
			t.Errorf("MarshalText() = %q, %v; want %q", text, err, wantHex.String())
		}
	}
	if got := Sum([]byte("abc")).String(); got != sha256ABC {
		t.Errorf("Sum(abc).String() = %q, want FIPS vector %q", got, sha256ABC)
	}
}

func TestIsZero(t *testing.T) {
	if !(Fingerprint{}).IsZero() {
		t.Error("zero value: IsZero() = false")
	}
	for i := 0; i < Size; i++ {
		var f Fingerprint
		f[i] = 1
		if f.IsZero() {
			t.Errorf("byte %d set: IsZero() = true", i)
		}
	}
}

func TestJSON(t *testing.T) {
	type record struct {
		FP    Fingerprint  `json:"fp"`
		Opt   *Fingerprint `json:"opt,omitempty"`
		Nonce Nonce        `json:"nonce"`
	}
	n, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	in := record{FP: Sum([]byte("abc")), Nonce: n}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fp":"` + sha256ABC + `","nonce":"` + n.String() + `"}`
	if string(data) != want {
		t.Fatalf("Marshal = %s, want %s", data, want)
	}
	var out record
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip = %+v, want %+v", out, in)
	}

	// The prefixed form is accepted on input.
	var pre record
	if err := json.Unmarshal([]byte(`{"fp":"sha256:`+sha256ABC+`","opt":"`+sha256Empty+`"}`), &pre); err != nil {
		t.Fatal(err)
	}
	if pre.FP != in.FP || pre.Opt == nil || *pre.Opt != Fingerprint(sha256.Sum256(nil)) {
		t.Fatalf("prefixed: got %+v", pre)
	}

	// Invalid values are rejected with ErrInvalid / ErrInvalidNonce.
	bad := []struct {
		json string
		want error
	}{
		{`{"fp":"` + strings.ToUpper(sha256ABC) + `"}`, ErrInvalid},
		{`{"fp":""}`, ErrInvalid},
		{`{"fp":"sha1:a9993e364706816aba3e25717850c26c9cd0d89d"}`, ErrInvalid},
		{`{"nonce":"sha256:` + sha256ABC + `"}`, ErrInvalidNonce},
		{`{"nonce":"` + sha256ABC[:10] + `"}`, ErrInvalidNonce},
	}
	for _, tt := range bad {
		var r record
		if err := json.Unmarshal([]byte(tt.json), &r); !errors.Is(err, tt.want) {
			t.Errorf("Unmarshal(%s) error = %v, want %v", tt.json, err, tt.want)
		}
	}

	// As a map key (encoding.TextMarshaler).
	m := map[Fingerprint]int{in.FP: 1}
	data, err = json.Marshal(m)
	if err != nil || string(data) != `{"`+sha256ABC+`":1}` {
		t.Errorf("map Marshal = %s, %v", data, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		sha256ABC, "sha256:" + sha256ABC, strings.ToUpper(sha256ABC), "", "sha256:",
		"0x" + sha256ABC, "sha1:a9993e364706816aba3e25717850c26c9cd0d89d", " " + sha256ABC, sha256ABC + "\n",
		"é" + sha256ABC[2:], "\xff" + sha256ABC[1:],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %q does not wrap ErrInvalid", s, err)
			}
			if fp != (Fingerprint{}) {
				t.Fatalf("Parse(%q) returned %v with an error", s, fp)
			}
			// Messages quote at most a character or a short prefix,
			// never the whole input.
			if len(err.Error()) > 200 {
				t.Fatalf("Parse(%q) error is %d bytes long", s, len(err.Error()))
			}
			return
		}
		str := fp.String()
		if digits := strings.TrimPrefix(s, "sha256:"); strings.ToLower(digits) != str {
			t.Fatalf("Parse(%q) succeeded, but the input is neither %q nor its prefixed form, in any case", s, str)
		}
		var w Fingerprint
		if err := w.UnmarshalText([]byte(s)); (err == nil) != (s == strings.ToLower(s)) || err == nil && w != fp {
			t.Fatalf("UnmarshalText(%q) = %v, %v: want it to take exactly the lowercase inputs Parse takes", s, w, err)
		}
		again, err := Parse(str)
		if err != nil || again != fp {
			t.Fatalf("Parse(%q) = %v, %v; want %v", str, again, err, fp)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, s := range []string{sha256ABC, "sha256:" + sha256ABC} {
		b.Run(s[:7], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
