package statement

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
)

// The documented vectors (docs/statements.md): the test values are SHA-256
// of short ASCII strings, so anyone can rebuild them.
var (
	vecSubject     = fingerprint.Sum([]byte("attestd statement test subject"))
	vecReplacement = fingerprint.Sum([]byte("attestd statement test replacement"))
	vecNonce       = fingerprint.Nonce(fingerprint.Sum([]byte("attestd statement test nonce")))
)

func vecSupersede() Statement {
	r := vecReplacement
	return Statement{Version: Version, Type: Supersede, Subject: vecSubject, Replacement: &r, Nonce: vecNonce}
}

func vecWithdraw() Statement {
	return Statement{Version: Version, Type: Withdraw, Subject: vecSubject, Reason: EnteredInError, Nonce: vecNonce}
}

// TestVectors pins the canonical bytes and fingerprints that
// docs/statements.md publishes: a change here is a format change.
func TestVectors(t *testing.T) {
	for _, v := range []struct {
		s        Statement
		text, fp string
	}{
		{vecSupersede(),
			`{"nonce":"` + vecNonce.String() + `","replacement":"` + vecReplacement.String() + `","subject":"` + vecSubject.String() + `","type":"supersede","version":1}`,
			"31108eb46a442eaea8a5d14ebc9d7358b7d18d9b2cdb728422eebc0552c14175"},
		{vecWithdraw(),
			`{"nonce":"` + vecNonce.String() + `","reason":"entered-in-error","subject":"` + vecSubject.String() + `","type":"withdraw","version":1}`,
			"2969ede3f013507f96e77187a9371ffefb68027337db35a90e5ec3a777c53a88"},
	} {
		text, err := v.s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if string(text) != v.text {
			t.Errorf("Encode = %s\nwant     %s", text, v.text)
		}
		want := sha256.Sum256(append([]byte("attestd/statement/v1\n"), text...))
		if got := Fingerprint(text); got != fingerprint.Fingerprint(want) {
			t.Errorf("Fingerprint = %s, want SHA-256(domain, newline, text) = %x", got, want)
		}
		if got := Fingerprint(text).String(); got != v.fp {
			t.Errorf("%s: fingerprint %s, the published vector is %s", v.s.Type, got, v.fp)
		}
		got, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(Encode()) = %v", err)
		}
		if again, _ := got.Encode(); !bytes.Equal(again, text) {
			t.Errorf("Parse then Encode = %s, want %s", again, text)
		}
	}
}

// TestParseRefuses: every other spelling of a statement, and every
// malformed one, is refused with ErrInvalid.
func TestParseRefuses(t *testing.T) {
	good, _ := vecWithdraw().Encode()
	sup, _ := vecSupersede().Encode()
	g, s := string(good), string(sup)
	sub, rep, non := vecSubject.String(), vecReplacement.String(), vecNonce.String()
	cases := map[string]string{
		"white space":          strings.Replace(g, `,"reason"`, `, "reason"`, 1),
		"trailing newline":     g + "\n",
		"members out of order": `{"reason":"entered-in-error","nonce":"` + non + `","subject":"` + sub + `","type":"withdraw","version":1}`,
		"duplicate member":     strings.Replace(g, `"type":"withdraw"`, `"type":"withdraw","type":"withdraw"`, 1),
		"case variant member":  strings.Replace(g, `"type":"withdraw"`, `"type":"withdraw","Type":"withdraw"`, 1),
		"unknown member":       strings.Replace(g, `"type"`, `"institution":"x","type"`, 1),
		"upper-case hex":       strings.Replace(g, sub, strings.ToUpper(sub), 1),
		"sha256: prefix":       strings.Replace(g, `"subject":"`, `"subject":"sha256:`, 1),
		"version 2":            strings.Replace(g, `"version":1`, `"version":2`, 1),
		"version 1.0":          strings.Replace(g, `"version":1`, `"version":1.0`, 1),
		"unknown type":         strings.Replace(g, `"withdraw"`, `"retract"`, 1),
		"unknown reason":       strings.Replace(g, `"entered-in-error"`, `"mistake"`, 1),
		"empty reason":         strings.Replace(g, `"entered-in-error"`, `""`, 1),
		"no reason":            strings.Replace(g, `"reason":"entered-in-error",`, ``, 1),
		"withdraw replacing":   strings.Replace(g, `"reason":"entered-in-error",`, `"reason":"entered-in-error","replacement":"`+rep+`",`, 1),
		"supersede no repl":    strings.Replace(s, `"replacement":"`+rep+`",`, ``, 1),
		"supersede reason":     strings.Replace(s, `"replacement"`, `"reason":"other","replacement"`, 1),
		"supersede itself":     strings.Replace(s, rep, sub, 1),
		"null replacement":     strings.Replace(s, `"`+rep+`"`, `null`, 1),
		"zero subject":         strings.Replace(g, sub, strings.Repeat("0", 64), 1),
		"zero nonce":           strings.Replace(g, non, strings.Repeat("0", 64), 1),
		"short nonce":          strings.Replace(g, non, non[:62], 1),
		"no nonce":             strings.Replace(g, `"nonce":"`+non+`",`, ``, 1),
		"not an object":        `["withdraw"]`,
		"empty":                ``,
		"too long":             g[:len(g)-1] + strings.Repeat(" ", MaxSize) + "}",
	}
	for name, text := range cases {
		if _, err := Parse([]byte(text)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse(%.120s) = %v, want ErrInvalid", name, text, err)
		}
	}
}

// TestCheck: Encode refuses what Parse would refuse.
func TestCheck(t *testing.T) {
	bad := []Statement{
		{Version: Version, Type: Withdraw, Subject: vecSubject, Nonce: vecNonce},                     // no reason
		{Version: Version, Type: Supersede, Subject: vecSubject, Nonce: vecNonce},                    // no replacement
		{Version: Version, Type: Withdraw, Subject: vecSubject, Reason: "oops", Nonce: vecNonce},     // unknown reason
		{Version: 0, Type: Withdraw, Subject: vecSubject, Reason: Other, Nonce: vecNonce},            // version
		{Version: Version, Type: Withdraw, Reason: Other, Nonce: vecNonce},                           // no subject
		{Version: Version, Type: Withdraw, Subject: vecSubject, Reason: Other},                       // no nonce
		{Version: Version, Type: "", Subject: vecSubject, Reason: Other, Nonce: vecNonce},            // no type
		{Version: Version, Type: Supersede, Subject: vecSubject, Reason: Other, Nonce: vecNonce},     // supersede with a reason and no replacement
		{Version: Version, Type: Withdraw, Subject: vecSubject, Reason: Superseded, Nonce: vecNonce}, // good: the control
	}
	for i, s := range bad {
		_, err := s.Encode()
		if last := i == len(bad)-1; (err == nil) != last {
			t.Errorf("Encode(%+v) = %v", s, err)
		}
	}
	for _, r := range Reasons {
		if got, err := ParseReason(string(r)); err != nil || got != r {
			t.Errorf("ParseReason(%q) = %q, %v", r, got, err)
		}
	}
	for _, r := range []string{"", "Other", "entered in error", "superseded "} {
		if _, err := ParseReason(r); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseReason(%q) = %v, want ErrInvalid", r, err)
		}
	}
}

// FuzzParse: what Parse accepts is a well-formed statement whose canonical
// form is exactly the input, so its fingerprint is its only one.
func FuzzParse(f *testing.F) {
	for _, s := range []Statement{vecSupersede(), vecWithdraw()} {
		text, _ := s.Encode()
		f.Add(text)
	}
	f.Add([]byte(`{"nonce":"00","type":"withdraw"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := s.Check(); err != nil {
			t.Fatalf("Parse accepted %q, which Check refuses: %v", data, err)
		}
		canon, err := s.Encode()
		if err != nil || !bytes.Equal(canon, data) {
			t.Fatalf("Parse accepted %q, whose canonical form is %q (%v)", data, canon, err)
		}
	})
}
