package receipt

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/proof"
)

// Signer signs receipts, each with the key of its keyring valid at the
// receipt's received time. The keyring can be replaced while signing
// (SetKeyring), so a rotation reaches a running service.
type Signer struct {
	ring atomic.Pointer[Keyring]
}

// NewSigner returns a Signer with one key, valid at all times.
func NewSigner(key ed25519.PrivateKey) *Signer { return NewKeyringSigner(NewKeyring(key)) }

// NewKeyringSigner returns a Signer over r.
func NewKeyringSigner(r *Keyring) *Signer {
	s := &Signer{}
	s.ring.Store(r)
	return s
}

// SetKeyring replaces the keys receipts are signed with from now on.
func (s *Signer) SetKeyring(r *Keyring) { s.ring.Store(r) }

// Keyring returns the keys in use.
func (s *Signer) Keyring() *Keyring { return s.ring.Load() }

// current is the key valid now, or the newest one if none is.
func (s *Signer) current() Key {
	r := s.ring.Load()
	if k, ok := r.At(time.Now()); ok {
		return k
	}
	return r.keys[len(r.keys)-1]
}

// PublicKey is the key that signs the receipts of fingerprints received now.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.current().Public() }

// KeyID is PublicKey's key ID.
func (s *Signer) KeyID() string { return s.current().ID() }

// Sign returns the receipts of facts, in order. The facts are grouped by
// the key valid at their received time, and each group's receipts are the
// leaves of one tree signed once by that key. Times are kept to the
// nanosecond and returned in UTC. Ed25519 is deterministic, so signing the
// same facts again gives the same receipts. facts must hold 1 to
// MaxTreeSize entries, each received within some key's period.
func (s *Signer) Sign(facts ...Facts) ([]Receipt, error) {
	if len(facts) == 0 || len(facts) > MaxTreeSize {
		return nil, fmt.Errorf("receipt: signing %d receipts; want 1 to %d", len(facts), MaxTreeSize)
	}
	ring := s.ring.Load()
	// groups[k] lists the facts the keyring's key k signs; the common case
	// is one group, every fact in the period of one key.
	groups := make([][]int, len(ring.keys))
	for i, f := range facts {
		if !nanoExact(f.ReceivedAt) || !nanoExact(f.Deadline) {
			return nil, fmt.Errorf("receipt: time outside the signable range (years 1678-2262)")
		}
		if strings.ContainsFunc(f.Institution, unicode.IsControl) || !utf8.ValidString(f.Institution) {
			return nil, errors.New("receipt: the institution's name holds a control character or invalid UTF-8 (a statement is one line per field)")
		}
		k := ring.index(f.ReceivedAt)
		if k < 0 {
			return nil, fmt.Errorf("receipt: no receipt key is valid at %s (received time of %s)", f.ReceivedAt.UTC().Format(time.RFC3339Nano), f.Fingerprint)
		}
		groups[k] = append(groups[k], i)
	}
	out := make([]Receipt, len(facts))
	for k, idx := range groups {
		if len(idx) > 0 {
			if err := signGroup(ring.keys[k], facts, idx, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// signGroup signs facts[idx...] as one tree with k into out[idx...].
func signGroup(k Key, facts []Facts, idx []int, out []Receipt) error {
	leaves := make([]fingerprint.Fingerprint, len(idx))
	for j, i := range idx {
		leaves[j] = Leaf(facts[i])
	}
	tree, err := merkle.Build(leaves)
	if err != nil {
		return err
	}
	size := uint64(len(idx))
	sig := ed25519.Sign(k.Private, TreeMessage(size, tree.Root))
	id := k.ID()
	for j, i := range idx {
		path, err := tree.Proof(uint64(j))
		if err != nil {
			return err
		}
		hashes := make([]proof.Hash, len(path))
		for n, h := range path {
			hashes[n] = h
		}
		f := facts[i]
		out[i] = Receipt{
			Version: Version, Fingerprint: f.Fingerprint, Institution: f.Institution,
			ReceivedAt: f.ReceivedAt.UTC(), Deadline: f.Deadline.UTC(), KeyID: id,
			TreeSize: size, TreeIndex: uint64(j), TreePath: hashes, Signature: sig,
		}
	}
	return nil
}
