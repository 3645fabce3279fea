package client

import (
	"fmt"
	"io"

	"github.com/attestd/attestd/internal/fingerprint"
)

// Fingerprint is a document's SHA-256 fingerprint, possibly blinded: what
// is sent to attestd instead of the document. Its String is 64 lowercase
// hex digits; [ParseFingerprint] reads it back.
type Fingerprint = fingerprint.Fingerprint

// Nonce is the 32 random bytes that blind a fingerprint ([Blind]). It
// stays with the document — in its .attest file — and is never sent to
// attestd: anyone holding it can test guesses of a short record against
// its published fingerprint.
type Nonce = fingerprint.Nonce

// Canonicalization names what is done to a document before it is hashed:
// [CanonNone] (its bytes as they are) or [CanonJCS] (a JSON document in
// its RFC 8785 canonical form).
type Canonicalization = fingerprint.Canonicalization

const (
	// CanonNone hashes a document's bytes as they are.
	CanonNone = fingerprint.CanonNone
	// CanonJCS hashes a JSON document's RFC 8785 (JSON Canonicalization
	// Scheme) form, so that whitespace and member order do not change its
	// fingerprint: the same FHIR resource gives the same fingerprint
	// whichever system wrote it out.
	CanonJCS = fingerprint.CanonJCS
)

// MaxJSONSize is the largest JSON document [HashJSON] canonicalizes:
// canonicalization needs the whole document in memory (plain hashing
// streams documents of any size).
const MaxJSONSize = fingerprint.MaxCanonicalSize

// ParseFingerprint reads a fingerprint as a person or a tool gives it: 64
// hex digits in either case, optionally after "sha256:" (what
// PowerShell's Get-FileHash prints is taken as it is).
func ParseFingerprint(s string) (Fingerprint, error) { return fingerprint.Parse(s) }

// Hash returns the SHA-256 fingerprint of everything read from r, reading
// it in pieces (a document of many gigabytes never sits in memory).
func Hash(r io.Reader) (Fingerprint, error) {
	fp, _, err := fingerprint.HashReader(r, nil)
	return fp, err
}

// HashFile returns the SHA-256 fingerprint of the file at path, as [Hash].
func HashFile(path string) (Fingerprint, error) {
	fp, _, err := fingerprint.HashFile(path, nil)
	return fp, err
}

// HashJSON returns the fingerprint of the JSON document read from r in its
// RFC 8785 canonical form ([CanonJCS]). r must hold at most [MaxJSONSize]
// bytes of valid I-JSON: a member given twice, a lone surrogate or
// anything that is not JSON is an error, not a fingerprint.
func HashJSON(r io.Reader) (Fingerprint, error) {
	canonical, err := fingerprint.Canonicalize(r)
	if err != nil {
		return Fingerprint{}, err
	}
	return fingerprint.Sum(canonical), nil
}

// NewNonce returns a fresh random nonce for [Blind].
func NewNonce() (Nonce, error) { return fingerprint.NewNonce() }

// Blind returns the blinded fingerprint of a document whose plain
// fingerprint is docHash: SHA-256("attestd/blind/v1" || nonce ||
// docHash). Blind a record whenever its content could be guessed (a
// one-line lab result): its published fingerprint then says nothing to
// anyone without the nonce. Use a fresh nonce for each document, and keep
// it with the document ([NewAttest] does both).
func Blind(nonce Nonce, docHash Fingerprint) Fingerprint { return fingerprint.Blind(nonce, docHash) }

// hashAs fingerprints the document read from r as canon and nonce say
// (the recipe a .attest file records).
func hashAs(r io.Reader, canon Canonicalization, nonce *Nonce) (Fingerprint, error) {
	var h Fingerprint
	var err error
	switch canon {
	case "", CanonNone:
		h, err = Hash(r)
	case CanonJCS:
		h, err = HashJSON(r)
	default:
		return Fingerprint{}, fmt.Errorf("unknown canonicalization %q", canon)
	}
	if err != nil {
		return Fingerprint{}, err
	}
	if nonce != nil {
		return Blind(*nonce, h), nil
	}
	return h, nil
}

// hashFileAs is hashAs of the file at path; errors name it.
func hashFileAs(path string, canon Canonicalization, nonce *Nonce) (Fingerprint, error) {
	fp, _, err := fingerprint.HashDocument(path, canon, nonce, nil)
	return fp, err
}
