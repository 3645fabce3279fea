package receipt

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/attestd/attestd/internal/proof"
)

// An Encoder appends receipts as encoding/json marshals them, byte for
// byte, with no reflection and no allocation: the members in struct
// order, times in RFC 3339 with nanoseconds, the salt and hashes in
// lowercase hex, the signature in standard base64, and the institution
// escaped as encoding/json escapes it (HTML characters too). The hot path
// of POST /v1/fingerprints writes hundreds of thousands of receipts a
// second with it.
//
// It keeps the encoding of the last receipt's signature, times and path
// hashes, and copies them when the next receipt has the same: the
// receipts of one tree share their signature and most of their paths
// (leaf j's sibling at level k is leaf j+1's too unless j+1 is a multiple
// of 2^k), and a request's receipts their times. Its zero value is ready
// to use; it is not safe for concurrent use.
type Encoder struct {
	path  [memoLevels]hexMemo
	times [2]timeMemo // received_at, deadline
	sig   sigMemo
}

// memoLevels covers the path of any tree Sign makes (MaxTreeSize is 2^20);
// the hashes of a longer path are encoded each time.
const memoLevels = 24

type hexMemo struct {
	h   proof.Hash
	hex [2 * len(proof.Hash{})]byte
	set bool
}

// timeMemo holds the last time appendTime wrote, quoted.
type timeMemo struct {
	t    time.Time
	text [40]byte // `"` + RFC 3339 with nanoseconds (at most 35 bytes for years 0-9999) + `"`
	n    int      // 0: nothing kept
}

// sigMemo holds the last Ed25519-sized signature, quoted in base64.
type sigMemo struct {
	sig  [ed25519.SignatureSize]byte
	text [2 + (ed25519.SignatureSize+2)/3*4]byte
	set  bool
}

// Append appends r to dst.
func (e *Encoder) Append(dst []byte, r *Receipt) []byte {
	dst = append(dst, `{"version":`...)
	dst = strconv.AppendInt(dst, int64(r.Version), 10)
	if !r.Salt.IsZero() {
		dst = append(dst, `,"salt":"`...)
		dst = hex.AppendEncode(dst, r.Salt[:])
		dst = append(dst, '"')
	}
	dst = append(dst, `,"fingerprint":"`...)
	dst = hex.AppendEncode(dst, r.Fingerprint[:])
	dst = append(dst, `","institution":`...)
	dst = appendString(dst, r.Institution)
	dst = append(dst, `,"received_at":`...)
	dst = e.times[0].append(dst, r.ReceivedAt)
	dst = append(dst, `,"deadline":`...)
	dst = e.times[1].append(dst, r.Deadline)
	dst = append(dst, `,"key_id":`...)
	dst = appendString(dst, r.KeyID)
	dst = append(dst, `,"tree_size":`...)
	dst = strconv.AppendUint(dst, r.TreeSize, 10)
	dst = append(dst, `,"tree_index":`...)
	dst = strconv.AppendUint(dst, r.TreeIndex, 10)
	dst = append(dst, `,"tree_path":`...)
	if r.TreePath == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range r.TreePath {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			if h := &r.TreePath[i]; i < memoLevels {
				m := &e.path[i]
				if !m.set || m.h != *h {
					m.h, m.set = *h, true
					hex.Encode(m.hex[:], h[:])
				}
				dst = append(dst, m.hex[:]...)
			} else {
				dst = hex.AppendEncode(dst, h[:])
			}
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"signature":`...)
	switch m := &e.sig; {
	case r.Signature == nil:
		dst = append(dst, "null"...)
	case len(r.Signature) == len(m.sig):
		if !m.set || [len(m.sig)]byte(r.Signature) != m.sig {
			m.sig, m.set = [len(m.sig)]byte(r.Signature), true
			m.text[0], m.text[len(m.text)-1] = '"', '"'
			base64.StdEncoding.Encode(m.text[1:len(m.text)-1], r.Signature)
		}
		dst = append(dst, m.text[:]...)
	default:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, r.Signature)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// append appends t as appendTime does, copying the last encoding when t
// is the same instant in the same location (all the encoding depends
// on).
func (m *timeMemo) append(dst []byte, t time.Time) []byte {
	if m.n > 0 && t.Equal(m.t) && t.Location() == m.t.Location() {
		return append(dst, m.text[:m.n]...)
	}
	n := len(dst)
	dst = appendTime(dst, t)
	m.t, m.n = t, 0
	if len(dst)-n <= len(m.text) {
		m.n = copy(m.text[:], dst[n:])
	}
	return dst
}

// appendTime appends t as time.Time.MarshalJSON does; a time it refuses
// (a year outside 0-9999: never a receipt's) is written by encoding/json.
func appendTime(dst []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		return appendMarshal(dst, t)
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendString appends s as a JSON string the way encoding/json does: as
// it is when it is printable ASCII with nothing to escape, otherwise by
// encoding/json itself.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendMarshal(dst, s)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendMarshal(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("receipt: " + err.Error()) // a string or an in-range time always marshals
	}
	return append(dst, b...)
}
