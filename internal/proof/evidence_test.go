package proof_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/attestd/attestd/internal/proof"
)

// validEvidence is well-formed chain evidence (not true evidence: Check
// checks form; internal/evidence checks what it says).
func validEvidence() *proof.Evidence {
	return &proof.Evidence{
		Version:      1,
		Tx:           hexutil.Bytes{0x02, 0xf8, 0xAB},
		TxIndex:      3,
		Receipt:      hexutil.Bytes{0x02, 0xf9, 0x01},
		Header:       hexutil.Bytes{0xf9, 0x02, 0x1c},
		TxProof:      []hexutil.Bytes{{0xf8, 0x51}, {0xf8, 0x71}},
		ReceiptProof: []hexutil.Bytes{{0xf8, 0x51}},
		Headers:      []hexutil.Bytes{{0xf9, 0x02}, {0xf9, 0x03}},
	}
}

// TestEvidenceJSON: the wire form has the documented member names and
// every binary field as 0x-prefixed lowercase hex; it parses back to the
// same value and re-encodes to the same bytes.
func TestEvidenceJSON(t *testing.T) {
	ev := validEvidence()
	data := mustJSON(t, ev)
	want := `{"version":1,"tx":"0x02f8ab","tx_index":3,"receipt":"0x02f901","header":"0xf9021c",` +
		`"tx_proof":["0xf851","0xf871"],"receipt_proof":["0xf851"],"headers":["0xf902","0xf903"]}`
	if string(data) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", data, want)
	}
	if regexp.MustCompile(`"0x[^"]*[A-F]`).Match(data) {
		t.Fatalf("upper-case hex in %s", data)
	}
	got, err := proof.ParseEvidence(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Fatalf("ParseEvidence(Marshal(ev)) = %+v, want %+v", got, ev)
	}
	// No following headers (one confirmation) is well-formed.
	ev.Headers = nil
	if _, err := proof.ParseEvidence(mustJSON(t, ev)); err != nil {
		t.Fatalf("no following headers: %v", err)
	}
}

func TestEvidenceCheckRejects(t *testing.T) {
	big := make(hexutil.Bytes, proof.MaxEvidenceItem+1)
	nodes := func(n int) []hexutil.Bytes {
		out := make([]hexutil.Bytes, n)
		for i := range out {
			out[i] = hexutil.Bytes{0xc0}
		}
		return out
	}
	for name, mutate := range map[string]func(e *proof.Evidence){
		"version 0":             func(e *proof.Evidence) { e.Version = 0 },
		"version 2":             func(e *proof.Evidence) { e.Version = 2 },
		"no tx":                 func(e *proof.Evidence) { e.Tx = nil },
		"empty tx":              func(e *proof.Evidence) { e.Tx = hexutil.Bytes{} },
		"no receipt":            func(e *proof.Evidence) { e.Receipt = nil },
		"no header":             func(e *proof.Evidence) { e.Header = nil },
		"huge tx":               func(e *proof.Evidence) { e.Tx = big },
		"huge receipt":          func(e *proof.Evidence) { e.Receipt = big },
		"huge header":           func(e *proof.Evidence) { e.Header = big },
		"no tx proof":           func(e *proof.Evidence) { e.TxProof = nil },
		"no receipt proof":      func(e *proof.Evidence) { e.ReceiptProof = []hexutil.Bytes{} },
		"empty tx proof node":   func(e *proof.Evidence) { e.TxProof[1] = nil },
		"huge receipt node":     func(e *proof.Evidence) { e.ReceiptProof[0] = big },
		"too many tx nodes":     func(e *proof.Evidence) { e.TxProof = nodes(proof.MaxProofNodes + 1) },
		"too many receipt node": func(e *proof.Evidence) { e.ReceiptProof = nodes(proof.MaxProofNodes + 1) },
		"too many headers":      func(e *proof.Evidence) { e.Headers = nodes(proof.MaxEvidenceHeaders + 1) },
		"empty header":          func(e *proof.Evidence) { e.Headers[1] = hexutil.Bytes{} },
		"huge header in chain":  func(e *proof.Evidence) { e.Headers[0] = big },
	} {
		t.Run(name, func(t *testing.T) {
			ev := validEvidence()
			mutate(ev)
			if err := ev.Check(); !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("Check = %v, want ErrInvalid", err)
			}
			if _, err := proof.ParseEvidence(mustJSON(t, ev)); !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("ParseEvidence = %v, want ErrInvalid", err)
			}
		})
	}
	// The bounds themselves are allowed.
	ev := validEvidence()
	ev.Tx, ev.TxProof, ev.Headers = make(hexutil.Bytes, proof.MaxEvidenceItem), nodes(proof.MaxProofNodes), nodes(proof.MaxEvidenceHeaders)
	ev.Tx[0] = 1
	if err := ev.Check(); err != nil {
		t.Fatalf("at the bounds: %v", err)
	}
}

func TestParseEvidenceRejects(t *testing.T) {
	good := mustJSON(t, validEvidence())
	for name, data := range map[string][]byte{
		"unknown field":   append([]byte(`{"extra":1,`), good[1:]...),
		"duplicate tx":    append([]byte(`{"tx":"0x01",`), good[1:]...),
		"case variant":    append([]byte(`{"TX":"0x01",`), good[1:]...),
		"no 0x":           bytes.Replace(good, []byte(`"0x02f8ab"`), []byte(`"02f8ab"`), 1),
		"odd hex":         bytes.Replace(good, []byte(`"0x02f8ab"`), []byte(`"0x2f8ab"`), 1),
		"null tx":         bytes.Replace(good, []byte(`"0x02f8ab"`), []byte(`null`), 1),
		"null proof":      bytes.Replace(good, []byte(`["0xf851","0xf871"]`), []byte(`null`), 1),
		"trailing data":   append(bytes.Clone(good), []byte(`{}`)...),
		"negative index":  bytes.Replace(good, []byte(`"tx_index":3`), []byte(`"tx_index":-3`), 1),
		"too large":       append(bytes.Clone(good), bytes.Repeat([]byte(" "), proof.MaxEvidenceSize)...),
		"not an object":   []byte(`[]`),
		"string version":  bytes.Replace(good, []byte(`"version":1`), []byte(`"version":"1"`), 1),
		"version missing": bytes.Replace(good, []byte(`"version":1,`), nil, 1),
	} {
		t.Run(name, func(t *testing.T) {
			if ev, err := proof.ParseEvidence(data); !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("ParseEvidence = %+v, %v; want ErrInvalid", ev, err)
			}
		})
	}
}

func FuzzEvidenceParse(f *testing.F) {
	f.Add(mustJSON(f, validEvidence()))
	one := validEvidence()
	one.Headers = nil
	f.Add(mustJSON(f, one))
	f.Add([]byte(`{"version":1,"tx":"0x","tx_index":0,"receipt":"0x","header":"0x","tx_proof":[],"receipt_proof":[],"headers":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := proof.ParseEvidence(data)
		if err != nil {
			if !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("ParseEvidence error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := ev.Check(); err != nil {
			t.Fatalf("ParseEvidence accepted evidence Check rejects: %v", err)
		}
		enc, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(string(enc), "ABCDEF") {
			t.Fatalf("re-encoding has upper-case hex: %s", enc)
		}
		again, err := proof.ParseEvidence(enc)
		if err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("re-parse of %s: %+v, %v", enc, again, err)
		}
	})
}
