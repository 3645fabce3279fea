package statement

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
)

var testIssued = time.Date(2026, 12, 8, 10, 0, 0, 123456789, time.UTC)

func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

// testEntries are n statements about distinct subjects, every other one
// attested (the rest pending).
func testEntries(t testing.TB, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := range n {
		s := vecWithdraw()
		s.Subject = fingerprint.Sum(fmt.Appendf(nil, "subject %d", i))
		if i%2 == 1 {
			r := fingerprint.Sum(fmt.Appendf(nil, "replacement %d", i))
			s.Type, s.Reason, s.Replacement = Supersede, "", &r
		}
		text, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		e := Entry{Fingerprint: Fingerprint(text), Statement: string(text)}
		if i%3 != 2 {
			e.AttestedAt = &Instant{testIssued.Add(-time.Duration(i+1) * time.Minute)}
		}
		out = append(out, e)
	}
	return out
}

func signed(t testing.TB, n int) (*StatusFile, []byte) {
	t.Helper()
	f, err := Sign(testIssued, testEntries(t, n), testKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return f, b
}

// accept is what a verifier does with a status file's bytes before using
// it: parse, check the signature, check the date.
func accept(data []byte, pub ed25519.PublicKey, now time.Time) (*StatusFile, error) {
	f, err := ParseStatusFile(data)
	if err != nil {
		return nil, err
	}
	if err := f.Verify(pub); err != nil {
		return nil, err
	}
	return f, f.CheckAge(now, DefaultMaxAge)
}

func TestStatusFileRoundTrip(t *testing.T) {
	pub := testKey().Public().(ed25519.PublicKey)
	want, data := signed(t, 5)
	got, err := accept(data, pub, testIssued.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Statements) != 5 || !got.IssuedAt.Time.Equal(testIssued) || got.KeyID != KeyID(pub) {
		t.Fatalf("round trip: %+v", got)
	}
	for i, e := range got.Statements {
		w := want.Statements[i]
		if e.Fingerprint != w.Fingerprint || e.Statement != w.Statement || (e.AttestedAt == nil) != (w.AttestedAt == nil) ||
			e.AttestedAt != nil && !e.AttestedAt.Time.Equal(w.AttestedAt.Time) {
			t.Errorf("statement %d: %+v, want %+v", i, e, w)
		}
	}
	if !bytes.Equal(got.Message(), want.Message()) {
		t.Error("the message changed in the round trip")
	}
	// The message's layout, as docs/statements.md gives it.
	msg := string(want.Message())
	if !strings.HasPrefix(msg, "attestd/status/v1\n"+fmt.Sprint(testIssued.UnixNano())+"\n5\n"+want.Statements[0].Fingerprint.String()+" ") ||
		!strings.Contains(msg, want.Statements[2].Fingerprint.String()+" pending\n") || !strings.HasSuffix(msg, "\n") {
		t.Errorf("message layout:\n%s", msg)
	}
	// An empty file is a file too: "no statement as of then".
	f, err := Sign(testIssued, nil, testKey())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Marshal()
	if g, err := accept(b, pub, testIssued); err != nil || len(g.Statements) != 0 {
		t.Fatalf("empty status file: %v, %+v", err, g)
	}
	if !bytes.Contains(b, []byte(`"statements":[]`)) {
		t.Errorf("an empty file lists no statements as %s", b)
	}
}

// TestStatusFileEveryByte: a status file with any one byte changed, to
// any of several values, is refused — by the parser, the signature or the
// date — never read as another valid file. (It is written compact, so
// every byte is significant.)
func TestStatusFileEveryByte(t *testing.T) {
	pub := testKey().Public().(ed25519.PublicKey)
	_, good := signed(t, 3)
	now := testIssued.Add(time.Hour)
	if _, err := accept(good, pub, now); err != nil {
		t.Fatal(err)
	}
	tried := 0
	for i := range good {
		for _, d := range []byte{0x01, 0x02, 0x20, 0x80, 0xff} {
			m := bytes.Clone(good)
			m[i] ^= d
			tried++
			if _, err := accept(m, pub, now); err == nil {
				t.Fatalf("byte %d (%q) xor %#02x accepted:\n%s", i, good[i], d, m)
			} else if !errors.Is(err, ErrInvalid) {
				t.Fatalf("byte %d xor %#02x: %v does not wrap ErrInvalid", i, d, err)
			}
		}
	}
	// Removing any one byte, too.
	for i := range good {
		m := append(bytes.Clone(good[:i]), good[i+1:]...)
		if _, err := accept(m, pub, now); err == nil {
			t.Fatalf("byte %d (%q) removed: accepted", i, good[i])
		}
	}
	t.Logf("%d mutations of %d bytes refused", tried, len(good))
}

func TestStatusFileRefusals(t *testing.T) {
	pub := testKey().Public().(ed25519.PublicKey)
	f, good := signed(t, 2)
	now := testIssued.Add(time.Hour)
	edit := func(fn func(f *StatusFile)) []byte {
		var c StatusFile
		c = *f
		c.Statements = append([]Entry(nil), f.Statements...)
		fn(&c)
		b, _ := c.Marshal()
		return b
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	resigned := func(fn func(f *StatusFile)) []byte {
		c := *f
		c.Statements = append([]Entry(nil), f.Statements...)
		fn(&c)
		s, err := Sign(c.IssuedAt.Time, c.Statements, testKey())
		if err != nil {
			return nil // Sign refused it: fine, nobody can make it
		}
		b, _ := s.Marshal()
		return b
	}
	cases := map[string][]byte{
		"another key's signature": func() []byte {
			s, _ := Sign(testIssued, f.Statements, other)
			s.KeyID = f.KeyID
			b, _ := s.Marshal()
			return b
		}(),
		"a statement left out": edit(func(c *StatusFile) { c.Statements = c.Statements[1:] }),
		"statements reordered": edit(func(c *StatusFile) { c.Statements[0], c.Statements[1] = c.Statements[1], c.Statements[0] }),
		"attested_at dropped":  edit(func(c *StatusFile) { c.Statements[0].AttestedAt = nil }),
		"issued later":         edit(func(c *StatusFile) { c.IssuedAt = Instant{c.IssuedAt.Time.Add(time.Nanosecond)} }),
		"a statement twice":    resigned(func(c *StatusFile) { c.Statements = append(c.Statements, c.Statements[0]) }),
		"another fingerprint": resigned(func(c *StatusFile) {
			c.Statements[0].Fingerprint = c.Statements[1].Fingerprint
		}),
		"time with an offset": bytes.Replace(good, []byte(`"issued_at":"2026-12-08T10:00:00.123456789Z"`), []byte(`"issued_at":"2026-12-08T11:00:00.123456789+01:00"`), 1),
		"signature padding bits": func() []byte {
			// The last base64 digit before "==" carries 2 bits of the
			// signature and 4 unused ones: setting one of those gives the
			// same bytes to a lenient decoder, another spelling here.
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			m := bytes.Clone(good)
			i := bytes.LastIndex(m, []byte(`=="`)) - 1
			m[i] = alphabet[strings.IndexByte(alphabet, m[i])^1]
			return m
		}(),
		"duplicate member":    bytes.Replace(good, []byte(`"version":1`), []byte(`"version":1,"version":1`), 1),
		"case variant member": bytes.Replace(good, []byte(`"version":1`), []byte(`"version":1,"VERSION":1`), 1),
		"unknown member":      bytes.Replace(good, []byte(`"version":1`), []byte(`"version":1,"institution":"x"`), 1),
		"no statements":       bytes.Replace(good, []byte(`"statements":[`), []byte(`"x":[`), 1),
	}
	for name, b := range cases {
		if b == nil {
			continue
		}
		if _, err := accept(b, pub, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	if _, err := accept(good, other.Public().(ed25519.PublicKey), now); !errors.Is(err, ErrInvalid) {
		t.Errorf("checked against another key: %v", err)
	}
}

func TestCheckAge(t *testing.T) {
	f, _ := signed(t, 1)
	for _, c := range []struct {
		now  time.Time
		want error
	}{
		{testIssued, nil},
		{testIssued.Add(DefaultMaxAge), nil},
		{testIssued.Add(DefaultMaxAge + time.Nanosecond), ErrStale},
		{testIssued.Add(-ClockSkew), nil},
		{testIssued.Add(-ClockSkew - time.Second), ErrFuture},
	} {
		err := f.CheckAge(c.now, DefaultMaxAge)
		if c.want == nil && err != nil || c.want != nil && (!errors.Is(err, c.want) || !errors.Is(err, ErrInvalid)) {
			t.Errorf("CheckAge at issued%+v: %v, want %v", c.now.Sub(testIssued), err, c.want)
		}
	}
	if err := f.CheckAge(testIssued.Add(2*time.Hour), time.Hour); !errors.Is(err, ErrStale) {
		t.Errorf("max age 1h, 2h old: %v", err)
	}
}

// FuzzParseStatusFile: what the parser accepts is a file whose every
// statement is well-formed and listed under its own fingerprint, and its
// compact form parses to the same message; nothing but the key signs it.
func FuzzParseStatusFile(f *testing.F) {
	_, good := signed(f, 3)
	f.Add(good)
	_, one := signed(f, 1)
	f.Add(one)
	f.Add([]byte(`{"version":1,"issued_at":"2026-12-08T10:00:00Z","statements":[],"key_id":"0000000000000000","signature":""}`))
	pub := testKey().Public().(ed25519.PublicKey)
	signedMsgs := map[string]bool{}
	for _, b := range [][]byte{good, one} {
		g, _ := ParseStatusFile(b)
		signedMsgs[string(g.Message())] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := ParseStatusFile(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for i, e := range sf.Statements {
			if Fingerprint([]byte(e.Statement)) != e.Fingerprint {
				t.Fatalf("statement %d listed under another fingerprint", i)
			}
		}
		again, err := sf.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		sf2, err := ParseStatusFile(again)
		if err != nil || !bytes.Equal(sf2.Message(), sf.Message()) {
			t.Fatalf("re-encoded file: %v, or another message", err)
		}
		if sf.Verify(pub) == nil && !signedMsgs[string(sf.Message())] {
			t.Fatalf("a file with another message verifies under the test key:\n%s", data)
		}
	})
}
