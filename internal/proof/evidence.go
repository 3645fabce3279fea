package proof

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/attestd/attestd/internal/strictjson"
)

// EvidenceVersion is the chain evidence format this package reads and writes.
const EvidenceVersion = 1

// Bounds of chain evidence (checked by Evidence.Check). A real one for an
// anchor at 12 confirmations is some tens of KiB of JSON; the bounds are
// far above what an honest chain produces and keep a hostile file from
// costing more than a few MiB of memory to check.
const (
	// MaxEvidenceHeaders bounds the headers following the anchor block
	// (a confirmation depth of 257).
	MaxEvidenceHeaders = 256
	// MaxProofNodes bounds each Merkle–Patricia proof: the key (the RLP of
	// a transaction index, at most 9 bytes) has at most 18 nibbles, so an
	// honest proof has at most 19 nodes.
	MaxProofNodes = 64
	// MaxEvidenceItem bounds each encoding (transaction, receipt, header,
	// proof node) in bytes.
	MaxEvidenceItem = 64 << 10
	// MaxEvidenceSize bounds the JSON encoding that ParseEvidence reads.
	MaxEvidenceSize = 4 << 20
)

// Evidence is the chain evidence of one anchor: what a verifier needs to
// check, with no chain endpoint, that the anchor transaction is at its
// index in a block and succeeded there, and that the block has the
// following headers — given only one block hash it trusts. Every binary
// field is the consensus encoding, as 0x-prefixed hex (lowercase when
// written), so that any Ethereum library (a browser's too) decodes it:
//
//   - Tx: the signed transaction (types.Transaction.MarshalBinary: the
//     RLP of a legacy transaction, type byte || RLP for a typed one);
//   - TxIndex: its index in the block;
//   - Receipt: its receipt, consensus encoding (types.Receipt.MarshalBinary);
//   - Header: the RLP of the block header holding it;
//   - TxProof: the Merkle–Patricia proof nodes (RLP, root first) of the
//     path to key RLP(TxIndex) in the trie whose root is the header's
//     transactionsRoot; the value there is Tx;
//   - ReceiptProof: the same for the receipt in receiptsRoot;
//   - Headers: the RLP headers following the block, ascending, each with
//     the number one above and the parentHash the Keccak-256 of the one
//     before (the first: of Header). An anchor with N confirmations has
//     N-1 of them.
//
// Evidence is data only: Check checks its form, internal/evidence decodes
// and checks what it says.
type Evidence struct {
	Version      int             `json:"version"`
	Tx           hexutil.Bytes   `json:"tx"`
	TxIndex      uint64          `json:"tx_index"`
	Receipt      hexutil.Bytes   `json:"receipt"`
	Header       hexutil.Bytes   `json:"header"`
	TxProof      []hexutil.Bytes `json:"tx_proof"`
	ReceiptProof []hexutil.Bytes `json:"receipt_proof"`
	Headers      []hexutil.Bytes `json:"headers"`
}

// ParseEvidence decodes chain evidence strictly (what internal/strictjson
// refuses, more than MaxEvidenceSize bytes, or what Check refuses is an
// error wrapping ErrInvalid). Like Parse it checks form, not truth.
func ParseEvidence(data []byte) (*Evidence, error) {
	if len(data) > MaxEvidenceSize {
		return nil, fmt.Errorf("%w: chain evidence is %d bytes, limit %d", ErrInvalid, len(data), MaxEvidenceSize)
	}
	var ev Evidence
	if err := strictjson.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("%w: chain evidence: %w", ErrInvalid, err)
	}
	if err := ev.Check(); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Check validates the evidence's form: the version is EvidenceVersion;
// the transaction, receipt and header are present; each proof has 1 to
// MaxProofNodes nodes; there are at most MaxEvidenceHeaders following
// headers; and every encoding is 1 to MaxEvidenceItem bytes. Errors wrap
// ErrInvalid.
func (e *Evidence) Check() error {
	if e.Version != EvidenceVersion {
		return fmt.Errorf("%w: chain evidence version %d is not supported (want %d)", ErrInvalid, e.Version, EvidenceVersion)
	}
	for _, f := range []struct {
		name string
		v    []byte
	}{{"tx", e.Tx}, {"receipt", e.Receipt}, {"header", e.Header}} {
		if err := checkItem(f.name, f.v); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		name  string
		nodes []hexutil.Bytes
	}{{"tx_proof", e.TxProof}, {"receipt_proof", e.ReceiptProof}} {
		if len(p.nodes) == 0 || len(p.nodes) > MaxProofNodes {
			return fmt.Errorf("%w: chain evidence %s has %d nodes, want 1 to %d", ErrInvalid, p.name, len(p.nodes), MaxProofNodes)
		}
		for i, n := range p.nodes {
			if err := checkItem(fmt.Sprintf("%s[%d]", p.name, i), n); err != nil {
				return err
			}
		}
	}
	if len(e.Headers) > MaxEvidenceHeaders {
		return fmt.Errorf("%w: chain evidence has %d following headers, at most %d", ErrInvalid, len(e.Headers), MaxEvidenceHeaders)
	}
	for i, h := range e.Headers {
		if err := checkItem(fmt.Sprintf("headers[%d]", i), h); err != nil {
			return err
		}
	}
	return nil
}

func checkItem(name string, v []byte) error {
	switch {
	case len(v) == 0:
		return fmt.Errorf("%w: chain evidence %s is missing or empty", ErrInvalid, name)
	case len(v) > MaxEvidenceItem:
		return fmt.Errorf("%w: chain evidence %s is %d bytes, at most %d", ErrInvalid, name, len(v), MaxEvidenceItem)
	}
	return nil
}
