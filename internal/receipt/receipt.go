// Package receipt signs and checks attestd's submission receipts: the
// service's signed promise that a fingerprint is durable and will be
// anchored by the deadline, handed to the submitter with the 202.
//
// A receipt states (fingerprint, institution, received time, deadline)
// and a random salt. Receipts are the leaves of a Merkle tree, and the
// service signs the tree's root and size once with Ed25519 (a signed tree
// head, as in Certificate Transparency). Each receipt carries its index
// and path in that tree, so it verifies on its own, offline, with the
// public key alone. The receipts of a large request make one tree; small
// requests arriving together share one (Signer.Sign), so a busy service
// signs once for many requests, not once per request. The salt makes a
// receipt's path say nothing about the other leaves: they may be other
// institutions' receipts.
package receipt

import (
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

// Version is the receipt format this package signs: 3, salted
// statements. Verify also reads version 2 (no salt; one request per
// tree), which attestd issued before.
const (
	Version   = 3
	VersionV2 = 2
)

// Domain starts every receipt's statement (a leaf of a receipt tree), and
// DomainV2 a version 2 statement.
const (
	Domain   = "attestd/receipt/v3"
	DomainV2 = "attestd/receipt/v2"
)

// TreeDomain starts the signed message, a receipt tree's size and root
// (TreeDomainV2 in version 2).
const (
	TreeDomain   = "attestd/receipt-tree/v3"
	TreeDomainV2 = "attestd/receipt-tree/v2"
)

// SaltSize is the length of a receipt's salt, in bytes.
const SaltSize = 16

// Salt is a receipt's random salt: in JSON, 32 lowercase hex digits.
type Salt [SaltSize]byte

// IsZero reports whether s is all zero: a version 2 receipt's (no salt).
func (s Salt) IsZero() bool { return s == Salt{} }

// MarshalText writes s as lowercase hex.
func (s Salt) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, s[:]), nil }

// UnmarshalText reads exactly 2*SaltSize lowercase hex digits: a salt is
// hashed as its text, so only one spelling of it is accepted.
func (s *Salt) UnmarshalText(b []byte) error {
	if len(b) != 2*SaltSize {
		return fmt.Errorf("salt: %d characters, want %d hex digits", len(b), 2*SaltSize)
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return errors.New("salt: not lowercase hex")
		}
	}
	_, err := hex.Decode(s[:], b)
	return err
}

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
	Salt        Salt                    `json:"salt,omitzero"` // version 3; absent in version 2
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
//	attestd/receipt/v3
//	<salt, 32 lowercase hex>
//	<fingerprint hex>
//	<institution>
//	<received_at, Unix nanoseconds, decimal>
//	<deadline, Unix nanoseconds, decimal>
//
// each ending in "\n". Institution names never contain a newline or any
// other control character: they are checked by apikeys.ValidInstitution
// (slugs) and apikeys.ValidDisplayName (display names) wherever they enter
// the service, and Sign refuses them.
func Statement(f Facts, salt Salt) []byte { return appendStatement(nil, f, salt) }

// appendStatement appends Statement(f, salt) to dst.
func appendStatement(dst []byte, f Facts, salt Salt) []byte {
	dst = append(dst, Domain+"\n"...)
	dst = hex.AppendEncode(dst, salt[:])
	dst = append(dst, '\n')
	return appendFacts(dst, f)
}

// appendFacts appends the lines a statement of either version ends with.
func appendFacts(dst []byte, f Facts) []byte {
	dst = hex.AppendEncode(dst, f.Fingerprint[:])
	dst = append(dst, '\n')
	dst = append(dst, f.Institution...)
	dst = append(dst, '\n')
	dst = strconv.AppendInt(dst, f.ReceivedAt.UnixNano(), 10)
	dst = append(dst, '\n')
	dst = strconv.AppendInt(dst, f.Deadline.UnixNano(), 10)
	return append(dst, '\n')
}

// StatementV2 is a version 2 receipt's statement: Statement without the
// salt line, starting with DomainV2.
func StatementV2(f Facts) []byte { return appendFacts([]byte(DomainV2+"\n"), f) }

// Leaf is the value a receipt contributes to its tree: SHA-256 of its
// Statement. The tree over these values is built exactly like a batch
// tree (docs/proof-format.md): leaf hash SHA-256(0x00 || Leaf), node
// SHA-256(0x01 || left || right).
func Leaf(f Facts, salt Salt) [32]byte { return sha256.Sum256(Statement(f, salt)) }

// TreeMessage is the exact byte string that is signed:
//
//	attestd/receipt-tree/v3
//	<tree size, decimal>
//	<root, 64 lowercase hex>
//
// each line ending in "\n". The size is signed with the root because a
// root alone does not fix the tree's size (docs/proof-format.md).
func TreeMessage(size uint64, root [32]byte) []byte { return treeMessage(TreeDomain, size, root) }

// TreeMessageV2 is TreeMessage of version 2 (TreeDomainV2).
func TreeMessageV2(size uint64, root [32]byte) []byte { return treeMessage(TreeDomainV2, size, root) }

func treeMessage(domain string, size uint64, root [32]byte) []byte {
	b := make([]byte, 0, len(domain)+1+20+1+64+1)
	b = append(b, domain...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, size, 10)
	b = append(b, '\n')
	b = hex.AppendEncode(b, root[:])
	return append(b, '\n')
}

// KeyID names a public key: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Verify checks r against pub: its statement's path leads to a tree root
// that pub signed with r's tree size.
func Verify(r Receipt, pub ed25519.PublicKey) error {
	var leaf [32]byte
	message := TreeMessage
	switch r.Version {
	case Version:
		if r.Salt.IsZero() {
			return fmt.Errorf("%w: version %d without a salt", ErrInvalid, r.Version)
		}
		leaf = Leaf(r.Facts(), r.Salt)
	case VersionV2:
		if !r.Salt.IsZero() {
			return fmt.Errorf("%w: version %d with a salt", ErrInvalid, r.Version)
		}
		leaf, message = sha256.Sum256(StatementV2(r.Facts())), TreeMessageV2
	default:
		return fmt.Errorf("%w: version %d (this verifier reads versions %d and %d)", ErrInvalid, r.Version, VersionV2, Version)
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
	root, err := verify.RootFromPath(leaf, r.TreeIndex, r.TreeSize, path)
	if err != nil {
		return fmt.Errorf("%w: tree path: %v", ErrInvalid, err)
	}
	if !ed25519.Verify(pub, message(r.TreeSize, root), r.Signature) {
		return fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	return nil
}

// nanoExact reports whether t is the instant its Unix nanoseconds name.
func nanoExact(t time.Time) bool { return time.Unix(0, t.UnixNano()).Equal(t) }
