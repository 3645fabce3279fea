// Package fingerprint computes, parses and blinds the SHA-256 document
// fingerprints that attestd attests.
//
// A fingerprint is the SHA-256 digest of a document, computed where the
// document lives; only the fingerprint travels. Its text form is 64 lowercase
// hexadecimal digits. As input ([Parse]: the API's requests, the CLI) the
// digits may be in either case (PowerShell's Get-FileHash prints upper
// case) and may be preceded by "sha256:"; the wire formats that embed a
// fingerprint (.attest files, proof bundles, receipts:
// [Fingerprint.UnmarshalText]) take only the lowercase form. A fingerprint
// may be blinded with a random nonce (see [Blind]) so that a published
// fingerprint of a low-entropy record cannot be guessed by dictionary, and a
// JSON document may be canonicalized with RFC 8785 before hashing (see
// [HashDocument]).
package fingerprint

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Size is the length of a fingerprint in bytes.
const Size = 32

// hexLen is the length of the text form of a fingerprint or nonce.
const hexLen = 2 * Size

// prefix is the only algorithm prefix Parse accepts.
const prefix = "sha256:"

// Fingerprint is the SHA-256 digest of a document, possibly blinded.
// The zero value is the all-zero digest, which [Fingerprint.IsZero] reports.
type Fingerprint [Size]byte

// ErrInvalid is wrapped by every error that [Parse] and
// [Fingerprint.UnmarshalText] return; test for it with [errors.Is].
var ErrInvalid = errors.New("invalid fingerprint")

// Parse parses a fingerprint as a person or a tool gives it: exactly 64
// hexadecimal digits in either case (upper, lower or mixed), optionally
// preceded by "sha256:". Everything else is rejected, including surrounding
// whitespace, a "0x" prefix and any other algorithm prefix such as "sha1:"
// or "SHA256:". Whatever the case of the input, [Fingerprint.String] is
// lowercase: parse, then print, to normalise.
//
// On failure Parse returns the zero Fingerprint and an error that wraps
// [ErrInvalid] and says what is wrong: the input is empty, has an unknown
// prefix, has a character that is not a hexadecimal digit (with its byte
// offset in s), or has the wrong number of digits (with the number found).
// Parse does not allocate unless it fails.
func Parse(s string) (Fingerprint, error) {
	var f Fingerprint
	if err := decodeHex((*[Size]byte)(&f), s, prefix, true, ErrInvalid); err != nil {
		return Fingerprint{}, err
	}
	return f, nil
}

// String returns the 64 lowercase hexadecimal digits of f, without prefix.
func (f Fingerprint) String() string {
	var buf [hexLen]byte
	encodeHex(&buf, (*[Size]byte)(&f))
	return string(buf[:])
}

// MarshalText implements [encoding.TextMarshaler]; the text is [Fingerprint.String].
func (f Fingerprint) MarshalText() ([]byte, error) {
	var buf [hexLen]byte
	encodeHex(&buf, (*[Size]byte)(&f))
	return buf[:], nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with the rules of
// [Parse], except that the digits must be lowercase: it decodes the wire
// formats (.attest files, proof bundles, receipts), which have one
// spelling of a fingerprint, as [Fingerprint.MarshalText] writes it and
// as the web verifier reads it. On error f is left unchanged.
func (f *Fingerprint) UnmarshalText(text []byte) error {
	var p Fingerprint
	if err := decodeHex((*[Size]byte)(&p), string(text), prefix, false, ErrInvalid); err != nil {
		return err
	}
	*f = p
	return nil
}

// IsZero reports whether f is the all-zero fingerprint (the zero value).
func (f Fingerprint) IsZero() bool {
	return f == Fingerprint{}
}

const hexDigits = "0123456789abcdef"

func encodeHex(dst *[hexLen]byte, src *[Size]byte) {
	for i, b := range src {
		dst[2*i] = hexDigits[b>>4]
		dst[2*i+1] = hexDigits[b&0x0f]
	}
}

// unhex returns the value of the hexadecimal digit c: lowercase, or
// either case when anyCase.
func unhex(c byte, anyCase bool) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case anyCase && 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeHex decodes s, which must be 64 hexadecimal digits (lowercase, or
// either case when anyCase), optionally preceded by allowed (if allowed is
// not empty), into dst. Errors wrap sentinel. On success it does not
// allocate.
func decodeHex(dst *[Size]byte, s, allowed string, anyCase bool, sentinel error) error {
	if s == "" {
		return fmt.Errorf("%w: empty", sentinel)
	}
	off := 0
	if allowed != "" && strings.HasPrefix(s, allowed) {
		off = len(allowed)
		if len(s) == off {
			return fmt.Errorf("%w: empty after %q prefix", sentinel, allowed)
		}
	} else if p, ok := foreignPrefix(s); ok {
		if allowed == "" {
			return fmt.Errorf("%w: unexpected prefix %q (want plain hex)", sentinel, p)
		}
		return fmt.Errorf("%w: unknown prefix %q (only %q is accepted)", sentinel, p, allowed)
	}
	h := s[off:]
	if len(h) == hexLen {
		for i := 0; i < Size; i++ {
			hi, ok1 := unhex(h[2*i], anyCase)
			lo, ok2 := unhex(h[2*i+1], anyCase)
			if !ok1 || !ok2 {
				return badChar(h, off, anyCase, sentinel)
			}
			dst[i] = hi<<4 | lo
		}
		return nil
	}
	// Wrong length. Report a bad character first, if there is one: a stray
	// space or newline explains the length better than the length does.
	if err := badChar(h, off, anyCase, sentinel); err != nil {
		return err
	}
	return fmt.Errorf("%w: wrong length: got %d hex digits, want %d", sentinel, len(h), hexLen)
}

// badChar returns an error for the first byte of h that is not a
// hexadecimal digit (lowercase unless anyCase), or nil if there is none.
// off is the offset of h in the caller's input, so that positions refer to
// the input as given.
func badChar(h string, off int, anyCase bool, sentinel error) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if _, ok := unhex(c, anyCase); ok {
			continue
		}
		pos := off + i
		switch {
		case 'A' <= c && c <= 'F':
			return fmt.Errorf("%w: uppercase hex digit %q at position %d (must be lowercase)", sentinel, c, pos)
		case c < utf8.RuneSelf:
			return fmt.Errorf("%w: non-hex character %q at position %d", sentinel, c, pos)
		}
		r, size := utf8.DecodeRuneInString(h[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("%w: invalid UTF-8 byte 0x%02x at position %d", sentinel, c, pos)
		}
		return fmt.Errorf("%w: non-hex character %q at position %d", sentinel, r, pos)
	}
	return nil
}

// foreignPrefix reports whether s starts with something that looks like an
// algorithm or encoding prefix ("sha1:", "SHA256:", "0x"), and returns it.
func foreignPrefix(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return s[:2], true
	}
	const maxName = 16
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > maxName {
		return "", false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	return s[:i+1], true
}
