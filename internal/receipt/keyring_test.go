package receipt_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/receipt"
)

func TestLoadOrCreateKeyring(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipt.pem")
	now := time.Date(2026, 12, 7, 10, 0, 0, 700_000_000, time.UTC)
	ring, err := receipt.LoadOrCreateKeyring(path, now)
	if err != nil {
		t.Fatal(err)
	}
	keys := ring.Keys()
	if len(keys) != 1 || !keys[0].ValidFrom.Equal(now.Truncate(time.Second)) || !keys[0].ValidUntil.IsZero() {
		t.Fatalf("a new keyring: %+v, want one open-ended key valid from %s", keys, now.Truncate(time.Second))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "ATTESTD RECEIPT KEY" || !bytes.Equal(block.Bytes, keys[0].Private.Seed()) ||
		block.Headers["Valid-From"] != "2026-12-07T10:00:00Z" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("key file is not one PEM block with the seed and its Valid-From:\n%s", data)
	}
	again, err := receipt.LoadOrCreateKeyring(path, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if k := again.Keys(); len(k) != 1 || !k[0].Private.Equal(keys[0].Private) || !k[0].ValidFrom.Equal(keys[0].ValidFrom) {
		t.Fatal("reloading gave another key")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("reloading rewrote the key file")
	}
	// A receipt signed before the "restart" verifies with the reloaded key.
	r := signOne(t, receipt.NewKeyringSigner(ring), receipt.Facts{Fingerprint: testFP, Institution: "lab", ReceivedAt: now, Deadline: now.Add(time.Minute)})
	if err := receipt.Verify(r, again.Keys()[0].Public()); err != nil {
		t.Fatal(err)
	}
	// Two fresh files get two different keys.
	other, err := receipt.LoadOrCreateKeyring(filepath.Join(dir, "other.pem"), now)
	if err != nil || other.Keys()[0].Private.Equal(keys[0].Private) {
		t.Fatalf("second key: %v", err)
	}
}

// TestKeyringLegacyFile: a key file of one block without Valid-From (what
// attestd wrote before rotation) is one key valid at all times.
func TestKeyringLegacyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipt.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: testKey().Seed()}), 0o600); err != nil {
		t.Fatal(err)
	}
	ring, err := receipt.LoadOrCreateKeyring(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k := ring.Keys()
	if len(k) != 1 || !k[0].Private.Equal(testKey()) || !k[0].ValidFrom.IsZero() || !k[0].ValidUntil.IsZero() {
		t.Fatalf("legacy file: %+v", k)
	}
	if !k[0].ValidAt(time.Unix(0, 0)) || !k[0].ValidAt(testReceived) {
		t.Fatal("a legacy key is not valid at all times")
	}
}

func TestKeyringMalformed(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	seed2 := bytes.Repeat([]byte{8}, ed25519.SeedSize)
	blk := func(s []byte, from string) []byte {
		b := &pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: s}
		if from != "" {
			b.Headers = map[string]string{"Valid-From": from}
		}
		return pem.EncodeToMemory(b)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "no key", []byte{}},
		{"garbage", "not a PEM block", []byte("not a key\n")},
		{"raw seed", "not a PEM block", seed},
		{"wrong PEM type", "not a", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: seed})},
		{"short seed", "32-byte seed", pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: seed[:31]})},
		{"long seed", "32-byte seed", pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: append(bytes.Clone(seed), 0)})},
		{"truncated PEM", "not a PEM block", pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: seed})[:40]},
		{"trailing garbage", "key 2: not a PEM block", cat(blk(seed, ""), []byte("junk\n"))},
		{"bad time", "want an RFC 3339 UTC time", blk(seed, "yesterday")},
		{"offset time", "want an RFC 3339 UTC time", blk(seed, "2026-12-07T10:00:00+01:00")},
		{"fractional time", "want an RFC 3339 UTC time", blk(seed, "2026-12-07T10:00:00.5Z")},
		{"unknown header", "unknown header", pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: seed, Headers: map[string]string{"Valid-Until": "2026-12-07T10:00:00Z"}})},
		{"second key without Valid-From", "only the first key may lack one", cat(blk(seed, ""), blk(seed2, ""))},
		{"not increasing", "is not after", cat(blk(seed, "2026-12-07T10:00:00Z"), blk(seed2, "2026-12-07T10:00:00Z"))},
		{"decreasing", "is not after", cat(blk(seed, "2026-12-07T10:00:00Z"), blk(seed2, "2026-12-06T10:00:00Z"))},
		{"same key twice", "the same key as key 1", cat(blk(seed, "2026-12-07T10:00:00Z"), blk(seed, "2026-12-08T10:00:00Z"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "receipt.pem")
			if err := os.WriteFile(path, tc.data, 0o640); err != nil {
				t.Fatal(err)
			}
			_, err := receipt.LoadOrCreateKeyring(path, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadOrCreateKeyring: %v, want an error saying %q", err, tc.want)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, tc.data) {
				t.Fatalf("file changed: %q, %v", after, err)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Fatalf("file mode changed to %v", fi.Mode().Perm())
			}
		})
	}
	t.Run("unreadable path", func(t *testing.T) {
		dir := t.TempDir() // a directory where a file is expected
		if _, err := receipt.LoadOrCreateKeyring(dir, time.Now()); err == nil {
			t.Fatal("a directory was accepted as a key file")
		}
		if _, err := receipt.LoadOrCreateKeyring(filepath.Join(dir, "missing", "key.pem"), time.Now()); err == nil {
			t.Fatal("a key in a missing directory was created")
		}
	})
}

// TestLoadOrCreateKeyringConcurrent: processes starting at once on one
// path all end up with the same key, and none fails.
func TestLoadOrCreateKeyringConcurrent(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("key%d.pem", round))
		keys := make([]*receipt.Keyring, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() { keys[i], errs[i] = receipt.LoadOrCreateKeyring(path, time.Now()) })
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil || !keys[i].Keys()[0].Private.Equal(keys[0].Keys()[0].Private) {
				t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
			}
		}
	}
}

// TestRotate: a rotation scheduled at T appends a key valid from T; the
// old key signs what was received before T (a resubmission included),
// the new one what was received from T on, and each receipt verifies
// only under its own key.
func TestRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipt.pem")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	if _, err := receipt.LoadOrCreateKeyring(path, t0); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(24 * time.Hour)
	if _, err := receipt.Rotate(path, t0.Add(-time.Hour), t0); err == nil || !strings.Contains(err.Error(), "in the past") {
		t.Fatalf("a rotation into the past: %v", err)
	}
	newKey, err := receipt.Rotate(path, at.Add(300*time.Millisecond), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !newKey.ValidFrom.Equal(at) {
		t.Fatalf("new key valid from %s, want %s (whole seconds)", newKey.ValidFrom, at)
	}
	if _, err := receipt.Rotate(path, at, t0); err == nil || !strings.Contains(err.Error(), "after the newest key") {
		t.Fatalf("a second rotation at the same instant: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file mode %v, want 0600", fi.Mode().Perm())
	}
	ring, err := receipt.LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := ring.Keys()
	if len(keys) != 2 || !keys[0].ValidUntil.Equal(at) || !keys[1].ValidFrom.Equal(at) || !keys[1].ValidUntil.IsZero() || !keys[1].Private.Equal(newKey.Private) {
		t.Fatalf("after rotation: %+v", keys)
	}
	old, cur := keys[0], keys[1]
	before := receipt.Facts{Fingerprint: testFP, Institution: "lab", ReceivedAt: at.Add(-time.Nanosecond), Deadline: at.Add(time.Hour)}
	after := receipt.Facts{Fingerprint: testFP, Institution: "lab", ReceivedAt: at, Deadline: at.Add(time.Hour)}
	s := receipt.NewKeyringSigner(ring)
	// One request mixing both periods: each receipt under its own key.
	rs, err := s.Sign(before, after, before)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []receipt.Key{old, cur, old} {
		if rs[i].KeyID != want.ID() {
			t.Fatalf("receipt %d signed by %s, want %s", i, rs[i].KeyID, want.ID())
		}
		if err := receipt.Verify(rs[i], want.Public()); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		other := cur
		if want.ID() == cur.ID() {
			other = old
		}
		if receipt.Verify(rs[i], other.Public()) == nil {
			t.Fatalf("receipt %d verifies under the other key too", i)
		}
	}
	if rs[0].TreeSize != 2 || rs[1].TreeSize != 1 || rs[2].TreeIndex != 1 {
		t.Fatalf("trees: sizes %d %d %d, indexes %d %d %d", rs[0].TreeSize, rs[1].TreeSize, rs[2].TreeSize, rs[0].TreeIndex, rs[1].TreeIndex, rs[2].TreeIndex)
	}
	// A keyring whose first key starts later cannot sign earlier receipts.
	if _, err := s.Sign(receipt.Facts{Fingerprint: testFP, Institution: "lab", ReceivedAt: t0.Add(-time.Second), Deadline: t0}); err == nil || !strings.Contains(err.Error(), "no receipt key is valid") {
		t.Fatalf("signing before the first key: %v", err)
	}
}

// FuzzParseKeyring: ParseKeyring never panics, and what it accepts it
// writes back (Marshal) to a file it reads as the same keys and periods.
func FuzzParseKeyring(f *testing.F) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: seed}))
	f.Add(append(pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: seed, Headers: map[string]string{"Valid-From": "2026-12-07T10:00:00Z"}}),
		pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: bytes.Repeat([]byte{8}, 32), Headers: map[string]string{"Valid-From": "2027-01-01T00:00:00Z"}})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := receipt.ParseKeyring(data)
		if err != nil {
			return
		}
		again, err := receipt.ParseKeyring(r.Marshal())
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		a, b := r.Keys(), again.Keys()
		if len(a) != len(b) {
			t.Fatalf("%d keys, then %d", len(a), len(b))
		}
		for i := range a {
			if !a[i].Private.Equal(b[i].Private) || !a[i].ValidFrom.Equal(b[i].ValidFrom) || !a[i].ValidUntil.Equal(b[i].ValidUntil) {
				t.Fatalf("key %d changed: %+v, then %+v", i, a[i], b[i])
			}
			if i > 0 && !a[i-1].ValidUntil.Equal(a[i].ValidFrom) {
				t.Fatalf("key %d's period does not follow key %d's", i, i-1)
			}
		}
	})
}
