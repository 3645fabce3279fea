package fingerprint

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// blindByHand computes the DESIGN.md formula independently of Blind.
func blindByHand(nonce, doc [32]byte) Fingerprint {
	msg := []byte("attestd/blind/v1")
	msg = append(msg, nonce[:]...)
	msg = append(msg, doc[:]...)
	return sha256.Sum256(msg)
}

func TestBlind(t *testing.T) {
	var counting Nonce
	for i := range counting {
		counting[i] = byte(i)
	}
	var ones Nonce
	for i := range ones {
		ones[i] = 0xff
	}
	random, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	docs := []Fingerprint{{}, Sum(nil), Sum([]byte("abc")), Sum([]byte("HbA1c 5.4%"))}
	nonces := []Nonce{{}, counting, ones, random}

	seen := map[Fingerprint]bool{}
	for _, doc := range docs {
		for _, n := range nonces {
			got := Blind(n, doc)
			if want := blindByHand(n, doc); got != want {
				t.Errorf("Blind(%v, %v) = %v, want %v", n, doc, got, want)
			}
			if got == doc {
				t.Errorf("Blind(%v, %v) equals the document hash", n, doc)
			}
			if seen[got] {
				t.Errorf("Blind(%v, %v) = %v collides with another (nonce, doc) pair", n, doc, got)
			}
			seen[got] = true
		}
	}
	if BlindDomain != "attestd/blind/v1" {
		t.Errorf("BlindDomain = %q", BlindDomain)
	}
}

func TestNewNonce(t *testing.T) {
	a, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a == (Nonce{}) {
		t.Fatalf("NewNonce gave %v and %v", a, b)
	}
	if Blind(a, Sum([]byte("x"))) == Blind(b, Sum([]byte("x"))) {
		t.Fatal("different nonces gave the same blinded fingerprint")
	}
}

func TestParseNonce(t *testing.T) {
	hex := sha256ABC
	n, err := ParseNonce(hex)
	if err != nil {
		t.Fatal(err)
	}
	if n != Nonce(sha256.Sum256([]byte("abc"))) || n.String() != hex {
		t.Fatalf("ParseNonce(%q) = %v", hex, n)
	}
	if text, err := n.MarshalText(); err != nil || string(text) != hex {
		t.Fatalf("MarshalText = %q, %v", text, err)
	}
	var u Nonce
	if err := u.UnmarshalText([]byte(hex)); err != nil || u != n {
		t.Fatalf("UnmarshalText = %v, %v", u, err)
	}

	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{"empty"}},
		{hex[:63], []string{"wrong length", "got 63"}},
		{hex + "00", []string{"wrong length", "got 66"}},
		{"sha256:" + hex, []string{"prefix", `"sha256:"`}},
		{"0x" + hex, []string{"prefix", `"0x"`}},
		{strings.ToUpper(hex), []string{"uppercase", "position 0"}},
		{hex[:3] + "z" + hex[4:], []string{"non-hex", "'z'", "position 3"}},
		{hex + " ", []string{"non-hex", "position 64"}},
	}
	for _, tt := range tests {
		got, err := ParseNonce(tt.in)
		if err == nil {
			t.Errorf("ParseNonce(%q) = %v, want error", tt.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidNonce) || errors.Is(err, ErrInvalid) {
			t.Errorf("ParseNonce(%q) error %q: wrong sentinel", tt.in, err)
		}
		if !strings.HasPrefix(err.Error(), "invalid nonce: ") {
			t.Errorf("ParseNonce(%q) error %q does not say it is about a nonce", tt.in, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseNonce(%q) error %q does not contain %q", tt.in, err, w)
			}
		}
		keep := n
		if err := keep.UnmarshalText([]byte(tt.in)); err == nil || keep != n {
			t.Errorf("UnmarshalText(%q) = %v, receiver %v", tt.in, err, keep)
		}
	}
}

func FuzzNonce(f *testing.F) {
	for _, s := range []string{sha256ABC, "sha256:" + sha256ABC, strings.ToUpper(sha256ABC), "", "0x" + sha256ABC} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNonce(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidNonce) {
				t.Fatalf("ParseNonce(%q) error %q does not wrap ErrInvalidNonce", s, err)
			}
			if n != (Nonce{}) {
				t.Fatalf("ParseNonce(%q) returned %v with an error", s, n)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("ParseNonce(%q) error is %d bytes long", s, len(err.Error()))
			}
			return
		}
		if n.String() != s {
			t.Fatalf("ParseNonce(%q) succeeded, but String() = %q", s, n.String())
		}
	})
}
