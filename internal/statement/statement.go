// Package statement is attestd's record-status statements and the status
// file that lists them (docs/statements.md is the prose version, with the
// exact bytes).
//
// A statement says that a record an institution had attested is superseded
// by a corrected version, or withdrawn. It is a small JSON object in its
// RFC 8785 canonical form, naming the fingerprint it is about (the
// subject), a random nonce and, for a supersede, the fingerprint of the new
// version or, for a withdrawal, the reason; never the institution. Its own
// fingerprint (Fingerprint: SHA-256 of a domain and the canonical bytes) is
// submitted, batched and anchored like any other, so a statement has a
// signed receipt and a proof of its own.
//
// A status file (status.go) is the list of an issuer's statements at one
// instant, signed with its receipt key, for verifiers without a network.
//
// The package holds data and parsing only: no I/O, no chain. Parsers are
// strict (internal/strictjson): duplicate or case-variant members, unknown
// fields, trailing data, and a statement not in its canonical form are
// refused, so one statement has exactly one byte form and one fingerprint.
package statement

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/strictjson"
)

// Version is the statement format.
const Version = 1

// Domain starts the bytes a statement's fingerprint is the SHA-256 of:
// Domain, a newline (0x0a), then the canonical statement.
const Domain = "attestd/statement/v1"

// MaxSize bounds a statement's canonical form (about 250 bytes).
const MaxSize = 1 << 10

// ErrInvalid is wrapped by every refusal of this package.
var ErrInvalid = errors.New("invalid statement")

// Type is what a statement says of its subject.
type Type string

const (
	// Supersede: the subject is replaced by a corrected version, the
	// statement's Replacement.
	Supersede Type = "supersede"
	// Withdraw: the subject is withdrawn, for the statement's Reason.
	Withdraw Type = "withdraw"
)

// Reason is why a record was withdrawn.
type Reason string

// The reasons a withdrawal may give.
const (
	EnteredInError Reason = "entered-in-error"
	Superseded     Reason = "superseded"
	Other          Reason = "other"
)

// Reasons lists the reasons a withdrawal may give, in the order help texts
// show them.
var Reasons = []Reason{EnteredInError, Superseded, Other}

// ParseReason returns the reason named s, exactly as written above.
func ParseReason(s string) (Reason, error) {
	for _, r := range Reasons {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("%w: reason %q: want entered-in-error, superseded or other", ErrInvalid, clip(s))
}

// Statement is one record-status statement.
type Statement struct {
	Version int                     `json:"version"`
	Type    Type                    `json:"type"`
	Subject fingerprint.Fingerprint `json:"subject"`
	// Replacement is the corrected version's fingerprint (Supersede only).
	Replacement *fingerprint.Fingerprint `json:"replacement,omitempty"`
	// Reason is why the subject is withdrawn (Withdraw only).
	Reason Reason `json:"reason,omitempty"`
	// Nonce makes every statement unpredictable, so that nobody can have
	// its fingerprint anchored before its institution makes it (which
	// would date it earlier than it was made).
	Nonce fingerprint.Nonce `json:"nonce"`
}

// Check reports whether s is a well-formed statement.
func (s Statement) Check() error {
	switch {
	case s.Version != Version:
		return fmt.Errorf("%w: version %d (this reader reads version %d)", ErrInvalid, s.Version, Version)
	case s.Subject.IsZero():
		return fmt.Errorf("%w: no subject", ErrInvalid)
	case s.Nonce == fingerprint.Nonce{}:
		return fmt.Errorf("%w: the nonce is all zeros", ErrInvalid)
	}
	switch s.Type {
	case Supersede:
		switch {
		case s.Replacement == nil || s.Replacement.IsZero():
			return fmt.Errorf("%w: a supersede names the replacement", ErrInvalid)
		case *s.Replacement == s.Subject:
			return fmt.Errorf("%w: a record cannot supersede itself", ErrInvalid)
		case s.Reason != "":
			return fmt.Errorf("%w: a supersede has no reason (a withdrawal has)", ErrInvalid)
		}
	case Withdraw:
		if s.Replacement != nil {
			return fmt.Errorf("%w: a withdrawal names no replacement (a supersede does)", ErrInvalid)
		}
		if _, err := ParseReason(string(s.Reason)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: type %q: want supersede or withdraw", ErrInvalid, clip(string(s.Type)))
	}
	return nil
}

// Encode returns the canonical form of s (RFC 8785: members sorted, no
// white space), the bytes its fingerprint is made of.
func (s Statement) Encode() ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return fingerprint.Canonicalize(bytes.NewReader(b))
}

// Parse reads a statement from its canonical form: strictly (see the
// package doc), well-formed (Check), and byte for byte the form Encode
// gives, so that the text has no second spelling with another fingerprint.
func Parse(text []byte) (Statement, error) {
	var s Statement
	if len(text) > MaxSize {
		return s, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(text), MaxSize)
	}
	if err := strictjson.Unmarshal(text, &s); err != nil {
		return Statement{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := s.Check(); err != nil {
		return Statement{}, err
	}
	canon, err := s.Encode()
	if err != nil {
		return Statement{}, err
	}
	if !bytes.Equal(canon, text) {
		return Statement{}, fmt.Errorf("%w: not in canonical form (RFC 8785: members sorted, no white space): want %s", ErrInvalid, canon)
	}
	return s, nil
}

// Fingerprint is the fingerprint a statement is submitted and anchored
// under: SHA-256(Domain || 0x0a || text), text its canonical form.
func Fingerprint(text []byte) fingerprint.Fingerprint {
	h := sha256.New()
	h.Write([]byte(Domain + "\n"))
	h.Write(text)
	return fingerprint.Fingerprint(h.Sum(nil))
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
