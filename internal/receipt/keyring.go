package receipt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/attestd/attestd/internal/atomicfile"
)

// The receipt key file is a keyring: one or more PEM blocks of type
// "ATTESTD RECEIPT KEY", each holding a 32-byte Ed25519 seed and a
// "Valid-From" header (RFC 3339, UTC, whole seconds):
//
//	-----BEGIN ATTESTD RECEIPT KEY-----
//	Valid-From: 2026-12-07T10:00:00Z
//
//	<base64 seed>
//	-----END ATTESTD RECEIPT KEY-----
//
// Each key signs the receipts *received* in its period, from its
// Valid-From (inclusive) to the next key's (exclusive); the last key's
// period is open-ended. That is what a verifier's trust list states
// (docs/trust-list.md): a receipt is accepted under the issuer's key
// valid at its received time. A rotation is therefore scheduled, not
// rolled out: the new key is appended with a Valid-From in the future,
// every replica re-reads the file (app reloads it) and all switch at the
// same instant, and a resubmission of a fingerprint received before the
// switch is still signed with the key of its own time. Old keys stay in
// the file for that reason.
//
// Only the first block may lack Valid-From (a file written before
// rotation existed): that key's period starts at the beginning of time.
const (
	pemType         = "ATTESTD RECEIPT KEY"
	validFromHeader = "Valid-From"
	// MaxKeys bounds the keys one keyring holds.
	MaxKeys = 64
)

// Key is one receipt signing key and its period.
type Key struct {
	Private    ed25519.PrivateKey
	ValidFrom  time.Time // inclusive; zero: since the beginning of time
	ValidUntil time.Time // exclusive; zero: open-ended (the newest key)
}

// Public is the key receipts verify against.
func (k Key) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// ID is the key's KeyID.
func (k Key) ID() string { return KeyID(k.Public()) }

// ValidAt reports whether receipts received at t are k's to sign.
func (k Key) ValidAt(t time.Time) bool {
	return (k.ValidFrom.IsZero() || !t.Before(k.ValidFrom)) && (k.ValidUntil.IsZero() || t.Before(k.ValidUntil))
}

// Bounds renders k's period for people: RFC 3339 in UTC, or "(always)"
// and "(open-ended)" for an unbounded side.
func (k Key) Bounds() (from, until string) {
	from, until = "(always)", "(open-ended)"
	if !k.ValidFrom.IsZero() {
		from = k.ValidFrom.UTC().Format(time.RFC3339)
	}
	if !k.ValidUntil.IsZero() {
		until = k.ValidUntil.UTC().Format(time.RFC3339)
	}
	return from, until
}

// Keyring is the service's receipt keys in order of their periods, which
// follow each other without gap or overlap.
type Keyring struct {
	keys []Key
}

// NewKeyring returns a keyring of one key valid at all times.
func NewKeyring(key ed25519.PrivateKey) *Keyring {
	return &Keyring{keys: []Key{{Private: key}}}
}

// Keys returns the keys, oldest period first.
func (r *Keyring) Keys() []Key { return append([]Key(nil), r.keys...) }

// At returns the key whose period holds t.
func (r *Keyring) At(t time.Time) (Key, bool) {
	if i := r.index(t); i >= 0 {
		return r.keys[i], true
	}
	return Key{}, false
}

// index is the position of the key whose period holds t, or -1.
func (r *Keyring) index(t time.Time) int {
	for i := len(r.keys) - 1; i >= 0; i-- {
		if r.keys[i].ValidAt(t) {
			return i
		}
	}
	return -1
}

// ParseKeyring reads a keyring file. Anything but a sequence of well-formed
// blocks (see the file format above) with strictly increasing Valid-From
// times and distinct keys is refused, naming the block.
func ParseKeyring(data []byte) (*Keyring, error) {
	r := &Keyring{}
	rest := data
	for n := 1; ; n++ {
		if len(bytes.TrimSpace(rest)) == 0 {
			break
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("key %d: not a PEM block (only %q blocks may be in a receipt key file)", n, pemType)
		}
		if block.Type != pemType || len(block.Bytes) != ed25519.SeedSize {
			return nil, fmt.Errorf("key %d: not a %q PEM block with a %d-byte seed", n, pemType, ed25519.SeedSize)
		}
		k := Key{Private: ed25519.NewKeyFromSeed(block.Bytes)}
		for h, v := range block.Headers {
			if h != validFromHeader {
				return nil, fmt.Errorf("key %d: unknown header %q (only %s)", n, h, validFromHeader)
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil || t.Location() != time.UTC || t.Nanosecond() != 0 || !nanoExact(t) {
				return nil, fmt.Errorf("key %d: %s %q: want an RFC 3339 UTC time in whole seconds, like 2026-12-07T10:00:00Z", n, validFromHeader, v)
			}
			k.ValidFrom = t
		}
		if len(r.keys) == MaxKeys {
			return nil, fmt.Errorf("more than %d keys", MaxKeys)
		}
		if len(r.keys) > 0 {
			prev := &r.keys[len(r.keys)-1]
			if k.ValidFrom.IsZero() {
				return nil, fmt.Errorf("key %d: no %s: only the first key may lack one", n, validFromHeader)
			}
			if !k.ValidFrom.After(prev.ValidFrom) {
				return nil, fmt.Errorf("key %d: %s %s is not after the previous key's (%s)", n, validFromHeader, k.ValidFrom.Format(time.RFC3339), prev.ValidFrom.Format(time.RFC3339))
			}
			for j, o := range r.keys {
				if o.Private.Equal(k.Private) {
					return nil, fmt.Errorf("key %d: the same key as key %d", n, j+1)
				}
			}
			prev.ValidUntil = k.ValidFrom
		}
		r.keys = append(r.keys, k)
	}
	if len(r.keys) == 0 {
		return nil, errors.New("no key")
	}
	return r, nil
}

// Marshal renders r in the file format ParseKeyring reads.
func (r *Keyring) Marshal() []byte {
	var b bytes.Buffer
	for _, k := range r.keys {
		blk := &pem.Block{Type: pemType, Bytes: k.Private.Seed()}
		if !k.ValidFrom.IsZero() {
			blk.Headers = map[string]string{validFromHeader: k.ValidFrom.UTC().Format(time.RFC3339)}
		}
		b.Write(pem.EncodeToMemory(blk))
	}
	return b.Bytes()
}

// LoadKeyring reads and parses the keyring at path.
func LoadKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading receipt keys: %w", err)
	}
	r, err := ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("receipt key file %s: %w", path, err)
	}
	return r, nil
}

// LoadOrCreateKeyring reads the keyring at path, creating the file (0600)
// with one fresh key valid from now (to the second) when it does not
// exist. A malformed file is an error, never replaced. Replicas starting
// at once on a shared path agree on one key: the new file is written under
// a temporary name and linked into place, and whoever loses the race reads
// the winner's.
func LoadOrCreateKeyring(path string, now time.Time) (*Keyring, error) {
	for range 2 {
		r, err := LoadKeyring(path)
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return r, err
		}
		r, err = createKeyring(path, now)
		if err == nil || !errors.Is(err, os.ErrExist) {
			return r, err
		}
	}
	return nil, fmt.Errorf("receipt key %s: created and removed concurrently", path)
}

// createKeyring writes a fresh one-key keyring to a temporary file and
// links it to path; os.ErrExist means another process got there first.
func createKeyring(path string, now time.Time) (*Keyring, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	r := &Keyring{keys: []Key{{Private: key, ValidFrom: now.UTC().Truncate(time.Second)}}}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("creating receipt key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(r.Marshal()); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return nil, err // os.ErrExist when another process linked first
	}
	return r, nil
}

// Rotate appends a fresh key to the keyring file at path, valid from at
// (truncated to the second): from then on it signs the receipts of
// fingerprints received, and the key before it stops at that instant. at
// must be after the newest key's Valid-From and not before now, so that
// no receipt already handed out falls outside its key's period; a caller
// rotating the keys of a running service leaves it time to re-read the
// file (see cmd/attestd's receipt-keys rotate). The file is
// replaced atomically and keeps mode 0600.
func Rotate(path string, at, now time.Time) (Key, error) {
	r, err := LoadKeyring(path)
	if err != nil {
		return Key{}, err
	}
	at = at.UTC().Truncate(time.Second)
	if at.Before(now) {
		return Key{}, fmt.Errorf("the new key would be valid from %s, in the past: receipts already signed then would fall outside their key's period", at.Format(time.RFC3339))
	}
	last := r.keys[len(r.keys)-1]
	if !at.After(last.ValidFrom) {
		return Key{}, fmt.Errorf("the new key must start after the newest key (valid from %s)", last.ValidFrom.Format(time.RFC3339))
	}
	if len(r.keys) == MaxKeys {
		return Key{}, fmt.Errorf("the file holds %d keys already, the most it may", MaxKeys)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	k := Key{Private: priv, ValidFrom: at}
	r.keys[len(r.keys)-1].ValidUntil = at
	r.keys = append(r.keys, k)
	if err := atomicfile.Write(path, r.Marshal(), 0o600); err != nil {
		return Key{}, err
	}
	return k, nil
}
