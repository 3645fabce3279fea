package server

import (
	"encoding/hex"
	"strconv"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

// appendStatus appends the body of GET /v1/fingerprints/{fingerprint}: the
// JSON of the generated api.FingerprintStatus, byte for byte as
// encoding/json writes it (TestStatusJSON and FuzzStatusJSON compare the
// two, so a change to api/openapi.yaml that this misses fails the tests).
// It is the hottest response of the service (proof reads; see
// docs/benchmarks.md), where encoding/json and a string per hash took 30%
// of the handler's CPU; this writes it straight from the proof. batchID 0
// means pending (no batch); b is nil until the batch is anchored.
//
// Every string it writes is hex or a status name: nothing needs escaping.
func appendStatus(dst []byte, fp fingerprint.Fingerprint, status store.Status, batchID uint64, b *proof.Bundle) []byte {
	dst = append(dst, '{')
	if batchID != 0 {
		dst = append(dst, `"batch_id":`...)
		dst = strconv.AppendInt(dst, int64(batchID), 10)
		dst = append(dst, ',')
	}
	dst = appendHex(append(dst, `"fingerprint":`...), "", fp[:])
	if b != nil {
		dst = append(dst, `,"proof":{"anchors":[`...)
		for i, a := range b.Anchors {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"anchorer":"`...)
			dst = append(dst, checksumHex(a.Anchorer)...)
			dst = appendHex(append(dst, `","block_hash":`...), "0x", a.BlockHash[:])
			dst = strconv.AppendInt(append(dst, `,"block_number":`...), int64(a.BlockNumber), 10)
			dst = strconv.AppendInt(append(dst, `,"chain_id":`...), int64(a.ChainID), 10)
			dst = appendHex(append(dst, `,"tx_hash":`...), "0x", a.TxHash[:])
			dst = append(dst, '}')
		}
		dst = strconv.AppendInt(append(dst, `],"batch_id":`...), int64(b.BatchID), 10)
		dst = appendHex(append(dst, `,"fingerprint":`...), "", b.Fingerprint[:])
		dst = strconv.AppendInt(append(dst, `,"index":`...), int64(b.Index), 10)
		dst = append(dst, `,"path":[`...)
		for i, h := range b.Path {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendHex(dst, "", h[:])
		}
		dst = appendHex(append(dst, `],"root":`...), "", b.Root[:])
		dst = strconv.AppendInt(append(dst, `,"size":`...), int64(b.Size), 10)
		dst = strconv.AppendInt(append(dst, `,"version":`...), int64(b.Version), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"status":"`...)
	dst = append(dst, status...)
	return append(dst, `"}`...)
}

// appendHex appends b as a JSON string of lowercase hex after prefix.
func appendHex(dst []byte, prefix string, b []byte) []byte {
	dst = append(append(dst, '"'), prefix...)
	return append(hex.AppendEncode(dst, b), '"')
}

// checksums caches the EIP-55 form of anchoring addresses, which costs a
// Keccak-256 each: a deployment has one per chain.
var checksums = struct {
	sync.RWMutex
	m map[common.Address]string
}{m: map[common.Address]string{}}

func checksumHex(a common.Address) string {
	checksums.RLock()
	s, ok := checksums.m[a]
	checksums.RUnlock()
	if ok {
		return s
	}
	s = a.Hex()
	checksums.Lock()
	if len(checksums.m) >= 64 {
		clear(checksums.m)
	}
	checksums.m[a] = s
	checksums.Unlock()
	return s
}
