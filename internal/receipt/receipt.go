// Package receipt signs and checks attestd's submission receipts: an
// Ed25519 signature by the service over (fingerprint, institution, received
// time, deadline), handed to the submitter with the 202. A receipt is the
// service's promise that the fingerprint is durable and will be sealed by
// the deadline.
package receipt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
)

// Version is the receipt format.
const Version = 1

// Domain starts every signed message.
const Domain = "attestd/receipt/v1"

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid receipt")

// Receipt is a signed acknowledgement of one fingerprint.
type Receipt struct {
	Version     int                     `json:"version"`
	Fingerprint fingerprint.Fingerprint `json:"fingerprint"`
	Institution string                  `json:"institution"`
	ReceivedAt  time.Time               `json:"received_at"`
	Deadline    time.Time               `json:"deadline"`
	KeyID       string                  `json:"key_id"`
	Signature   []byte                  `json:"signature"` // base64 in JSON
}

// Message is the exact byte string that is signed: the lines
//
//	attestd/receipt/v1
//	<fingerprint hex>
//	<institution>
//	<received_at, Unix nanoseconds, decimal>
//	<deadline, Unix nanoseconds, decimal>
//
// each ending in "\n". Institution names never contain a newline: they
// are checked by apikeys.ValidInstitution wherever they enter the service.
func Message(fp fingerprint.Fingerprint, institution string, received, deadline time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(Domain + "\n")
	b.WriteString(fp.String() + "\n")
	b.WriteString(institution + "\n")
	b.WriteString(strconv.FormatInt(received.UnixNano(), 10) + "\n")
	b.WriteString(strconv.FormatInt(deadline.UnixNano(), 10) + "\n")
	return b.Bytes()
}

// KeyID names a public key: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Signer signs receipts with one Ed25519 key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner wraps a private key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// PublicKey is the key receipts verify against.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// KeyID is the signer's key ID.
func (s *Signer) KeyID() string { return s.id }

// Sign returns the receipt. Ed25519 is deterministic, so signing the same
// facts again (an idempotent re-submission) gives the same receipt.
func (s *Signer) Sign(fp fingerprint.Fingerprint, institution string, received, deadline time.Time) Receipt {
	received, deadline = received.UTC(), deadline.UTC()
	return Receipt{
		Version: Version, Fingerprint: fp, Institution: institution,
		ReceivedAt: received, Deadline: deadline, KeyID: s.id,
		Signature: ed25519.Sign(s.key, Message(fp, institution, received, deadline)),
	}
}

// Verify checks r's signature against pub.
func Verify(r Receipt, pub ed25519.PublicKey) error {
	if r.Version != Version {
		return fmt.Errorf("%w: version %d", ErrInvalid, r.Version)
	}
	// Message signs Unix nanoseconds, which wrap around every 2^64 ns: a
	// time outside the int64 range would share its message with another.
	if !nanoExact(r.ReceivedAt) || !nanoExact(r.Deadline) {
		return fmt.Errorf("%w: time outside the signable range (years 1678-2262)", ErrInvalid)
	}
	if r.KeyID != KeyID(pub) {
		return fmt.Errorf("%w: signed by key %q, not %q", ErrInvalid, r.KeyID, KeyID(pub))
	}
	if !ed25519.Verify(pub, Message(r.Fingerprint, r.Institution, r.ReceivedAt, r.Deadline), r.Signature) {
		return fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	return nil
}

// nanoExact reports whether t is the instant its Unix nanoseconds name.
func nanoExact(t time.Time) bool { return time.Unix(0, t.UnixNano()).Equal(t) }

const pemType = "ATTESTD RECEIPT KEY"

// LoadOrCreateKey reads an Ed25519 seed from a PEM file, creating the file
// (0600) with a fresh key when it does not exist. A malformed file is an
// error, never replaced. Replicas starting at once on a shared path agree
// on one key: the new key is written to a temporary file and linked into
// place, and whoever loses the race reads the winner's key.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	for range 2 {
		data, err := os.ReadFile(path)
		if err == nil {
			return parseKey(path, data)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading receipt key: %w", err)
		}
		key, err := createKey(path)
		if err == nil || !errors.Is(err, os.ErrExist) {
			return key, err
		}
	}
	return nil, fmt.Errorf("receipt key %s: created and removed concurrently", path)
}

func parseKey(path string, data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemType || len(block.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("receipt key %s: not a %q PEM block with a %d-byte seed", path, pemType, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(block.Bytes), nil
}

// createKey writes a fresh key to a temporary file and links it to path;
// os.ErrExist means another process got there first.
func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("creating receipt key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	out := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: key.Seed()})
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(out); err != nil {
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
	return key, nil
}
