// Package receipt signs and checks attestd's submission receipts: the
// service's signed promise that a fingerprint is durable and will be
// anchored by the deadline, handed to the submitter with the 202.
//
// A receipt states (fingerprint, institution, received time, deadline).
// The receipts of one request are the leaves of a small Merkle tree, and
// the service signs the tree's root and size once with Ed25519 (a signed
// tree head, as in Certificate Transparency). Each receipt carries its
// index and path in that tree, so it verifies on its own, offline, with
// the public key alone: one signature per request instead of one per
// fingerprint, with the same guarantee.
package receipt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/verify"
)

// Version is the receipt format.
const Version = 2

// Domain starts every receipt's statement (a leaf of a receipt tree).
const Domain = "attestd/receipt/v2"

// TreeDomain starts the signed message: a receipt tree's size and root.
const TreeDomain = "attestd/receipt-tree/v2"

// MaxTreeSize bounds the receipts signed together (a request holds at
// most 10,000 fingerprints); a larger claimed size is refused.
const MaxTreeSize = 1 << 20

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid receipt")

// Facts are what one receipt states.
type Facts struct {
	Fingerprint fingerprint.Fingerprint
	Institution string
	ReceivedAt  time.Time
	Deadline    time.Time
}

// Receipt is a signed acknowledgement of one fingerprint.
type Receipt struct {
	Version     int                     `json:"version"`
	Fingerprint fingerprint.Fingerprint `json:"fingerprint"`
	Institution string                  `json:"institution"`
	ReceivedAt  time.Time               `json:"received_at"`
	Deadline    time.Time               `json:"deadline"`
	KeyID       string                  `json:"key_id"`
	TreeSize    uint64                  `json:"tree_size"`  // receipts signed together
	TreeIndex   uint64                  `json:"tree_index"` // this one's leaf index among them
	TreePath    []proof.Hash            `json:"tree_path"`  // its Merkle path (proof format v1)
	Signature   []byte                  `json:"signature"`  // over TreeMessage; base64 in JSON
}

// Facts returns what r states.
func (r Receipt) Facts() Facts {
	return Facts{Fingerprint: r.Fingerprint, Institution: r.Institution, ReceivedAt: r.ReceivedAt, Deadline: r.Deadline}
}

// Statement is the exact byte string a receipt states: the lines
//
//	attestd/receipt/v2
//	<fingerprint hex>
//	<institution>
//	<received_at, Unix nanoseconds, decimal>
//	<deadline, Unix nanoseconds, decimal>
//
// each ending in "\n". Institution names never contain a newline or any
// other control character: they are checked by apikeys.ValidInstitution
// (slugs) and apikeys.ValidDisplayName (display names) wherever they enter
// the service, and Sign refuses them.
func Statement(f Facts) []byte {
	var b bytes.Buffer
	b.Grow(len(Domain) + 64 + len(f.Institution) + 2*20 + 5)
	b.WriteString(Domain + "\n")
	b.WriteString(f.Fingerprint.String() + "\n")
	b.WriteString(f.Institution + "\n")
	b.WriteString(strconv.FormatInt(f.ReceivedAt.UnixNano(), 10) + "\n")
	b.WriteString(strconv.FormatInt(f.Deadline.UnixNano(), 10) + "\n")
	return b.Bytes()
}

// Leaf is the value a receipt contributes to its tree: SHA-256 of its
// Statement. The tree over these values is built exactly like a batch
// tree (docs/proof-format.md): leaf hash SHA-256(0x00 || Leaf), node
// SHA-256(0x01 || left || right).
func Leaf(f Facts) [32]byte { return sha256.Sum256(Statement(f)) }

// TreeMessage is the exact byte string that is signed:
//
//	attestd/receipt-tree/v2
//	<tree size, decimal>
//	<root, 64 lowercase hex>
//
// each line ending in "\n". The size is signed with the root because a
// root alone does not fix the tree's size (docs/proof-format.md).
func TreeMessage(size uint64, root [32]byte) []byte {
	return []byte(TreeDomain + "\n" + strconv.FormatUint(size, 10) + "\n" + hex.EncodeToString(root[:]) + "\n")
}

// KeyID names a public key: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Verify checks r against pub: its statement's path leads to a tree root
// that pub signed with r's tree size.
func Verify(r Receipt, pub ed25519.PublicKey) error {
	if r.Version != Version {
		return fmt.Errorf("%w: version %d (this verifier reads version %d)", ErrInvalid, r.Version, Version)
	}
	// Statement signs Unix nanoseconds, which wrap around every 2^64 ns: a
	// time outside the int64 range would share its statement with another.
	if !nanoExact(r.ReceivedAt) || !nanoExact(r.Deadline) {
		return fmt.Errorf("%w: time outside the signable range (years 1678-2262)", ErrInvalid)
	}
	if r.KeyID != KeyID(pub) {
		return fmt.Errorf("%w: signed by key %q, not %q", ErrInvalid, r.KeyID, KeyID(pub))
	}
	if r.TreeSize > MaxTreeSize {
		return fmt.Errorf("%w: tree size %d above %d", ErrInvalid, r.TreeSize, MaxTreeSize)
	}
	path := make([][32]byte, len(r.TreePath))
	for i, h := range r.TreePath {
		path[i] = h
	}
	root, err := verify.RootFromPath(Leaf(r.Facts()), r.TreeIndex, r.TreeSize, path)
	if err != nil {
		return fmt.Errorf("%w: tree path: %v", ErrInvalid, err)
	}
	if !ed25519.Verify(pub, TreeMessage(r.TreeSize, root), r.Signature) {
		return fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	return nil
}

// nanoExact reports whether t is the instant its Unix nanoseconds name.
func nanoExact(t time.Time) bool { return time.Unix(0, t.UnixNano()).Equal(t) }
