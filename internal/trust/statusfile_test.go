package trust

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/statement"
)

func seedKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

// TestStatusFileSigner: a status file is from the issuer whose listed
// receipt key signed it, and only when dated within that key's validity;
// any other key, a key of another period, or a changed file is refused.
func TestStatusFileSigner(t *testing.T) {
	l, err := Parse([]byte(valid()))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(seed byte, at time.Time) *statement.StatusFile {
		f, err := statement.Sign(at, nil, seedKey(seed))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		name   string
		f      *statement.StatusFile
		issuer string
		err    string
	}{
		{"Taipei's first key in its period", sign(1, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), "Taipei Attest", ""},
		{"Taipei's second key in its period", sign(2, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)), "Taipei Attest", ""},
		{"Hong Kong's key", sign(3, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)), "Hong Kong Attest", ""},
		{"the first key after its period", sign(1, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)), "", "outside the validity"},
		{"the second key before its period", sign(2, time.Date(2026, 5, 31, 23, 59, 59, 0, time.UTC)), "", "outside the validity"},
		{"an unlisted key", sign(9, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)), "", "no receipt key in your trust list"},
		{"a changed date", func() *statement.StatusFile {
			f := sign(2, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
			f.IssuedAt.Time = f.IssuedAt.Time.Add(time.Hour)
			return f
		}(), "", "does not verify"},
		{"an unlisted key naming a listed key's id", func() *statement.StatusFile {
			f := sign(9, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
			f.KeyID = statement.KeyID(seedKey(2).Public().(ed25519.PublicKey))
			return f
		}(), "", "does not verify"},
	} {
		issuer, err := l.StatusFileSigner(c.f)
		switch {
		case c.err == "" && (err != nil || issuer != c.issuer):
			t.Errorf("%s: %q, %v; want %q", c.name, issuer, err, c.issuer)
		case c.err != "" && (err == nil || !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %q, %v; want an error saying %q", c.name, issuer, err, c.err)
		}
	}
}
