// Package trust reads and edits a verifier's issuer trust list
// (docs/trust-list.md): the issuers a verifier trusts, each with its
// display name, jurisdiction and contact, its receipt keys with their
// validity periods, and per chain the address it anchors from and the
// sink it anchors to.
//
// Parse is strict: the file is decoded with internal/strictjson, and a
// list is refused when two issuers share a name (compared case-
// insensitively), two issuers claim one anchoring address on one chain or
// one receipt key, a key's validity is inverted or overlaps another of the
// same issuer's keys, or a key or address is malformed. Every error names
// the entry it is about.
//
// A List answers the verifier's two questions: which issuer, if any,
// anchors on chain C from address A (IssuerFor; the caller then checks
// the sink), and which of an issuer's receipt keys was valid at time T
// (Issuer.KeyAt).
package trust

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/text/cases"

	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/strictjson"
)

// Version is the trust list format this package reads and writes.
const Version = 1

// MaxFileSize bounds a trust list file (a list of a few thousand issuers
// is well under it).
const MaxFileSize = 16 << 20

// ErrInvalid is wrapped by every refusal of Parse and Entry.Check.
var ErrInvalid = errors.New("invalid trust list")

// List is a trust list.
type List struct {
	Version int     `json:"version"`
	Issuers []Entry `json:"issuers"`
}

// Entry is one issuer.
type Entry struct {
	Name         string  `json:"name"`         // display name, unique in the list (case-insensitively)
	Jurisdiction string  `json:"jurisdiction"` // e.g. "TW", "EU", "GB"
	Contact      string  `json:"contact"`      // e-mail or URL where the issuer can be reached
	ReceiptKeys  []Key   `json:"receipt_keys"`
	Chains       []Chain `json:"chains"`
}

// Key is one receipt key and the period in which receipts it signs are
// accepted: from ValidFrom (inclusive) to ValidUntil (exclusive; nil for
// open-ended). A receipt's received time must fall in it.
type Key struct {
	PublicKey  []byte     `json:"public_key"` // Ed25519, 32 bytes; base64 in JSON
	ValidFrom  time.Time  `json:"valid_from"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
}

// Chain is where an issuer anchors on one chain: transactions from
// Anchorer to Sink.
type Chain struct {
	ChainID  uint64         `json:"chain_id"`
	Anchorer common.Address `json:"anchorer"`
	Sink     common.Address `json:"sink"`
}

// ValidAt reports whether t falls in k's validity period.
func (k Key) ValidAt(t time.Time) bool {
	return !t.Before(k.ValidFrom) && (k.ValidUntil == nil || t.Before(*k.ValidUntil))
}

// Period renders k's validity for people.
func (k Key) Period() string {
	until := "open-ended"
	if k.ValidUntil != nil {
		until = "until " + k.ValidUntil.UTC().Format(time.RFC3339)
	}
	return "from " + k.ValidFrom.UTC().Format(time.RFC3339) + " " + until
}

// Parse decodes and checks a trust list.
func Parse(data []byte) (*List, error) {
	// strictjson refuses duplicate and case-variant members; the raw form
	// keeps addresses as strings so their syntax is checked here, with the
	// entry named.
	var raw struct {
		Version int `json:"version"`
		Issuers []struct {
			Name         string `json:"name"`
			Jurisdiction string `json:"jurisdiction"`
			Contact      string `json:"contact"`
			ReceiptKeys  []Key  `json:"receipt_keys"`
			Chains       []struct {
				ChainID  uint64 `json:"chain_id"`
				Anchorer string `json:"anchorer"`
				Sink     string `json:"sink"`
			} `json:"chains"`
		} `json:"issuers"`
	}
	if err := strictjson.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if raw.Version != Version {
		return nil, fmt.Errorf("%w: version %d (this verifier reads version %d)", ErrInvalid, raw.Version, Version)
	}
	l := &List{Version: Version, Issuers: make([]Entry, 0, len(raw.Issuers))}
	for i, ri := range raw.Issuers {
		e := Entry{Name: ri.Name, Jurisdiction: ri.Jurisdiction, Contact: ri.Contact, ReceiptKeys: ri.ReceiptKeys}
		for j, rc := range ri.Chains {
			for _, a := range []struct{ field, v string }{{"anchorer", rc.Anchorer}, {"sink", rc.Sink}} {
				if !isAddress(a.v) {
					return nil, fmt.Errorf("%w: issuer %d (%q), chain %d: %s %q is not an address (0x and 40 hex digits)", ErrInvalid, i, ri.Name, j, a.field, a.v)
				}
			}
			e.Chains = append(e.Chains, Chain{ChainID: rc.ChainID, Anchorer: common.HexToAddress(rc.Anchorer), Sink: common.HexToAddress(rc.Sink)})
		}
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("%w: issuer %d (%q): %w", ErrInvalid, i, ri.Name, err)
		}
		l.Issuers = append(l.Issuers, e)
	}
	if err := l.checkAcross(); err != nil {
		return nil, err
	}
	return l, nil
}

// ParseEntry decodes and checks a single issuer entry (what
// `attestd info --trust-entry` prints).
func ParseEntry(data []byte) (*Entry, error) {
	l, err := Parse(append(append([]byte(`{"version":1,"issuers":[`), data...), ']', '}'))
	if err != nil {
		return nil, err
	}
	if len(l.Issuers) != 1 {
		return nil, fmt.Errorf("%w: want one issuer entry, got %d", ErrInvalid, len(l.Issuers))
	}
	return &l.Issuers[0], nil
}

// Load reads and parses the trust list at path.
func Load(path string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrInvalid, MaxFileSize)
	}
	l, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Marshal renders l as indented JSON (the format Parse reads).
func (l *List) Marshal() ([]byte, error) {
	if l.Issuers == nil {
		l.Issuers = []Entry{}
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save checks l and writes it to path atomically (mode 0644: a trust list
// holds no secret).
func (l *List) Save(path string) error {
	l.Version = Version
	b, err := l.Marshal()
	if err != nil {
		return err
	}
	if _, err := Parse(b); err != nil { // never write a list Parse would refuse
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// Add appends e, refusing it when the list would no longer parse: the same
// name as an issuer already listed, an address or key another issuer
// claims, or a malformed entry.
func (l *List) Add(e Entry) error {
	if err := e.check(); err != nil {
		return fmt.Errorf("%w: issuer %q: %w", ErrInvalid, e.Name, err)
	}
	if l.Find(e.Name) != nil {
		return fmt.Errorf("%w: issuer %q is already in the list (remove it first to replace it)", ErrInvalid, e.Name)
	}
	next := &List{Version: Version, Issuers: append(append([]Entry{}, l.Issuers...), e)}
	if err := next.checkAcross(); err != nil {
		return err
	}
	l.Issuers = next.Issuers
	return nil
}

// Remove deletes the issuer named name (compared case-insensitively); it
// reports whether there was one.
func (l *List) Remove(name string) bool {
	for i := range l.Issuers {
		if fold(l.Issuers[i].Name) == fold(name) {
			l.Issuers = append(l.Issuers[:i:i], l.Issuers[i+1:]...)
			return true
		}
	}
	return false
}

// Find returns the issuer named name (case-insensitively), or nil.
func (l *List) Find(name string) *Entry {
	for i := range l.Issuers {
		if fold(l.Issuers[i].Name) == fold(name) {
			return &l.Issuers[i]
		}
	}
	return nil
}

// IssuerFor returns the issuer that anchors on chain chainID from
// anchorer, with that chain's entry (its sink), or nil when no issuer in
// the list does.
func (l *List) IssuerFor(chainID uint64, anchorer common.Address) (*Entry, *Chain) {
	for i := range l.Issuers {
		for j := range l.Issuers[i].Chains {
			if c := &l.Issuers[i].Chains[j]; c.ChainID == chainID && c.Anchorer == anchorer {
				return &l.Issuers[i], c
			}
		}
	}
	return nil, nil
}

// AnchoringIssuer is IssuerFor in the form internal/verify asks for
// (verify.IssuerList).
func (l *List) AnchoringIssuer(chainID uint64, anchorer common.Address) (string, common.Address, bool) {
	e, c := l.IssuerFor(chainID, anchorer)
	if e == nil {
		return "", common.Address{}, false
	}
	return e.Name, c.Sink, true
}

// KeyAt returns e's receipt key valid at t (at most one is: validity
// periods do not overlap), or nil.
func (e *Entry) KeyAt(t time.Time) *Key {
	for i := range e.ReceiptKeys {
		if e.ReceiptKeys[i].ValidAt(t) {
			return &e.ReceiptKeys[i]
		}
	}
	return nil
}

// Key returns e's receipt key pub, or nil when e does not list it.
func (e *Entry) Key(pub ed25519.PublicKey) *Key {
	for i := range e.ReceiptKeys {
		if bytes.Equal(e.ReceiptKeys[i].PublicKey, pub) {
			return &e.ReceiptKeys[i]
		}
	}
	return nil
}

// check checks one entry on its own.
func (e *Entry) check() error {
	switch {
	case strings.TrimSpace(e.Name) == "":
		return errors.New("no name")
	case !printable(e.Name) || !printable(e.Jurisdiction) || !printable(e.Contact):
		return errors.New("name, jurisdiction and contact must be printable text on one line")
	case strings.TrimSpace(e.Jurisdiction) == "":
		return errors.New("no jurisdiction")
	case len(e.ReceiptKeys) == 0:
		return errors.New("no receipt key")
	case len(e.Chains) == 0:
		return errors.New("no chain")
	}
	for i, k := range e.ReceiptKeys {
		switch {
		case len(k.PublicKey) != ed25519.PublicKeySize:
			return fmt.Errorf("receipt key %d: %d bytes, an Ed25519 public key has %d", i, len(k.PublicKey), ed25519.PublicKeySize)
		case k.ValidFrom.IsZero():
			return fmt.Errorf("receipt key %d: no valid_from", i)
		case k.ValidUntil != nil && !k.ValidUntil.After(k.ValidFrom):
			return fmt.Errorf("receipt key %d: valid_until %s is not after valid_from %s", i, k.ValidUntil.Format(time.RFC3339), k.ValidFrom.Format(time.RFC3339))
		}
		for j, o := range e.ReceiptKeys[:i] {
			if bytes.Equal(o.PublicKey, k.PublicKey) {
				return fmt.Errorf("receipt keys %d and %d are the same key", j, i)
			}
			if overlap(o, k) {
				return fmt.Errorf("receipt keys %d (%s) and %d (%s) have overlapping validity: end one where the next begins", j, o.Period(), i, k.Period())
			}
		}
	}
	for i, c := range e.Chains {
		switch {
		case c.ChainID == 0:
			return fmt.Errorf("chain %d: no chain_id", i)
		case c.Anchorer == (common.Address{}):
			return fmt.Errorf("chain %d: the anchorer is the zero address", i)
		}
		for j, o := range e.Chains[:i] {
			if o.ChainID == c.ChainID {
				return fmt.Errorf("chains %d and %d are both chain %d", j, i, c.ChainID)
			}
		}
	}
	return nil
}

// checkAcross checks what no two entries may share.
func (l *List) checkAcross() error {
	for i := range l.Issuers {
		e := &l.Issuers[i]
		for j := range l.Issuers[:i] {
			o := &l.Issuers[j]
			if fold(o.Name) == fold(e.Name) {
				return fmt.Errorf("%w: issuers %d and %d are both named %q", ErrInvalid, j, i, e.Name)
			}
			for _, c := range e.Chains {
				for _, oc := range o.Chains {
					if c.ChainID == oc.ChainID && c.Anchorer == oc.Anchorer {
						return fmt.Errorf("%w: issuers %q and %q both claim anchoring address %s on chain %d", ErrInvalid, o.Name, e.Name, c.Anchorer.Hex(), c.ChainID)
					}
				}
			}
			for _, k := range e.ReceiptKeys {
				if o.Key(k.PublicKey) != nil {
					return fmt.Errorf("%w: issuers %q and %q both list receipt key %s", ErrInvalid, o.Name, e.Name, base64.StdEncoding.EncodeToString(k.PublicKey))
				}
			}
		}
	}
	return nil
}

func overlap(a, b Key) bool {
	// [a.from, a.until) and [b.from, b.until) intersect iff each starts
	// before the other ends.
	before := func(t time.Time, until *time.Time) bool { return until == nil || t.Before(*until) }
	return before(a.ValidFrom, b.ValidUntil) && before(b.ValidFrom, a.ValidUntil)
}

func isAddress(s string) bool {
	return len(s) == 42 && (s[:2] == "0x" || s[:2] == "0X") && common.IsHexAddress(s)
}

func printable(s string) bool {
	if !utf8.ValidString(s) || len(s) > 200 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

var folder = cases.Fold()

func fold(s string) string { return folder.String(strings.TrimSpace(s)) }
