package receipt_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
)

// testKey is a fixed key, so the test is reproducible.
func testKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("attestd receipt test key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

var (
	testFP       = fingerprint.Sum([]byte("lab result 42"))
	testReceived = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	testDeadline = testReceived.Add(10 * time.Minute)
)

func TestMessageLayout(t *testing.T) {
	received := time.Unix(1700000000, 123456789)
	deadline := time.Unix(1700000600, 0)
	fp := fingerprint.Fingerprint{0: 0xab, 31: 0x01}
	want := "attestd/receipt/v1\n" +
		"ab00000000000000000000000000000000000000000000000000000000000001\n" +
		"Hôpital Saint-Louis\n" +
		"1700000000123456789\n" +
		"1700000600000000000\n"
	if got := string(receipt.Message(fp, "Hôpital Saint-Louis", received, deadline)); got != want {
		t.Fatalf("Message =\n%q\nwant\n%q", got, want)
	}
	// The time zone of the arguments does not matter, only the instant;
	// times before 1970 are negative.
	paris := time.FixedZone("CET", 3600)
	got := receipt.Message(fp, "x", received.In(paris), time.Unix(-1, 0).In(paris))
	want = "attestd/receipt/v1\nab00000000000000000000000000000000000000000000000000000000000001\nx\n1700000000123456789\n-1000000000\n"
	if string(got) != want {
		t.Fatalf("Message =\n%q\nwant\n%q", got, want)
	}
}

func TestKeyID(t *testing.T) {
	pub := testKey().Public().(ed25519.PublicKey)
	h := sha256.Sum256(pub)
	if got, want := receipt.KeyID(pub), hex.EncodeToString(h[:8]); got != want || len(got) != 16 {
		t.Fatalf("KeyID = %q, want %q", got, want)
	}
	s := receipt.NewSigner(testKey())
	if s.KeyID() != receipt.KeyID(pub) || !s.PublicKey().Equal(pub) {
		t.Fatalf("signer key %q %x, want %q %x", s.KeyID(), s.PublicKey(), receipt.KeyID(pub), pub)
	}
}

func TestSignVerify(t *testing.T) {
	s := receipt.NewSigner(testKey())
	r := s.Sign(testFP, "lab", testReceived.In(time.FixedZone("X", -7200)), testDeadline)
	if err := receipt.Verify(r, s.PublicKey()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.Version != receipt.Version || r.Fingerprint != testFP || r.Institution != "lab" || r.KeyID != s.KeyID() {
		t.Fatalf("receipt %+v", r)
	}
	if !r.ReceivedAt.Equal(testReceived) || r.ReceivedAt.Location() != time.UTC || !r.Deadline.Equal(testDeadline) {
		t.Fatalf("times %v %v, want %v %v in UTC", r.ReceivedAt, r.Deadline, testReceived, testDeadline)
	}
	// The signature is an Ed25519 signature of the documented message.
	if !ed25519.Verify(s.PublicKey(), receipt.Message(testFP, "lab", testReceived, testDeadline), r.Signature) {
		t.Fatal("signature does not verify over Message")
	}
	// Deterministic: the same facts give the same receipt, byte for byte.
	again := s.Sign(testFP, "lab", testReceived, testDeadline)
	if !reflect.DeepEqual(again, r) {
		t.Fatalf("re-signing gave\n%+v\nwant\n%+v", again, r)
	}
	// Through JSON and back (nanoseconds and all) it still verifies.
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back receipt.Receipt
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(back, s.PublicKey()); err != nil {
		t.Fatalf("Verify after JSON round trip (%s): %v", data, err)
	}
}

// TestVerifyRejectsMangled: every change of a signed fact, of the
// signature, of the key ID or of the version is rejected.
func TestVerifyRejectsMangled(t *testing.T) {
	s := receipt.NewSigner(testKey())
	pub := s.PublicKey()
	good := s.Sign(testFP, "Clinique du Parc", testReceived, testDeadline)
	reject := func(t *testing.T, what string, r receipt.Receipt) {
		t.Helper()
		if err := receipt.Verify(r, pub); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("%s: Verify = %v, want ErrInvalid", what, err)
		}
	}

	t.Run("signature", func(t *testing.T) {
		for i := range good.Signature {
			for d := 1; d < 256; d++ {
				r := good
				r.Signature = bytes.Clone(good.Signature)
				r.Signature[i] ^= byte(d)
				if receipt.Verify(r, pub) == nil {
					t.Fatalf("signature byte %d xor %#02x accepted", i, d)
				}
			}
		}
		for _, sig := range [][]byte{nil, {}, good.Signature[:63], append(bytes.Clone(good.Signature), 0), make([]byte, 64)} {
			r := good
			r.Signature = sig
			reject(t, "signature of "+hex.EncodeToString(sig), r)
		}
	})
	t.Run("fingerprint", func(t *testing.T) {
		for i := range good.Fingerprint {
			for _, d := range []byte{0x01, 0x80, 0xff} {
				r := good
				r.Fingerprint[i] ^= d
				reject(t, "fingerprint", r)
			}
		}
	})
	t.Run("institution", func(t *testing.T) {
		for _, inst := range []string{"", "Clinique du parc", "Clinique du Parc ", " Clinique du Parc", "Clinique du Parc\n", "Clinique", "Clinique du Parc2"} {
			r := good
			r.Institution = inst
			reject(t, "institution "+inst, r)
		}
	})
	t.Run("times", func(t *testing.T) {
		for _, d := range []time.Duration{1, -1, time.Microsecond, time.Second, -time.Hour} {
			r := good
			r.ReceivedAt = good.ReceivedAt.Add(d)
			reject(t, "received_at "+d.String(), r)
			r = good
			r.Deadline = good.Deadline.Add(d)
			reject(t, "deadline "+d.String(), r)
		}
		r := good
		r.ReceivedAt, r.Deadline = good.Deadline, good.ReceivedAt
		reject(t, "swapped times", r)
	})
	t.Run("key id", func(t *testing.T) {
		for _, id := range []string{"", good.KeyID[:15], good.KeyID + "0", "0000000000000000", receipt.KeyID(make(ed25519.PublicKey, 32))} {
			r := good
			r.KeyID = id
			reject(t, "key_id "+id, r)
		}
	})
	t.Run("version", func(t *testing.T) {
		for _, v := range []int{0, 2, -1, math.MaxInt} {
			r := good
			r.Version = v
			reject(t, "version", r)
		}
	})
	t.Run("wrong public key", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(nil)
		if err := receipt.Verify(good, other.Public().(ed25519.PublicKey)); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("Verify with another key: %v", err)
		}
		// Even a receipt claiming the other key's ID does not verify with it.
		r := good
		r.KeyID = receipt.KeyID(other.Public().(ed25519.PublicKey))
		if err := receipt.Verify(r, other.Public().(ed25519.PublicKey)); !errors.Is(err, receipt.ErrInvalid) {
			t.Fatalf("Verify with another key and its ID: %v", err)
		}
	})
	t.Run("unrepresentable times", func(t *testing.T) {
		// Unix nanoseconds wrap around every 2^64 ns (about 584 years): a
		// received time moved by exactly that much gives the same Message.
		// Verify must not accept it as the same receipt.
		wrap := func(t0 time.Time) time.Time { return t0.Add(math.MaxInt64).Add(math.MaxInt64).Add(2) }
		r := good
		r.ReceivedAt = wrap(good.ReceivedAt)
		if r.ReceivedAt.Equal(good.ReceivedAt) {
			t.Fatal("test bug: the wrapped time is the same instant")
		}
		reject(t, "received_at + 2^64 ns", r)
		r = good
		r.Deadline = wrap(good.Deadline)
		reject(t, "deadline + 2^64 ns", r)
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipt.pem")
	key, err := receipt.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
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
	if block == nil || block.Type != "ATTESTD RECEIPT KEY" || !bytes.Equal(block.Bytes, key.Seed()) || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("key file is not one PEM block with the seed:\n%s", data)
	}
	again, err := receipt.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Equal(key) {
		t.Fatal("reloading gave another key")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("reloading rewrote the key file")
	}
	// A receipt signed before the "restart" verifies with the reloaded key.
	r := receipt.NewSigner(key).Sign(testFP, "lab", testReceived, testDeadline)
	if err := receipt.Verify(r, again.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	// Two fresh files get two different keys.
	other, err := receipt.LoadOrCreateKey(filepath.Join(dir, "other.pem"))
	if err != nil || other.Equal(key) {
		t.Fatalf("second key: equal %v, %v", other.Equal(key), err)
	}
}

func TestLoadOrCreateKeyMalformed(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"garbage", []byte("not a key\n")},
		{"raw seed", seed},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: seed})},
		{"short seed", pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: seed[:31]})},
		{"long seed", pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: append(bytes.Clone(seed), 0)})},
		{"truncated PEM", pem.EncodeToMemory(&pem.Block{Type: "ATTESTD RECEIPT KEY", Bytes: seed})[:40]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "receipt.pem")
			if err := os.WriteFile(path, tc.data, 0o640); err != nil {
				t.Fatal(err)
			}
			if key, err := receipt.LoadOrCreateKey(path); err == nil {
				t.Fatalf("LoadOrCreateKey accepted it: key %x", key.Public())
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
		if _, err := receipt.LoadOrCreateKey(dir); err == nil {
			t.Fatal("a directory was accepted as a key file")
		}
		if _, err := receipt.LoadOrCreateKey(filepath.Join(dir, "missing", "key.pem")); err == nil {
			t.Fatal("a key in a missing directory was created")
		}
	})
}

// TestLoadOrCreateKeyConcurrent: processes starting at once on one path
// all end up with the same key, and none fails.
func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("key%d.pem", round))
		keys := make([]ed25519.PrivateKey, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() { keys[i], errs[i] = receipt.LoadOrCreateKey(path) })
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil || !keys[i].Equal(keys[0]) {
				t.Fatalf("round %d, caller %d: %v (same key: %v)", round, i, errs[i], errs[i] == nil && keys[i].Equal(keys[0]))
			}
		}
	}
}
