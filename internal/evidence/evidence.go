// Package evidence collects and checks the chain evidence of an anchor
// (proof.Evidence): the signed anchor transaction, its receipt, the header
// of its block, Merkle–Patricia proofs that both are at the transaction's
// index in that header's transactionsRoot and receiptsRoot, and the
// headers that follow the block up to the confirmation depth.
//
// Collect reads it once from a chain endpoint (the anchorer does, when an
// anchor is confirmed); Open checks it with no endpoint at all and says
// what it shows (Facts). Everything binary is go-ethereum's: core/types
// decodes and encodes transactions, receipts and headers, rlp the trie
// keys, and the trie package builds the block's tries (trie.Prove) and
// checks the proofs (trie.VerifyProof). This package has no RLP or trie
// code of its own.
//
// Evidence that Open accepts is consistent, not true: a made-up chain of
// headers is consistent too. It is bound to the real chain by one block
// hash the verifier trusts, compared with Facts.HashAt (or TipHash,
// BlockHash) at its height.
//
// CheckHeaderHash tells, at start, whether go-ethereum reproduces a
// chain's block hashes from the headers its endpoint returns; a chain
// where it does not (some chains add header fields) is served without
// evidence.
package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/trie/trienode"

	"github.com/attestd/attestd/internal/proof"
)

// The ways evidence can be false. Every error of Open wraps exactly one
// of them (and the underlying decoder's or trie's error); test with
// errors.Is. Their messages are meant to be shown to a person.
var (
	// ErrForm: the evidence is not well-formed (proof.Evidence.Check);
	// it also wraps proof.ErrInvalid.
	ErrForm = errors.New("the chain evidence is incomplete or malformed")
	// ErrTx: the transaction cannot be read, or its signature names no sender.
	ErrTx = errors.New("the anchor transaction in the chain evidence cannot be read")
	// ErrReceipt: the receipt cannot be read.
	ErrReceipt = errors.New("the transaction receipt in the chain evidence cannot be read")
	// ErrHeader: a block header cannot be read.
	ErrHeader = errors.New("a block header in the chain evidence cannot be read")
	// ErrHeaderChain: the headers do not follow each other (a header's
	// number is not one more than the one before, or its parent hash is
	// not the hash of the one before).
	ErrHeaderChain = errors.New("the block headers in the chain evidence do not form a chain")
	// ErrTxProof: the proof does not show the transaction at its index in
	// the block's transactions.
	ErrTxProof = errors.New("the chain evidence does not prove the transaction is in the block")
	// ErrReceiptProof: the proof does not show the receipt at the
	// transaction's index in the block's receipts.
	ErrReceiptProof = errors.New("the chain evidence does not prove the receipt belongs to the block")
)

// Errors of Collect and CheckHeaderHash.
var (
	// ErrHeaderHash: go-ethereum computes another block hash from a header
	// than the chain endpoint names: the chain's header format is not one
	// go-ethereum reproduces, and no evidence can be collected on it.
	ErrHeaderHash = errors.New("the chain's block hashes cannot be reproduced from its headers")
	// ErrChainMoved: the chain changed while the evidence was read (a
	// reorg, or the block is not yet deep enough); try again later.
	ErrChainMoved = errors.New("the chain changed while its evidence was read")
)

// Client is what Collect reads from a chain endpoint. *ethclient.Client
// satisfies it, and so does the client of go-ethereum's simulated backend
// (by type assertion: its declared interface omits BlockReceipts).
type Client interface {
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
	BlockByHash(ctx context.Context, hash common.Hash) (*types.Block, error)
	BlockReceipts(ctx context.Context, blockNrOrHash rpc.BlockNumberOrHash) ([]*types.Receipt, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
}

// Collect reads the evidence of transaction txHash with depth
// confirmations (the block holding it and depth-1 blocks on top; depth 0
// counts as 1): the receipt, the block by the receipt's block hash and
// its receipts, from which it builds the block's transaction and receipt
// tries and proves the transaction's index in both, and the depth-1
// headers that follow the block.
//
// Errors: ErrHeaderHash when the hash go-ethereum computes for the block
// is not the one the receipt names; ErrChainMoved when the following
// headers do not link to the block (a reorg) or are not there yet; an
// error when the tries built from the endpoint's transactions and
// receipts do not have the header's roots; the endpoint's errors
// (ethereum.NotFound for a transaction not mined) otherwise.
func Collect(ctx context.Context, c Client, txHash common.Hash, depth uint64) (*proof.Evidence, error) {
	depth = max(depth, 1)
	if depth-1 > proof.MaxEvidenceHeaders {
		return nil, fmt.Errorf("evidence of %d confirmations: at most %d are carried", depth, proof.MaxEvidenceHeaders+1)
	}
	r, err := c.TransactionReceipt(ctx, txHash)
	if err != nil {
		return nil, fmt.Errorf("reading the receipt of %s: %w", txHash, err)
	}
	block, err := c.BlockByHash(ctx, r.BlockHash)
	if err != nil {
		return nil, fmt.Errorf("reading block %s: %w", r.BlockHash, err)
	}
	if block.Hash() != r.BlockHash {
		return nil, fmt.Errorf("%w: block %d is named %s, its header hashes to %s", ErrHeaderHash, r.BlockNumber, r.BlockHash, block.Hash())
	}
	txs := block.Transactions()
	idx := uint64(r.TransactionIndex)
	if idx >= uint64(len(txs)) || txs[idx].Hash() != txHash {
		return nil, fmt.Errorf("%w: transaction %s is not at index %d of block %s", ErrChainMoved, txHash, idx, r.BlockHash)
	}
	receipts, err := c.BlockReceipts(ctx, rpc.BlockNumberOrHashWithHash(r.BlockHash, false))
	if err != nil {
		return nil, fmt.Errorf("reading the receipts of block %s: %w", r.BlockHash, err)
	}
	if len(receipts) != len(txs) {
		return nil, fmt.Errorf("block %s has %d transactions and %d receipts", r.BlockHash, len(txs), len(receipts))
	}
	hdr := block.Header()
	txProof, err := prove(types.Transactions(txs), hdr.TxHash, idx)
	if err != nil {
		return nil, fmt.Errorf("block %s transactions: %w", r.BlockHash, err)
	}
	rcProof, err := prove(types.Receipts(receipts), hdr.ReceiptHash, idx)
	if err != nil {
		return nil, fmt.Errorf("block %s receipts: %w", r.BlockHash, err)
	}
	ev := &proof.Evidence{Version: proof.EvidenceVersion, TxIndex: idx, TxProof: txProof, ReceiptProof: rcProof}
	if ev.Tx, err = txs[idx].MarshalBinary(); err != nil {
		return nil, err
	}
	if ev.Receipt, err = receipts[idx].MarshalBinary(); err != nil {
		return nil, err
	}
	if ev.Header, err = rlp.EncodeToBytes(hdr); err != nil {
		return nil, err
	}
	prev := hdr
	for n := hdr.Number.Uint64() + 1; n < hdr.Number.Uint64()+depth; n++ {
		h, err := c.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return nil, fmt.Errorf("%w: reading block %d: %w", ErrChainMoved, n, err)
		}
		if h.ParentHash != prev.Hash() || h.Number.Uint64() != n {
			return nil, fmt.Errorf("%w: block %d does not follow block %s", ErrChainMoved, n, prev.Hash())
		}
		enc, err := rlp.EncodeToBytes(h)
		if err != nil {
			return nil, err
		}
		ev.Headers = append(ev.Headers, enc)
		prev = h
	}
	return ev, nil
}

// prove builds the trie of list (keys RLP(i), values list's encodings,
// as types.DeriveSha does), checks its root is root, and returns the
// proof of key RLP(idx), root node first.
func prove(list types.DerivableList, root common.Hash, idx uint64) ([]hexutil.Bytes, error) {
	t := trie.NewEmpty(nil) // in memory: every node is resolved, nothing is read from a database
	var buf bytes.Buffer
	for i := range list.Len() {
		buf.Reset()
		list.EncodeIndex(i, &buf)
		if err := t.Update(rlp.AppendUint64(nil, uint64(i)), bytes.Clone(buf.Bytes())); err != nil {
			return nil, err
		}
	}
	if got := t.Hash(); got != root {
		return nil, fmt.Errorf("the endpoint's list hashes to %s, the header says %s", got, root)
	}
	var nodes trienode.ProofList
	if err := t.Prove(rlp.AppendUint64(nil, idx), &nodes); err != nil {
		return nil, err
	}
	out := make([]hexutil.Bytes, len(nodes))
	for i, n := range nodes {
		out[i] = hexutil.Bytes(n)
	}
	return out, nil
}

// Facts is what valid evidence shows. The block and its followers are
// consistent with each other; whether they are the chain's is for the
// caller to decide by comparing a hash it trusts with HashAt.
type Facts struct {
	ChainID       uint64          // the transaction's chain ID (EIP-155; 0 for an unprotected legacy transaction)
	TxHash        common.Hash     // the transaction's hash
	TxIndex       uint64          // its index in the block
	Sender        common.Address  // recovered from its signature
	To            *common.Address // its recipient; nil for a contract creation
	Calldata      []byte          // its input data
	ReceiptStatus uint64          // 1 (types.ReceiptStatusSuccessful) or 0 (reverted)
	BlockNumber   uint64
	BlockHash     common.Hash
	BlockTime     time.Time // the block's timestamp, UTC: the attested time
	TipNumber     uint64    // the last following header's number (BlockNumber when there is none)
	TipHash       common.Hash
	hashes        []common.Hash // the hashes of BlockNumber … TipNumber
}

// Confirmations is the number of blocks from the anchor block to the tip,
// both included.
func (f *Facts) Confirmations() uint64 { return f.TipNumber - f.BlockNumber + 1 }

// HashAt returns the hash of the evidence's block at height n, for n from
// BlockNumber to TipNumber; false outside.
func (f *Facts) HashAt(n uint64) (common.Hash, bool) {
	if n < f.BlockNumber || n > f.TipNumber {
		return common.Hash{}, false
	}
	return f.hashes[n-f.BlockNumber], true
}

// Open checks ev and returns what it shows. It decodes the transaction,
// the receipt and every header with go-ethereum (each encoding must be
// the canonical one: re-encoding gives the same bytes), checks that each
// following header's number is one more than the one before and its
// parent hash that one's hash, that TxProof proves exactly Tx at key
// RLP(TxIndex) under the header's transactionsRoot and ReceiptProof
// exactly Receipt there under its receiptsRoot (with no unused proof
// node), and recovers the sender. A reverted receipt is not an error:
// Facts.ReceiptStatus says so.
//
// Every error wraps one of ErrForm, ErrTx, ErrReceipt, ErrHeader,
// ErrHeaderChain, ErrTxProof and ErrReceiptProof. Open never panics and
// reads nothing but ev.
func Open(ev *proof.Evidence) (*Facts, error) {
	if ev == nil {
		return nil, fmt.Errorf("%w: %w: no chain evidence", ErrForm, proof.ErrInvalid)
	}
	if err := ev.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForm, err)
	}
	hdr, err := decodeHeader(ev.Header)
	if err != nil {
		return nil, fmt.Errorf("%w: the anchor block's header: %w", ErrHeader, err)
	}
	f := &Facts{
		BlockNumber: hdr.Number.Uint64(), BlockHash: hdr.Hash(),
		BlockTime: time.Unix(int64(min(hdr.Time, 1<<62)), 0).UTC(),
	}
	f.hashes = append(make([]common.Hash, 0, 1+len(ev.Headers)), f.BlockHash)
	prev := hdr
	for i, enc := range ev.Headers {
		h, err := decodeHeader(enc)
		if err != nil {
			return nil, fmt.Errorf("%w: following header %d: %w", ErrHeader, i+1, err)
		}
		if h.Number.Uint64() != prev.Number.Uint64()+1 || prev.Number.Uint64() == ^uint64(0) {
			return nil, fmt.Errorf("%w: following header %d is block %d, not %d", ErrHeaderChain, i+1, h.Number.Uint64(), prev.Number.Uint64()+1)
		}
		if h.ParentHash != f.hashes[len(f.hashes)-1] {
			return nil, fmt.Errorf("%w: block %d does not name block %d (%s) as its parent", ErrHeaderChain, h.Number.Uint64(), prev.Number.Uint64(), f.hashes[len(f.hashes)-1])
		}
		f.hashes = append(f.hashes, h.Hash())
		prev = h
	}
	f.TipNumber, f.TipHash = prev.Number.Uint64(), f.hashes[len(f.hashes)-1]

	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(ev.Tx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTx, err)
	}
	if enc, err := tx.MarshalBinary(); err != nil || !bytes.Equal(enc, ev.Tx) {
		return nil, fmt.Errorf("%w: it is not in its canonical encoding", ErrTx)
	}
	rc := new(types.Receipt)
	if err := rc.UnmarshalBinary(ev.Receipt); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReceipt, err)
	}
	if enc, err := rc.MarshalBinary(); err != nil || !bytes.Equal(enc, ev.Receipt) {
		return nil, fmt.Errorf("%w: it is not in its canonical encoding", ErrReceipt)
	}
	key := rlp.AppendUint64(nil, ev.TxIndex)
	if err := verify(hdr.TxHash, key, ev.TxProof, ev.Tx); err != nil {
		return nil, fmt.Errorf("%w (index %d of block %d): %w", ErrTxProof, ev.TxIndex, f.BlockNumber, err)
	}
	if err := verify(hdr.ReceiptHash, key, ev.ReceiptProof, ev.Receipt); err != nil {
		return nil, fmt.Errorf("%w (index %d of block %d): %w", ErrReceiptProof, ev.TxIndex, f.BlockNumber, err)
	}

	if id := tx.ChainId(); id.IsUint64() {
		f.ChainID = id.Uint64()
	} else {
		return nil, fmt.Errorf("%w: chain ID %s is out of range", ErrTx, id)
	}
	if f.Sender, err = types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx); err != nil {
		return nil, fmt.Errorf("%w: its signature names no sender: %w", ErrTx, err)
	}
	f.TxHash, f.TxIndex, f.To, f.Calldata = tx.Hash(), ev.TxIndex, tx.To(), tx.Data()
	f.ReceiptStatus = rc.Status
	return f, nil
}

// decodeHeader decodes a header's RLP and insists on its canonical form.
func decodeHeader(enc []byte) (*types.Header, error) {
	h := new(types.Header)
	if err := rlp.DecodeBytes(enc, h); err != nil {
		return nil, err
	}
	if again, err := rlp.EncodeToBytes(h); err != nil || !bytes.Equal(again, enc) {
		return nil, errors.New("it is not in its canonical encoding")
	}
	if h.Number == nil || !h.Number.IsUint64() {
		return nil, errors.New("its block number is out of range")
	}
	return h, nil
}

// verify checks that nodes prove exactly value at key under root, using
// every node once.
func verify(root common.Hash, key []byte, nodes []hexutil.Bytes, value []byte) error {
	var list trienode.ProofList
	for _, n := range nodes {
		list = append(list, rlp.RawValue(n))
	}
	db := &usedReader{set: list.Set(), used: map[string]bool{}}
	got, err := trie.VerifyProof(root, key, db)
	switch {
	case err != nil:
		return err
	case got == nil:
		return errors.New("the proof shows nothing at that index")
	case !bytes.Equal(got, value):
		return errors.New("the proof shows another value at that index")
	case len(db.used) != len(nodes):
		return fmt.Errorf("%d of the proof's %d nodes are not on the path", len(nodes)-len(db.used), len(nodes))
	}
	return nil
}

// usedReader records which proof nodes trie.VerifyProof read. It counts
// distinct nodes, so a node given twice leaves one unused.
type usedReader struct {
	set  *trienode.ProofSet
	used map[string]bool
}

func (r *usedReader) Has(key []byte) (bool, error) { return r.set.Has(key) }

func (r *usedReader) Get(key []byte) ([]byte, error) {
	v, err := r.set.Get(key)
	if err == nil {
		r.used[string(key)] = true
	}
	return v, err
}

var _ ethdb.KeyValueReader = (*usedReader)(nil)

// Caller is go-ethereum's *rpc.Client's raw call (ethclient.Client's
// Client() returns one).
type Caller interface {
	CallContext(ctx context.Context, result any, method string, args ...any) error
}

// CheckHeaderHash reads the endpoint's latest block header as JSON
// (eth_getBlockByNumber "latest"), decodes it as go-ethereum does
// (types.Header's JSON form) and compares the hash go-ethereum computes
// with the block's "hash". It returns nil when they agree, an error
// wrapping ErrHeaderHash when they differ or the header cannot be read
// as a go-ethereum header (the chain is then served without evidence),
// and other errors when the endpoint fails (the check could not be made).
func CheckHeaderHash(ctx context.Context, c Caller) error {
	var raw json.RawMessage
	if err := c.CallContext(ctx, &raw, "eth_getBlockByNumber", "latest", false); err != nil {
		return fmt.Errorf("reading the latest block: %w", err)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return errors.New("reading the latest block: the endpoint has none")
	}
	var named struct {
		Hash *common.Hash `json:"hash"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Hash == nil {
		return fmt.Errorf("%w: the latest block has no hash field", ErrHeaderHash)
	}
	var h types.Header
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("%w: go-ethereum cannot read the latest block's header: %w", ErrHeaderHash, err)
	}
	if got := h.Hash(); got != *named.Hash {
		return fmt.Errorf("%w: block %d is named %s, go-ethereum computes %s from its header", ErrHeaderHash, h.Number, named.Hash, got)
	}
	return nil
}
