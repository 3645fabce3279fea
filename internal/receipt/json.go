package receipt

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r as encoding/json marshals it, byte for byte, with
// no allocation in the common case: the members in struct order, times in
// RFC 3339 with nanoseconds, the salt and hashes in lowercase hex, the
// signature in standard base64, and the institution escaped as
// encoding/json escapes it (HTML characters too). The hot path of
// POST /v1/fingerprints writes thousands of receipts a second with it.
func AppendJSON(dst []byte, r *Receipt) []byte {
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
	dst = appendTime(dst, r.ReceivedAt)
	dst = append(dst, `,"deadline":`...)
	dst = appendTime(dst, r.Deadline)
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
		for i, h := range r.TreePath {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = hex.AppendEncode(dst, h[:])
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"signature":`...)
	if r.Signature == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, r.Signature)
		dst = append(dst, '"')
	}
	return append(dst, '}')
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
