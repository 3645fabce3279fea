package server

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/proof"
)

// appendStatus appends the body of GET /v1/fingerprints/{fingerprint}: st
// as encoding/json writes it, byte for byte (TestStatusJSON and
// FuzzStatusJSON compare the two, so a change to api.FingerprintStatus or
// to proof.Bundle's fields or tags that this misses fails the tests). It
// is the hottest response of the service (proof reads; see
// docs/benchmarks.md), where encoding/json and a string per hash took 30%
// of the handler's CPU; this writes the hashes straight from the bundle.
func appendStatus(dst []byte, st *api.FingerprintStatus) []byte {
	dst = append(dst, '{')
	if st.BatchID != nil {
		dst = strconv.AppendInt(append(dst, `"batch_id":`...), *st.BatchID, 10)
		dst = append(dst, ',')
	}
	if len(st.Chains) > 0 {
		dst = append(dst, `"chains":[`...)
		for i, c := range st.Chains {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(append(dst, `{"chain_id":`...), c.ChainID, 10)
			dst = appendString(append(dst, `,"status":`...), string(c.Status))
			if c.TxHash != nil {
				dst = appendString(append(dst, `,"tx_hash":`...), *c.TxHash)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, "],"...)
	}
	dst = appendString(append(dst, `"fingerprint":`...), st.Fingerprint)
	if b := st.Proof; b != nil {
		dst = appendBundle(append(dst, `,"proof":`...), b)
	}
	dst = appendString(append(dst, `,"status":`...), string(st.Status))
	// Statements are rare (a record corrected or withdrawn): encoding/json
	// writes them, so they are its bytes by construction.
	if len(st.SupersededBy) > 0 {
		dst = appendJSON(append(dst, `,"superseded_by":`...), st.SupersededBy)
	}
	if len(st.Withdrawn) > 0 {
		dst = appendJSON(append(dst, `,"withdrawn":`...), st.Withdrawn)
	}
	return append(dst, '}')
}

// appendJSON appends v as encoding/json writes it; the statements' types
// always marshal (strings, hex, a proof bundle).
func appendJSON(dst []byte, v []api.RecordStatement) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("server: a record statement does not marshal: " + err.Error())
	}
	return append(dst, b...)
}

// appendBundle appends b as encoding/json writes a proof.Bundle.
func appendBundle(dst []byte, b *proof.Bundle) []byte {
	dst = strconv.AppendInt(append(dst, `{"version":`...), int64(b.Version), 10)
	dst = appendHex(append(dst, `,"fingerprint":`...), "", b.Fingerprint[:])
	dst = strconv.AppendUint(append(dst, `,"batch_id":`...), b.BatchID, 10)
	dst = strconv.AppendUint(append(dst, `,"index":`...), b.Index, 10)
	dst = strconv.AppendUint(append(dst, `,"size":`...), b.Size, 10)
	dst = appendHex(append(dst, `,"root":`...), "", b.Root[:])
	dst = append(dst, `,"path":`...)
	if b.Path == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, h := range b.Path {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendHex(dst, "", h[:])
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"anchors":`...)
	if b.Anchors == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, '[')
	for i, a := range b.Anchors {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(append(dst, `{"chain_id":`...), a.ChainID, 10)
		dst = appendHex(append(dst, `,"tx_hash":`...), "0x", a.TxHash[:])
		dst = strconv.AppendUint(append(dst, `,"block_number":`...), a.BlockNumber, 10)
		dst = appendHex(append(dst, `,"block_hash":`...), "0x", a.BlockHash[:])
		dst = appendHex(append(dst, `,"anchorer":`...), "0x", a.Anchorer[:])
		if len(a.Evidence) > 0 {
			// Stored as json.Marshal wrote it: compact, hex strings only,
			// so what encoding/json would write is these very bytes.
			dst = append(append(dst, `,"evidence":`...), a.Evidence...)
		}
		if a.NoEvidence != "" {
			dst = appendString(append(dst, `,"no_evidence":`...), a.NoEvidence)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendHex appends b as a JSON string of lowercase hex after prefix (the
// text form of proof.Hash, fingerprint.Fingerprint and go-ethereum's
// common.Hash and common.Address).
func appendHex(dst []byte, prefix string, b []byte) []byte {
	dst = append(append(dst, '"'), prefix...)
	return append(hex.AppendEncode(dst, b), '"')
}

// appendString appends s as a JSON string. The handler's strings are hex
// and status names, which need no escaping; anything else is left to
// encoding/json, so the result is always what it writes.
func appendString(dst []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			// (The clone keeps s, and the status holding it, off the heap
			// on the usual path: escape analysis sees Marshal keep s.)
			q, _ := json.Marshal(strings.Clone(s)) // a string always marshals
			return append(dst, q...)
		}
	}
	dst = append(append(dst, '"'), s...)
	return append(dst, '"')
}
