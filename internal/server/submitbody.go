package server

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
)

// The body of POST /v1/fingerprints is read, and its answer written, with
// pooled buffers and without reflection: the busiest request attestd
// serves. Anything but the plainest spelling of a request is decoded by
// the general strict decoder instead, so the rules (and the error
// messages) are the same for every body.

// bodyBuffers hold request bodies; one over maxPooled is not kept (a
// 10,000-fingerprint request's 680 KB is reused, a larger body once in a
// while is not worth holding).
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooled = 8 << 20

func getBuffer() *bytes.Buffer { b := bodyBuffers.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		bodyBuffers.Put(b)
	}
}

// decodeSubmit reads the fingerprints of a POST /v1/fingerprints body.
func decodeSubmit(body []byte) ([]fingerprint.Fingerprint, error) {
	if fps, ok := plainSubmit(body); ok {
		return fps, nil
	}
	var req api.SubmitRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	fps := make([]fingerprint.Fingerprint, len(req.Fingerprints))
	for i, text := range req.Fingerprints {
		fp, err := fingerprint.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("fingerprints[%d]: %w", i, err)
		}
		fps[i] = fp
	}
	return fps, nil
}

// plainSubmit decodes body when it is exactly
//
//	{"fingerprints":["<64 hex>", …]}
//
// with optional JSON white space between tokens and at least one
// fingerprint, none of them all-zero: a body the strict decoder reads the
// same way. For anything else (escapes, a prefix, other members, an
// error to report) it returns false, and the strict decoder decides.
func plainSubmit(body []byte) ([]fingerprint.Fingerprint, bool) {
	p := plainParser{b: body}
	if !p.byte('{') || !p.literal(`"fingerprints"`) || !p.byte(':') || !p.byte('[') {
		return nil, false
	}
	// Each entry takes at least 67 bytes ("…" and a separator).
	fps := make([]fingerprint.Fingerprint, 0, min(len(body)/67+1, api.MaxFingerprintsPerRequest+1))
	for {
		p.space()
		if p.i+66 > len(p.b) || p.b[p.i] != '"' || p.b[p.i+65] != '"' {
			return nil, false
		}
		var fp fingerprint.Fingerprint
		if _, err := hex.Decode(fp[:], p.b[p.i+1:p.i+65]); err != nil || fp.IsZero() {
			return nil, false
		}
		fps = append(fps, fp)
		p.i += 66
		if p.byte(',') {
			continue
		}
		if !p.byte(']') || !p.byte('}') {
			return nil, false
		}
		p.space()
		return fps, p.i == len(p.b)
	}
}

type plainParser struct {
	b []byte
	i int
}

// space skips JSON white space.
func (p *plainParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte skips white space and c.
func (p *plainParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// literal skips white space and s.
func (p *plainParser) literal(s string) bool {
	p.space()
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// answers hold the bytes of POST /v1/fingerprints answers.
var answers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeReceipts answers status with {"receipts":[…]}, as c.JSON would
// write an api.SubmitResponse, byte for byte (receipt.Encoder).
func writeReceipts(c *gin.Context, status int, rs []receipt.Receipt) {
	bp := answers.Get().(*[]byte)
	b := append((*bp)[:0], `{"receipts":`...)
	if rs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		var enc receipt.Encoder
		for i := range rs {
			if i > 0 {
				b = append(b, ',')
			}
			b = enc.Append(b, &rs[i])
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	c.Data(status, "application/json; charset=utf-8", b) // written (copied) before it returns
	if cap(b) <= maxPooled {
		*bp = b
		answers.Put(bp)
	}
}

// readBody reads the request body, at most limit bytes (the server's
// body limit), into a pooled buffer; put it back with putBuffer when done
// with the bytes.
func readBody(c *gin.Context, limit int64) (*bytes.Buffer, error) {
	buf := getBuffer()
	// Room for the announced length at once, but never more than the
	// limit: the header is the client's word, the bytes are not read yet.
	if n := c.Request.ContentLength; n > 0 && n <= min(limit, maxPooled) {
		buf.Grow(int(n) + bytes.MinRead) // one read, no regrowth
	}
	if _, err := buf.ReadFrom(c.Request.Body); err != nil {
		putBuffer(buf)
		return nil, err // *http.MaxBytesError when over the limit
	}
	return buf, nil
}
