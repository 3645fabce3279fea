package store

import (
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// anchorRecord is the stored form of an Anchor, shared by the backends
// (the batch and chain IDs live in the key).
type anchorRecord struct {
	State       AnchorState    `json:"state"`
	From        common.Address `json:"from"`
	To          common.Address `json:"to"`
	Nonce       uint64         `json:"nonce"`
	TxHash      common.Hash    `json:"tx_hash"`
	RawTx       []byte         `json:"raw_tx"`
	Replaced    []common.Hash  `json:"replaced,omitempty"`
	SignedAt    time.Time      `json:"signed_at"`
	BroadcastAt time.Time      `json:"broadcast_at"`
	BlockNumber uint64         `json:"block_number,omitempty"`
	BlockHash   common.Hash    `json:"block_hash"`
	BlockTime   time.Time      `json:"block_time"`
	GasUsed     uint64         `json:"gas_used,omitempty"`
	FeeWei      string         `json:"fee_wei,omitempty"` // decimal
	MinedAt     time.Time      `json:"mined_at"`
	ConfirmedAt time.Time      `json:"confirmed_at"`
	// Evidence (base64, as encoding/json writes []byte) is absent from
	// records without it, so those are what they were before it existed,
	// and records written before it decode with none.
	Evidence []byte `json:"evidence,omitempty"`
}

// EncodeAnchor is the stored (JSON) form of a, without its batch and chain
// IDs, which the backend keeps in the key.
func EncodeAnchor(a Anchor) ([]byte, error) {
	if !ValidAnchorState(a.State) {
		return nil, fmt.Errorf("invalid anchor state %q", a.State)
	}
	r := anchorRecord{
		State: a.State, From: a.From, To: a.To, Nonce: a.Nonce, TxHash: a.TxHash,
		RawTx: a.RawTx, Replaced: a.Replaced,
		SignedAt: a.SignedAt.UTC(), BroadcastAt: a.BroadcastAt.UTC(),
		BlockNumber: a.BlockNumber, BlockHash: a.BlockHash, BlockTime: a.BlockTime.UTC(),
		GasUsed: a.GasUsed, MinedAt: a.MinedAt.UTC(), ConfirmedAt: a.ConfirmedAt.UTC(),
		Evidence: a.Evidence,
	}
	if a.FeeWei != nil {
		r.FeeWei = a.FeeWei.String()
	}
	return json.Marshal(r)
}

// EncodeAnchorWrite checks a PutAnchor call — a.State one of the three
// states, prev one of them or empty — and returns a's stored form. Both
// backends start PutAnchor with it.
func EncodeAnchorWrite(a Anchor, prev AnchorState) ([]byte, error) {
	if prev != "" && !ValidAnchorState(prev) {
		return nil, fmt.Errorf("invalid previous anchor state %q", prev)
	}
	return EncodeAnchor(a)
}

// DecodeAnchor parses what EncodeAnchor wrote for batch id on chainID.
func DecodeAnchor(id, chainID uint64, v []byte) (Anchor, error) {
	var r anchorRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return Anchor{}, fmt.Errorf("anchor of batch %d on chain %d: %w", id, chainID, err)
	}
	a := Anchor{
		BatchID: id, ChainID: chainID, State: r.State, From: r.From, To: r.To, Nonce: r.Nonce,
		TxHash: r.TxHash, RawTx: r.RawTx, Replaced: r.Replaced,
		SignedAt: r.SignedAt, BroadcastAt: r.BroadcastAt,
		BlockNumber: r.BlockNumber, BlockHash: r.BlockHash, BlockTime: r.BlockTime,
		GasUsed: r.GasUsed, MinedAt: r.MinedAt, ConfirmedAt: r.ConfirmedAt,
		Evidence: r.Evidence,
	}
	if r.FeeWei != "" {
		fee, ok := new(big.Int).SetString(r.FeeWei, 10)
		if !ok {
			return Anchor{}, fmt.Errorf("anchor of batch %d on chain %d: bad fee %q", id, chainID, r.FeeWei)
		}
		a.FeeWei = fee
	}
	return a, nil
}

// AnchorStateOf returns the state in a stored record ("" for nil).
func AnchorStateOf(v []byte) (AnchorState, error) {
	if v == nil {
		return "", nil
	}
	var r struct {
		State AnchorState `json:"state"`
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return "", fmt.Errorf("bad anchor record: %w", err)
	}
	return r.State, nil
}

// ValidAnchorState reports whether s is one of the three anchor states.
func ValidAnchorState(s AnchorState) bool {
	switch s {
	case AnchorSigned, AnchorMined, AnchorConfirmed:
		return true
	}
	return false
}
