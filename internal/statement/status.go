package statement

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/strictjson"
)

// A status file is an issuer's statements as of one instant, signed with
// the issuer's receipt key valid then (the key its trust list entry holds
// for that time), so a verifier can learn offline whether a record was
// corrected or withdrawn. docs/statements.md gives the exact bytes.

// StatusVersion is the status file format.
const StatusVersion = 1

// StatusDomain starts the signed message (StatusFile.Message).
const StatusDomain = "attestd/status/v1"

// Bounds on a status file: its size, and the statements it lists.
const (
	MaxStatusSize       = 64 << 20
	MaxStatusStatements = 100_000
)

// DefaultMaxAge is how old a status file a verifier accepts by default
// (verify --status-max-age): a withdrawal made after the file was issued
// is not in it, so an old file may say "current" of a withdrawn record.
// A week, as certificate revocation lists are commonly reissued.
const DefaultMaxAge = 7 * 24 * time.Hour

// ClockSkew is how far in the future a status file may be dated and still
// be accepted (the issuer's clock and the verifier's differ a little).
const ClockSkew = 5 * time.Minute

// Errors of CheckAge; both wrap ErrInvalid.
var (
	ErrStale  = errors.New("the status file is too old")
	ErrFuture = errors.New("the status file is dated in the future")
)

// Instant is a time written in RFC 3339 in UTC with the fewest fractional
// digits that keep its nanoseconds (time.RFC3339Nano), and read back only
// in exactly that spelling: one instant, one text. (Time is a named field,
// not embedded: time.Time's own JSON methods, which accept other
// spellings, must not be promoted.)
type Instant struct{ Time time.Time }

// MarshalText implements encoding.TextMarshaler.
func (t Instant) MarshalText() ([]byte, error) {
	return []byte(t.Time.UTC().Format(time.RFC3339Nano)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Instant) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil || v.UTC().Format(time.RFC3339Nano) != string(b) || !nanoExact(v) {
		return fmt.Errorf("%w: time %q: want RFC 3339 in UTC, like 2026-12-08T10:00:00.5Z", ErrInvalid, clip(string(b)))
	}
	t.Time = v.UTC()
	return nil
}

// Entry is one statement in a status file.
type Entry struct {
	// Fingerprint is the statement's (Fingerprint of Statement).
	Fingerprint fingerprint.Fingerprint `json:"fingerprint"`
	// Statement is its canonical form, as a JSON string.
	Statement string `json:"statement"`
	// AttestedAt is when the statement was attested: the block time of its
	// anchor on the issuer's chains, once its batch is confirmed on all of
	// them; absent while it is not (yet), when a verifier cannot rely on it.
	AttestedAt *Instant `json:"attested_at,omitempty"`
}

// StatusFile is a signed list of an issuer's statements.
type StatusFile struct {
	Version    int     `json:"version"`
	IssuedAt   Instant `json:"issued_at"`
	Statements []Entry `json:"statements"`
	// KeyID names the signing key as receipts do: the first 8 bytes of
	// the SHA-256 of the Ed25519 public key, 16 lowercase hex.
	KeyID string `json:"key_id"`
	// Signature is the Ed25519 signature of Message, standard base64 with
	// padding.
	Signature string `json:"signature"`
}

// Message is the exact byte string the signature is over:
//
//	attestd/status/v1
//	<issued_at, Unix nanoseconds, decimal>
//	<number of statements, decimal>
//	<statement fingerprint, 64 lowercase hex> <attested_at, Unix nanoseconds, or "pending">
//	… one such line per statement, in the file's order
//
// each line ending in "\n". A statement's text is bound by its
// fingerprint, which is a hash of it.
func (f *StatusFile) Message() []byte {
	var b bytes.Buffer
	b.Grow(len(StatusDomain) + 48 + len(f.Statements)*86)
	b.WriteString(StatusDomain + "\n")
	b.WriteString(strconv.FormatInt(f.IssuedAt.Time.UnixNano(), 10) + "\n")
	b.WriteString(strconv.Itoa(len(f.Statements)) + "\n")
	for _, e := range f.Statements {
		b.WriteString(e.Fingerprint.String() + " ")
		if e.AttestedAt == nil {
			b.WriteString("pending\n")
		} else {
			b.WriteString(strconv.FormatInt(e.AttestedAt.Time.UnixNano(), 10) + "\n")
		}
	}
	return b.Bytes()
}

// KeyID names an Ed25519 public key: the first 8 bytes of its SHA-256, as
// 16 lowercase hex (the key id receipts carry).
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Sign returns the status file of entries as of issuedAt, signed with
// priv. Each entry's statement must parse and its fingerprint match.
func Sign(issuedAt time.Time, entries []Entry, priv ed25519.PrivateKey) (*StatusFile, error) {
	f := &StatusFile{Version: StatusVersion, IssuedAt: Instant{issuedAt.UTC()}, Statements: entries, KeyID: KeyID(priv.Public().(ed25519.PublicKey))}
	if f.Statements == nil {
		f.Statements = []Entry{}
	}
	if err := f.checkBody(); err != nil {
		return nil, err
	}
	f.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, f.Message()))
	return f, nil
}

// Marshal renders f as compact JSON, the form the service serves: every
// byte of it is significant.
func (f *StatusFile) Marshal() ([]byte, error) { return json.Marshal(f) }

// ParseStatusFile reads a status file strictly and checks its form: the
// version, each statement well-formed with the fingerprint it is listed
// under, no statement twice, a key id and a signature of the right form. It does not check the signature (Verify)
// nor the date (CheckAge).
func ParseStatusFile(data []byte) (*StatusFile, error) {
	if len(data) > MaxStatusSize {
		return nil, fmt.Errorf("%w: the status file is %d bytes, at most %d", ErrInvalid, len(data), MaxStatusSize)
	}
	var f StatusFile
	if err := strictjson.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: status file: %w", ErrInvalid, err)
	}
	if f.Version != StatusVersion {
		return nil, fmt.Errorf("%w: status file version %d (this reader reads version %d)", ErrInvalid, f.Version, StatusVersion)
	}
	if err := f.checkBody(); err != nil {
		return nil, err
	}
	if !isKeyID(f.KeyID) {
		return nil, fmt.Errorf("%w: status file: key_id %q: want 16 lowercase hex digits", ErrInvalid, clip(f.KeyID))
	}
	if _, err := f.signature(); err != nil {
		return nil, err
	}
	return &f, nil
}

// checkBody checks what Sign and ParseStatusFile both require.
func (f *StatusFile) checkBody() error {
	if f.Statements == nil {
		return fmt.Errorf("%w: status file: no statements member", ErrInvalid)
	}
	if len(f.Statements) > MaxStatusStatements {
		return fmt.Errorf("%w: status file: %d statements, at most %d", ErrInvalid, len(f.Statements), MaxStatusStatements)
	}
	if !nanoExact(f.IssuedAt.Time) || f.IssuedAt.Time.IsZero() {
		return fmt.Errorf("%w: status file: issued_at outside the signable range (years 1678-2262)", ErrInvalid)
	}
	seen := make(map[fingerprint.Fingerprint]bool, len(f.Statements))
	for i, e := range f.Statements {
		if _, err := Parse([]byte(e.Statement)); err != nil {
			return fmt.Errorf("status file: statements[%d]: %w", i, err)
		}
		if got := Fingerprint([]byte(e.Statement)); got != e.Fingerprint {
			return fmt.Errorf("%w: status file: statements[%d]: the statement's fingerprint is %s, not %s", ErrInvalid, i, got, e.Fingerprint)
		}
		if seen[e.Fingerprint] {
			return fmt.Errorf("%w: status file: statements[%d]: statement %s listed twice", ErrInvalid, i, e.Fingerprint)
		}
		seen[e.Fingerprint] = true
		// (attested_at is a block's time, on the chain's clock: it may be
		// a little ahead of the issuer's, so it is not compared with
		// issued_at.)
		if a := e.AttestedAt; a != nil && (!nanoExact(a.Time) || a.Time.IsZero()) {
			return fmt.Errorf("%w: status file: statements[%d]: attested_at outside the signable range (years 1678-2262)", ErrInvalid, i)
		}
	}
	return nil
}

// signature decodes f's signature: strict base64 (no second spelling of
// the same bytes) of 64 bytes.
func (f *StatusFile) signature() ([]byte, error) {
	sig, err := base64.StdEncoding.Strict().DecodeString(f.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: status file: the signature is not %d bytes of standard base64", ErrInvalid, ed25519.SignatureSize)
	}
	return sig, nil
}

// Verify checks f's signature with pub, whose key id f must name.
func (f *StatusFile) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || f.KeyID != KeyID(pub) {
		return fmt.Errorf("%w: the status file is signed by key %s, not %s", ErrInvalid, f.KeyID, KeyID(pub))
	}
	sig, err := f.signature()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, f.Message(), sig) {
		return fmt.Errorf("%w: the status file's signature does not verify: it was altered, or not made by key %s", ErrInvalid, f.KeyID)
	}
	return nil
}

// CheckAge refuses f when it was issued more than maxAge before now
// (ErrStale) or more than ClockSkew after it (ErrFuture).
func (f *StatusFile) CheckAge(now time.Time, maxAge time.Duration) error {
	issued := f.IssuedAt.Time.UTC().Format("2006-01-02 15:04:05 MST")
	switch age := now.Sub(f.IssuedAt.Time); {
	case age > maxAge:
		return fmt.Errorf("%w: %w: issued %s, %s ago; the most accepted is %s (--status-max-age): get a fresh one from the issuer (attestd status-export)", ErrInvalid, ErrStale, issued, age.Round(time.Minute), maxAge)
	case age < -ClockSkew:
		return fmt.Errorf("%w: %w: issued %s, %s from now: check this computer's clock, or the file is not what the issuer made", ErrInvalid, ErrFuture, issued, (-age).Round(time.Second))
	}
	return nil
}

// Parsed returns the statements of f, parsed (ParseStatusFile checked that
// each parses).
func (f *StatusFile) Parsed() []Statement {
	out := make([]Statement, len(f.Statements))
	for i, e := range f.Statements {
		out[i], _ = Parse([]byte(e.Statement))
	}
	return out
}

func isKeyID(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// nanoExact reports whether t is the instant its Unix nanoseconds name.
func nanoExact(t time.Time) bool { return time.Unix(0, t.UnixNano()).Equal(t) }
