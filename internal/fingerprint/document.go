package fingerprint

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gowebpki/jcs"
)

// Canonicalization names the transformation applied to a document before it
// is hashed.
type Canonicalization string

const (
	// CanonNone hashes the document's bytes as they are.
	CanonNone Canonicalization = "none"
	// CanonJCS hashes the RFC 8785 (JSON Canonicalization Scheme) form of a
	// JSON document, so that whitespace and key order do not matter.
	CanonJCS Canonicalization = "jcs"
)

// ParseCanonicalization returns the Canonicalization named by s: "" and
// "none" give [CanonNone], "jcs" gives [CanonJCS]. Names are case-sensitive;
// anything else is an error.
func ParseCanonicalization(s string) (Canonicalization, error) {
	switch s {
	case "", string(CanonNone):
		return CanonNone, nil
	case string(CanonJCS):
		return CanonJCS, nil
	}
	return "", fmt.Errorf("unknown canonicalization %s (want %q or %q)", quoteShort(s), CanonNone, CanonJCS)
}

// MaxCanonicalSize is the largest document, in bytes, that [HashDocument]
// canonicalizes. Canonicalization needs the whole document in memory, unlike
// plain hashing, which streams.
const MaxCanonicalSize = 256 << 20

// HashDocument fingerprints the document at path as its origin would.
//
// With canon [CanonNone] (or "") it streams the file as [HashFile] does,
// calling progress likewise. With canon [CanonJCS] it reads at most
// MaxCanonicalSize bytes (a larger file is an error), transforms them with
// RFC 8785 (an error if they are not valid I-JSON) and hashes the canonical
// bytes; progress, if not nil, is called once with the number of bytes read.
// Any other canon is an error.
//
// docHash is the plain hash of the (canonicalized) document. If nonce is not
// nil, fp is Blind(*nonce, docHash); otherwise fp equals docHash. Errors name
// path; on error both results are zero.
func HashDocument(path string, canon Canonicalization, nonce *Nonce, progress func(done int64)) (fp Fingerprint, docHash Fingerprint, err error) {
	switch canon {
	case "", CanonNone:
		docHash, _, err = HashFile(path, progress)
	case CanonJCS:
		docHash, err = hashJCSFile(path, progress)
	default:
		err = fmt.Errorf("hash %s: unknown canonicalization %s", path, quoteShort(string(canon)))
	}
	if err != nil {
		return Fingerprint{}, Fingerprint{}, err
	}
	if nonce != nil {
		return Blind(*nonce, docHash), docHash, nil
	}
	return docHash, docHash, nil
}

// Canonicalize returns the RFC 8785 (JCS) form of the JSON document read
// from r, the form [HashDocument] hashes with [CanonJCS]: an error if it is
// not one valid I-JSON value (duplicate member names included), is empty,
// or is larger than [MaxCanonicalSize]. attestd's own canonical formats
// (the statements of internal/statement) are made and checked with it.
func Canonicalize(r io.Reader) ([]byte, error) {
	out, _, err := canonicalize(r, MaxCanonicalSize)
	return out, err
}

func hashJCSFile(path string, progress func(done int64)) (Fingerprint, error) {
	f, err := os.Open(path)
	if err != nil {
		return Fingerprint{}, err
	}
	defer f.Close()
	// Fail fast on a regular file known to be too large; canonicalize
	// enforces the limit on what is actually read.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxCanonicalSize {
		return Fingerprint{}, fmt.Errorf("canonicalize %s: %w", path, errTooLarge(MaxCanonicalSize))
	}
	canonical, n, err := canonicalize(f, MaxCanonicalSize)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return Fingerprint{}, err // already names path
		}
		return Fingerprint{}, fmt.Errorf("canonicalize %s: %w", path, err)
	}
	if progress != nil {
		progress(n)
	}
	return Sum(canonical), nil
}

// canonicalize reads r to EOF, failing if it holds more than limit bytes,
// and returns the RFC 8785 form of the JSON read and the number of bytes read.
func canonicalize(r io.Reader, limit int64) ([]byte, int64, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	n := int64(len(data))
	if err != nil {
		return nil, n, err
	}
	if n > limit {
		return nil, n, errTooLarge(limit)
	}
	if n == 0 {
		return nil, 0, errors.New("not valid JSON: empty document")
	}
	out, err := jcs.Transform(data)
	if err != nil {
		return nil, n, fmt.Errorf("not valid JSON: %w", err)
	}
	return out, n, nil
}

func errTooLarge(limit int64) error {
	return fmt.Errorf("document is larger than the %d-byte limit for JSON canonicalization", limit)
}

// quoteShort quotes s for an error message, truncated so that arbitrary
// input cannot flood a log.
func quoteShort(s string) string {
	const limit = 32
	if len(s) > limit {
		return fmt.Sprintf("%q (truncated from %d bytes)", s[:limit], len(s))
	}
	return fmt.Sprintf("%q", s)
}
