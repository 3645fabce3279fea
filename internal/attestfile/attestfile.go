// Package attestfile reads and writes the FILE.attest sidecar: the JSON
// file that travels with a document across the border. It holds what a
// holder needs to prove the document — the blinding nonce, the
// canonicalisation, the signed receipt and, once anchored, the proof
// bundle — and nothing of the document itself.
package attestfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/strictjson"
)

// Version is the sidecar format.
const Version = 1

// Ext is the sidecar's file name extension.
const Ext = ".attest"

// MaxSize bounds a sidecar's size: a proof bundle (with its chain
// evidence) and room for the rest.
const MaxSize = proof.MaxBundleSize + 256<<10

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid .attest file")

// Blinding records how the document hash was blinded.
type Blinding struct {
	Scheme string            `json:"scheme"` // fingerprint.BlindDomain
	Nonce  fingerprint.Nonce `json:"nonce"`
}

// File is the sidecar.
type File struct {
	Version          int                          `json:"version"`
	Document         string                       `json:"document,omitempty"` // base name, informational only
	Fingerprint      fingerprint.Fingerprint      `json:"fingerprint"`
	Canonicalization fingerprint.Canonicalization `json:"canonicalization"`
	Blinding         *Blinding                    `json:"blinding,omitempty"`
	Server           string                       `json:"server,omitempty"`
	Receipt          *receipt.Receipt             `json:"receipt,omitempty"`
	Proof            *proof.Bundle                `json:"proof,omitempty"`
}

// PathFor is the sidecar path of a document.
func PathFor(doc string) string { return doc + Ext }

// Parse decodes a sidecar strictly (what internal/strictjson refuses —
// duplicate or case-variant member names, unknown fields, trailing data —
// is an error, in the receipt and proof inside it too) and checks that its
// parts agree with each other.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalid, len(data), MaxSize)
	}
	var f File
	if err := strictjson.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case f.Version != Version:
		return nil, fmt.Errorf("%w: unsupported version %d", ErrInvalid, f.Version)
	case f.Fingerprint.IsZero():
		return nil, fmt.Errorf("%w: no fingerprint", ErrInvalid)
	case f.Canonicalization != fingerprint.CanonNone && f.Canonicalization != fingerprint.CanonJCS:
		return nil, fmt.Errorf("%w: unknown canonicalization %q", ErrInvalid, f.Canonicalization)
	case f.Blinding != nil && f.Blinding.Scheme != fingerprint.BlindDomain:
		return nil, fmt.Errorf("%w: unknown blinding scheme %q", ErrInvalid, f.Blinding.Scheme)
	case f.Receipt != nil && f.Receipt.Fingerprint != f.Fingerprint:
		return nil, fmt.Errorf("%w: the receipt is for another fingerprint", ErrInvalid)
	case f.Proof != nil && f.Proof.Fingerprint != f.Fingerprint:
		return nil, fmt.Errorf("%w: the proof is for another fingerprint", ErrInvalid)
	}
	if f.Proof != nil {
		if err := f.Proof.Check(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return &f, nil
}

// Read parses the sidecar at path.
func Read(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Nonce returns the blinding nonce, or nil for an unblinded fingerprint.
func (f *File) Nonce() *fingerprint.Nonce {
	if f.Blinding == nil {
		return nil
	}
	return &f.Blinding.Nonce
}

// DefaultMode is the permission of a new sidecar: it holds the blinding
// nonce, which would let anyone who reads it confirm a guess about a short
// record from its published fingerprint, so only its owner may read it
// unless told otherwise.
const DefaultMode os.FileMode = 0o600

// Write stores f at path atomically (temporary file, fsync, rename), so a
// crash never leaves half a sidecar — the nonce in it is irreplaceable.
// A new file gets mode perm (DefaultMode when 0); a file that exists keeps
// its permission bits, so a holder's own chmod survives an upgrade.
func Write(path string, f *File, perm os.FileMode) error {
	data, perm, err := encode(path, f, perm)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, perm)
}

// WriteBatch is Write within b: atomic, but durable only once b.Sync
// returns (many sidecars at the cost of one flush).
func WriteBatch(b *atomicfile.Batch, path string, f *File, perm os.FileMode) error {
	data, perm, err := encode(path, f, perm)
	if err != nil {
		return err
	}
	return b.Write(path, data, perm)
}

// encode is f's file content and the mode Write gives it at path.
func encode(path string, f *File, perm os.FileMode) ([]byte, os.FileMode, error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, 0, err
	}
	if perm == 0 {
		perm = DefaultMode
	}
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	return append(data, '\n'), perm, nil
}
