// Package proof defines attestd's wire formats that a third party needs to
// check an attestation: the proof bundle (JSON, format v1) and the on-chain
// anchor payload. It holds data and parsing only — no I/O, no Merkle maths
// (the tree lives in internal/merkle, the independent checker in
// internal/verify). docs/proof-format.md is the prose version.
package proof

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/strictjson"
)

// Version is the proof bundle format this package writes: 2, whose
// anchors carry their chain evidence. It reads version 1 too (anchors
// without evidence), so .attest files written before keep verifying.
const (
	Version   = 2
	VersionV1 = 1
)

// MaxBundleSize bounds a bundle's JSON encoding. A version 1 bundle is a
// few KiB (a path of at most 64 hashes and a handful of anchors); in
// version 2 each anchor's chain evidence adds some 20 KiB at 12
// confirmations (docs/benchmarks.md), a few hundred KiB for a deep
// confirmation depth.
const MaxBundleSize = 4 << 20

// MaxAnchors bounds the anchors one bundle may carry.
const MaxAnchors = 16

// ErrInvalid is wrapped by every parse error of this package.
var ErrInvalid = errors.New("invalid proof")

// Hash is a 32-byte tree hash; its text form is 64 lowercase hex characters.
type Hash [32]byte

// String returns the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) {
	out := make([]byte, 64)
	hex.Encode(out, h[:])
	return out, nil
}

// UnmarshalText accepts exactly 64 lowercase hex characters.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("%w: hash must be 64 hex characters, got %d", ErrInvalid, len(b))
	}
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: hash has a non-lowercase-hex character at position %d", ErrInvalid, i)
		}
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Anchor locates the transaction that carries a batch root on one chain
// and, in version 2, carries its chain evidence.
type Anchor struct {
	ChainID     uint64         `json:"chain_id"`
	TxHash      common.Hash    `json:"tx_hash"`
	BlockNumber uint64         `json:"block_number"`
	BlockHash   common.Hash    `json:"block_hash"`
	Anchorer    common.Address `json:"anchorer"`
	// Evidence is the anchor's chain evidence (version 2), the JSON of an
	// Evidence kept as it came: the service stores it once per batch and
	// chain and writes it into every bundle of the batch unchanged, and
	// Check parses it (ParseEvidence) so a bundle holds only well-formed
	// evidence. Empty when NoEvidence says why.
	Evidence json.RawMessage `json:"evidence,omitempty"`
	// NoEvidence, in version 2, says why an anchor has no Evidence:
	// NoEvidenceUnsupported or NoEvidencePending.
	NoEvidence string `json:"no_evidence,omitempty"`
}

// Why a version 2 anchor has no chain evidence.
const (
	// NoEvidenceUnsupported: the chain's block hashes cannot be reproduced
	// from its headers by the issuer's software, so no standalone evidence
	// is collected on it; the anchor is checked against chain endpoints.
	NoEvidenceUnsupported = "unsupported"
	// NoEvidencePending: the evidence has not been collected yet (the
	// anchor is not confirmed, or collecting it failed and is retried);
	// upgrade the .attest file again later.
	NoEvidencePending = "pending"
)

// ParsedEvidence returns a's chain evidence, parsed; nil when it has none.
func (a *Anchor) ParsedEvidence() (*Evidence, error) {
	if len(a.Evidence) == 0 {
		return nil, nil
	}
	return ParseEvidence(a.Evidence)
}

// Bundle is everything a verifier needs besides the document and a JSON-RPC
// endpoint: the leaf's position, its Merkle path (leaf level first), the
// batch root and size, and where the root was anchored.
type Bundle struct {
	Version     int                     `json:"version"`
	Fingerprint fingerprint.Fingerprint `json:"fingerprint"`
	BatchID     uint64                  `json:"batch_id"`
	Index       uint64                  `json:"index"`
	Size        uint64                  `json:"size"`
	Root        Hash                    `json:"root"`
	Path        []Hash                  `json:"path"`
	Anchors     []Anchor                `json:"anchors"`
}

// PathHashes returns the path as plain arrays.
func (b *Bundle) PathHashes() [][32]byte {
	out := make([][32]byte, len(b.Path))
	for i, h := range b.Path {
		out[i] = h
	}
	return out
}

// Anchor returns the bundle's anchor on chainID, if any.
func (b *Bundle) Anchor(chainID uint64) (Anchor, bool) {
	for _, a := range b.Anchors {
		if a.ChainID == chainID {
			return a, true
		}
	}
	return Anchor{}, false
}

// Parse decodes a bundle strictly: what internal/strictjson refuses
// (duplicate or case-variant member names, unknown fields, trailing data),
// a wrong version, a batch id of 0, a size of 0, an index outside the
// tree, more than 64 path entries or MaxAnchors anchors, or two anchors on
// one chain are errors wrapping ErrInvalid. Parse checks form, not truth: that is
// internal/verify's job.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle is %d bytes, limit %d", ErrInvalid, len(data), MaxBundleSize)
	}
	var b Bundle
	if err := strictjson.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := b.Check(); err != nil {
		return nil, err
	}
	return &b, nil
}

// Check validates the bundle's form (see Parse).
func (b *Bundle) Check() error {
	switch {
	case b.Version != Version && b.Version != VersionV1:
		return fmt.Errorf("%w: unsupported version %d (this verifier reads versions %d and %d)", ErrInvalid, b.Version, VersionV1, Version)
	case b.BatchID == 0:
		return fmt.Errorf("%w: batch_id must be at least 1", ErrInvalid)
	case b.Size == 0:
		return fmt.Errorf("%w: size must be at least 1", ErrInvalid)
	case b.Index >= b.Size:
		return fmt.Errorf("%w: index %d is outside a tree of size %d", ErrInvalid, b.Index, b.Size)
	case len(b.Path) > 64:
		return fmt.Errorf("%w: path has %d entries, at most 64", ErrInvalid, len(b.Path))
	case len(b.Anchors) > MaxAnchors:
		return fmt.Errorf("%w: %d anchors, at most %d", ErrInvalid, len(b.Anchors), MaxAnchors)
	}
	// All-zero values are never real: they are what a null or missing
	// field decodes to.
	if b.Fingerprint.IsZero() || b.Root == (Hash{}) {
		return fmt.Errorf("%w: fingerprint and root must be present (all-zero is not a value)", ErrInvalid)
	}
	for i, h := range b.Path {
		if h == (Hash{}) {
			return fmt.Errorf("%w: path[%d] is missing or all-zero", ErrInvalid, i)
		}
	}
	seen := make(map[uint64]bool, len(b.Anchors))
	for _, a := range b.Anchors {
		if seen[a.ChainID] {
			return fmt.Errorf("%w: two anchors on chain %d", ErrInvalid, a.ChainID)
		}
		seen[a.ChainID] = true
		if a.ChainID == 0 || a.TxHash == (common.Hash{}) || a.BlockHash == (common.Hash{}) || a.Anchorer == (common.Address{}) {
			return fmt.Errorf("%w: anchor on chain %d lacks its chain ID, tx hash, block hash or anchorer", ErrInvalid, a.ChainID)
		}
		switch {
		case b.Version == VersionV1 && (a.Evidence != nil || a.NoEvidence != ""):
			return fmt.Errorf("%w: anchor on chain %d: a version %d bundle carries no chain evidence", ErrInvalid, a.ChainID, VersionV1)
		case b.Version == Version && a.Evidence == nil && a.NoEvidence == "":
			return fmt.Errorf("%w: anchor on chain %d: a version %d anchor carries its chain evidence or says why not (no_evidence)", ErrInvalid, a.ChainID, Version)
		case a.Evidence != nil && a.NoEvidence != "":
			return fmt.Errorf("%w: anchor on chain %d has chain evidence and says it has none (no_evidence)", ErrInvalid, a.ChainID)
		case a.Evidence != nil:
			if _, err := ParseEvidence(a.Evidence); err != nil {
				return fmt.Errorf("anchor on chain %d: %w", a.ChainID, err)
			}
		case a.NoEvidence != "" && a.NoEvidence != NoEvidenceUnsupported && a.NoEvidence != NoEvidencePending:
			return fmt.Errorf("%w: anchor on chain %d: no_evidence %q (want %q or %q)", ErrInvalid, a.ChainID, a.NoEvidence, NoEvidenceUnsupported, NoEvidencePending)
		}
	}
	return nil
}

// On-chain payload: "ATST" | version(1) | batch id(8) | tree size(8) | root(32),
// integers big-endian. It is the whole calldata of the anchor transaction.
const (
	PayloadMagic   = "ATST"
	PayloadVersion = 1
	PayloadSize    = 4 + 1 + 8 + 8 + 32
)

// Payload is what an anchor transaction commits to.
type Payload struct {
	BatchID uint64
	Size    uint64
	Root    [32]byte
}

// Encode returns the calldata for p.
func (p Payload) Encode() []byte {
	out := make([]byte, 0, PayloadSize)
	out = append(out, PayloadMagic...)
	out = append(out, PayloadVersion)
	out = binary.BigEndian.AppendUint64(out, p.BatchID)
	out = binary.BigEndian.AppendUint64(out, p.Size)
	return append(out, p.Root[:]...)
}

// DecodePayload parses calldata; anything but exactly one v1 payload is an
// error wrapping ErrInvalid.
func DecodePayload(data []byte) (Payload, error) {
	if len(data) != PayloadSize {
		return Payload{}, fmt.Errorf("%w: payload is %d bytes, want %d", ErrInvalid, len(data), PayloadSize)
	}
	if string(data[:4]) != PayloadMagic {
		return Payload{}, fmt.Errorf("%w: payload does not start with %q", ErrInvalid, PayloadMagic)
	}
	if data[4] != PayloadVersion {
		return Payload{}, fmt.Errorf("%w: payload version %d, want %d", ErrInvalid, data[4], PayloadVersion)
	}
	var p Payload
	p.BatchID = binary.BigEndian.Uint64(data[5:13])
	p.Size = binary.BigEndian.Uint64(data[13:21])
	copy(p.Root[:], data[21:])
	return p, nil
}
