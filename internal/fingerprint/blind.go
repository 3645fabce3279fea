package fingerprint

import (
	"crypto/rand"
	"errors"
)

// Nonce is the secret random value that blinds a document hash. It stays
// with the document's origin and holder (inside the proof file).
type Nonce [32]byte

// ErrInvalidNonce is wrapped by every error that [ParseNonce] and
// [Nonce.UnmarshalText] return; test for it with [errors.Is].
var ErrInvalidNonce = errors.New("invalid nonce")

// NewNonce returns a nonce of 32 bytes from crypto/rand.
func NewNonce() (Nonce, error) {
	var n Nonce
	if _, err := rand.Read(n[:]); err != nil {
		return Nonce{}, err
	}
	return n, nil
}

// ParseNonce parses the text form of a nonce: exactly 64 lowercase
// hexadecimal digits, with no prefix. On failure it returns the zero Nonce
// and an error that wraps [ErrInvalidNonce] and says what is wrong, in the
// same terms as [Parse]. ParseNonce does not allocate unless it fails.
func ParseNonce(s string) (Nonce, error) {
	var n Nonce
	if err := decodeHex((*[Size]byte)(&n), s, "", false, ErrInvalidNonce); err != nil {
		return Nonce{}, err
	}
	return n, nil
}

// String returns the 64 lowercase hexadecimal digits of n.
func (n Nonce) String() string {
	var buf [hexLen]byte
	encodeHex(&buf, (*[Size]byte)(&n))
	return string(buf[:])
}

// MarshalText implements [encoding.TextMarshaler]; the text is [Nonce.String].
func (n Nonce) MarshalText() ([]byte, error) {
	var buf [hexLen]byte
	encodeHex(&buf, (*[Size]byte)(&n))
	return buf[:], nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with the rules of
// [ParseNonce]. On error n is left unchanged.
func (n *Nonce) UnmarshalText(text []byte) error {
	p, err := ParseNonce(string(text))
	if err != nil {
		return err
	}
	*n = p
	return nil
}

// BlindDomain is the domain-separation prefix of a blinded fingerprint.
const BlindDomain = "attestd/blind/v1"

// Blind returns the blinded fingerprint of a document whose plain hash is
// docHash: SHA-256(BlindDomain || nonce || docHash), where BlindDomain is
// its 16 ASCII bytes and nonce and docHash are 32 raw bytes each.
func Blind(nonce Nonce, docHash Fingerprint) Fingerprint {
	var msg [len(BlindDomain) + len(nonce) + Size]byte
	n := copy(msg[:], BlindDomain)
	n += copy(msg[n:], nonce[:])
	copy(msg[n:], docHash[:])
	return Sum(msg[:])
}
