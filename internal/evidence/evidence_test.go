package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/proof"
)

// sentinels are Open's errors; every failure wraps exactly one.
var sentinels = []error{evidence.ErrForm, evidence.ErrTx, evidence.ErrReceipt, evidence.ErrHeader,
	evidence.ErrHeaderChain, evidence.ErrTxProof, evidence.ErrReceiptProof}

// openFails asserts Open(ev) fails with one of want, and with exactly one
// sentinel.
func openFails(t *testing.T, ev *proof.Evidence, want ...error) error {
	t.Helper()
	f, err := evidence.Open(ev)
	if err == nil {
		t.Fatalf("Open accepted it: %+v", f)
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("Open error %q wraps %d sentinels, want exactly 1", err, n)
	}
	if !slices.ContainsFunc(want, func(s error) bool { return errors.Is(err, s) }) {
		t.Fatalf("Open error %q, want one of %v", err, want)
	}
	return err
}

// TestCollectOpen: evidence collected for a transaction at the first,
// middle and last index of blocks of 1, 50 and 500 transactions, at 1, 2
// and 12 confirmations, survives its JSON form and opens to the facts
// the chain says.
func TestCollectOpen(t *testing.T) {
	c := sharedChain(t)
	ctx := context.Background()
	for _, n := range []int{1, 50, 500} {
		for _, idx := range slices.Compact([]int{0, n / 2, n - 1}) {
			for _, depth := range []uint64{1, 2, 12} {
				t.Run(fmt.Sprintf("block of %d/index %d/depth %d", n, idx, depth), func(t *testing.T) {
					txHash := c.blocks[n][idx]
					ev := c.collect(t, txHash, depth)
					data, err := json.Marshal(ev)
					if err != nil {
						t.Fatal(err)
					}
					parsed, err := proof.ParseEvidence(data)
					if err != nil {
						t.Fatalf("ParseEvidence of collected evidence: %v", err)
					}
					f, err := evidence.Open(parsed)
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					r, err := c.client.TransactionReceipt(ctx, txHash)
					if err != nil {
						t.Fatal(err)
					}
					tx, _, err := c.sim.Client().TransactionByHash(ctx, txHash)
					if err != nil {
						t.Fatal(err)
					}
					blk, err := c.client.HeaderByNumber(ctx, r.BlockNumber)
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case f.ChainID != chainID, f.TxHash != txHash, f.TxIndex != uint64(idx), r.TransactionIndex != uint(idx):
						t.Fatalf("facts %+v; tx %s at %d on chain %d", f, txHash, idx, chainID)
					case f.Sender != anchorAddr || f.To == nil || *f.To != anchorAddr:
						t.Fatalf("sender %s to %v, want self-send of %s", f.Sender, f.To, anchorAddr)
					case !bytes.Equal(f.Calldata, tx.Data()):
						t.Fatalf("calldata %x, want %x", f.Calldata, tx.Data())
					case f.ReceiptStatus != types.ReceiptStatusSuccessful:
						t.Fatalf("receipt status %d", f.ReceiptStatus)
					case f.BlockNumber != r.BlockNumber.Uint64() || f.BlockHash != r.BlockHash || f.BlockHash != blk.Hash():
						t.Fatalf("block %d %s, want %d %s", f.BlockNumber, f.BlockHash, r.BlockNumber, r.BlockHash)
					case f.BlockTime.Unix() != int64(blk.Time) || f.BlockTime.Location().String() != "UTC":
						t.Fatalf("block time %v, want %d UTC", f.BlockTime, blk.Time)
					case f.TipNumber != f.BlockNumber+depth-1 || f.Confirmations() != depth || len(ev.Headers) != int(depth-1):
						t.Fatalf("tip %d, %d confirmations, %d headers; want depth %d above %d", f.TipNumber, f.Confirmations(), len(ev.Headers), depth, f.BlockNumber)
					}
					for h := f.BlockNumber - 1; h <= f.TipNumber+1; h++ {
						got, ok := f.HashAt(h)
						if h < f.BlockNumber || h > f.TipNumber {
							if ok {
								t.Fatalf("HashAt(%d) outside [%d, %d] = %s", h, f.BlockNumber, f.TipNumber, got)
							}
							continue
						}
						canon, err := c.client.HeaderByNumber(ctx, new(big.Int).SetUint64(h))
						if err != nil {
							t.Fatal(err)
						}
						if !ok || got != canon.Hash() {
							t.Fatalf("HashAt(%d) = %s, %v; the chain has %s", h, got, ok, canon.Hash())
						}
						if h == f.TipNumber && f.TipHash != got {
							t.Fatalf("TipHash %s, HashAt(tip) %s", f.TipHash, got)
						}
					}
				})
			}
		}
	}
}

// TestOpenReverted: a reverted transaction's evidence opens; the facts
// say status 0 (the verifier decides what that means).
func TestOpenReverted(t *testing.T) {
	c := sharedChain(t)
	f, err := evidence.Open(c.collect(t, c.reverted, 3))
	if err != nil {
		t.Fatal(err)
	}
	if f.ReceiptStatus != types.ReceiptStatusFailed || f.To == nil || *f.To != revertAddr {
		t.Fatalf("facts of the reverted tx: status %d to %v", f.ReceiptStatus, f.To)
	}
}

// TestOpenOtherSender: a transaction sent by another account opens; the
// facts name that account.
func TestOpenOtherSender(t *testing.T) {
	c := sharedChain(t)
	f, err := evidence.Open(c.collect(t, c.foreign, 3))
	if err != nil {
		t.Fatal(err)
	}
	if f.Sender != otherAddr || f.TxHash != c.foreign {
		t.Fatalf("sender %s, want %s", f.Sender, otherAddr)
	}
}

// TestOpenRejects: evidence put together wrongly is refused, and the
// error names the part that is false.
func TestOpenRejects(t *testing.T) {
	c := sharedChain(t)
	base := c.collect(t, c.blocks[50][17], 5)
	other := c.collect(t, c.blocks[500][17], 5) // same index, another block
	clone := func() *proof.Evidence { return cloneEvidence(base) }
	for _, tc := range []struct {
		name   string
		mutate func(ev *proof.Evidence)
		want   error
	}{
		{"gap in the header chain", func(ev *proof.Evidence) { ev.Headers = slices.Delete(ev.Headers, 1, 2) }, evidence.ErrHeaderChain},
		{"headers out of order", func(ev *proof.Evidence) { ev.Headers[0], ev.Headers[1] = ev.Headers[1], ev.Headers[0] }, evidence.ErrHeaderChain},
		{"header repeated", func(ev *proof.Evidence) { ev.Headers[1] = ev.Headers[0] }, evidence.ErrHeaderChain},
		{"followers of another block", func(ev *proof.Evidence) { ev.Headers = other.Headers }, evidence.ErrHeaderChain},
		{"anchor header of another block", func(ev *proof.Evidence) { ev.Header = other.Header }, evidence.ErrHeaderChain},
		{"a follower re-made (its successor does not name it)", func(ev *proof.Evidence) { ev.Headers[1] = reseal(t, ev.Headers[1]) }, evidence.ErrHeaderChain},
		{"the anchor header re-made", func(ev *proof.Evidence) { ev.Header = reseal(t, ev.Header) }, evidence.ErrHeaderChain},
		{"tx proof from another block", func(ev *proof.Evidence) { ev.TxProof = other.TxProof }, evidence.ErrTxProof},
		{"receipt proof from another block", func(ev *proof.Evidence) { ev.ReceiptProof = other.ReceiptProof }, evidence.ErrReceiptProof},
		{"tx of another block", func(ev *proof.Evidence) { ev.Tx = other.Tx }, evidence.ErrTxProof},
		{"receipt of another block", func(ev *proof.Evidence) { ev.Receipt = other.Receipt }, evidence.ErrReceiptProof},
		{"proofs swapped", func(ev *proof.Evidence) { ev.TxProof, ev.ReceiptProof = ev.ReceiptProof, ev.TxProof }, evidence.ErrTxProof},
		{"index one up", func(ev *proof.Evidence) { ev.TxIndex++ }, evidence.ErrTxProof},
		{"index one down", func(ev *proof.Evidence) { ev.TxIndex-- }, evidence.ErrTxProof},
		{"index past the block", func(ev *proof.Evidence) { ev.TxIndex = 50 }, evidence.ErrTxProof},
		{"tx proof with an extra node", func(ev *proof.Evidence) { ev.TxProof = append(ev.TxProof, other.TxProof[0]) }, evidence.ErrTxProof},
		{"tx proof with a node twice", func(ev *proof.Evidence) { ev.TxProof = append(ev.TxProof, ev.TxProof[0]) }, evidence.ErrTxProof},
		{"tx proof without its last node", func(ev *proof.Evidence) { ev.TxProof = ev.TxProof[:len(ev.TxProof)-1] }, evidence.ErrTxProof},
		{"receipt proof without its root", func(ev *proof.Evidence) { ev.ReceiptProof = ev.ReceiptProof[1:] }, evidence.ErrReceiptProof},
		{"tx with trailing byte", func(ev *proof.Evidence) { ev.Tx = append(ev.Tx, 0) }, evidence.ErrTx},
		{"receipt with trailing byte", func(ev *proof.Evidence) { ev.Receipt = append(ev.Receipt, 0) }, evidence.ErrReceipt},
		{"header with trailing byte", func(ev *proof.Evidence) { ev.Header = append(ev.Header, 0) }, evidence.ErrHeader},
		{"version 2", func(ev *proof.Evidence) { ev.Version = 2 }, evidence.ErrForm},
		{"no tx proof", func(ev *proof.Evidence) { ev.TxProof = nil }, evidence.ErrForm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := clone()
			tc.mutate(ev)
			openFails(t, ev, tc.want)
		})
	}
	if _, err := evidence.Open(nil); !errors.Is(err, evidence.ErrForm) || !errors.Is(err, proof.ErrInvalid) {
		t.Fatalf("Open(nil) = %v", err)
	}
	// The unchanged evidence opens (the cases above broke only what they say).
	if _, err := evidence.Open(clone()); err != nil {
		t.Fatal(err)
	}
}

// reseal returns the header enc with other extra data: the same number
// and parent, another hash.
func reseal(t *testing.T, enc []byte) []byte {
	t.Helper()
	var h types.Header
	if err := rlp.DecodeBytes(enc, &h); err != nil {
		t.Fatal(err)
	}
	h.Extra = append(h.Extra, 'x')
	out, err := rlp.EncodeToBytes(&h)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cloneEvidence(ev *proof.Evidence) *proof.Evidence {
	cl := func(bs []hexutil.Bytes) []hexutil.Bytes {
		out := make([]hexutil.Bytes, len(bs))
		for i, b := range bs {
			out[i] = bytes.Clone(b)
		}
		return out
	}
	return &proof.Evidence{
		Version: ev.Version, Tx: bytes.Clone(ev.Tx), TxIndex: ev.TxIndex, Receipt: bytes.Clone(ev.Receipt),
		Header: bytes.Clone(ev.Header), TxProof: cl(ev.TxProof), ReceiptProof: cl(ev.ReceiptProof), Headers: cl(ev.Headers),
	}
}

// TestMutations flips every bit pattern 0x01 and 0xff into every byte of
// every field, one at a time, and opens the result: it must fail with the
// sentinel of the part changed — or, for a change of the last header
// (which nothing later names), open to facts whose hash at that height
// differs, which a verifier's trusted block hash refuses. Never a panic,
// never the original facts.
func TestMutations(t *testing.T) {
	c := sharedChain(t)
	for _, tc := range []struct {
		name  string
		n     int
		depth uint64
	}{{"50-tx block, 3 confirmations", 50, 3}, {"1-tx block, 1 confirmation", 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			base := c.collect(t, c.blocks[tc.n][tc.n/2], tc.depth)
			orig, err := evidence.Open(base)
			if err != nil {
				t.Fatal(err)
			}
			type field struct {
				name  string
				get   func(ev *proof.Evidence) []byte
				want  []error
				tipOK bool // a change may open, with another hash at its height
			}
			fields := []field{
				{"tx", func(ev *proof.Evidence) []byte { return ev.Tx }, []error{evidence.ErrTx, evidence.ErrTxProof}, false},
				{"receipt", func(ev *proof.Evidence) []byte { return ev.Receipt }, []error{evidence.ErrReceipt, evidence.ErrReceiptProof}, false},
			}
			hdrWant := []error{evidence.ErrHeader, evidence.ErrHeaderChain}
			if len(base.Headers) == 0 { // nothing names the block: a change shows in its roots or its hash
				hdrWant = []error{evidence.ErrHeader, evidence.ErrTxProof, evidence.ErrReceiptProof}
			}
			fields = append(fields, field{"header", func(ev *proof.Evidence) []byte { return ev.Header }, hdrWant, len(base.Headers) == 0})
			for i := range base.Headers {
				fields = append(fields, field{fmt.Sprintf("headers[%d]", i), func(ev *proof.Evidence) []byte { return ev.Headers[i] },
					[]error{evidence.ErrHeader, evidence.ErrHeaderChain}, i == len(base.Headers)-1})
			}
			for i := range base.TxProof {
				fields = append(fields, field{fmt.Sprintf("tx_proof[%d]", i), func(ev *proof.Evidence) []byte { return ev.TxProof[i] }, []error{evidence.ErrTxProof}, false})
			}
			for i := range base.ReceiptProof {
				fields = append(fields, field{fmt.Sprintf("receipt_proof[%d]", i), func(ev *proof.Evidence) []byte { return ev.ReceiptProof[i] }, []error{evidence.ErrReceiptProof}, false})
			}
			total := 0
			for _, fd := range fields {
				ev := cloneEvidence(base)
				b := fd.get(ev)
				for pos := range b {
					for _, x := range []byte{0x01, 0xff} {
						b[pos] ^= x
						total++
						f, err := evidence.Open(ev)
						switch {
						case err == nil && fd.tipOK:
							if h, _ := f.HashAt(f.TipNumber); f.TipNumber == orig.TipNumber && h == orig.TipHash {
								t.Fatalf("%s byte %d ^ %#x: opens to the original tip hash", fd.name, pos, x)
							}
						case err == nil:
							t.Fatalf("%s byte %d ^ %#x: Open accepted it", fd.name, pos, x)
						case !slices.ContainsFunc(fd.want, func(s error) bool { return errors.Is(err, s) }):
							t.Fatalf("%s byte %d ^ %#x: Open error %q, want one of %v", fd.name, pos, x, err, fd.want)
						}
						b[pos] ^= x
					}
				}
			}
			t.Logf("%d mutations of %d fields", total, len(fields))
			if _, err := evidence.Open(base); err != nil {
				t.Fatalf("the mutations changed the base evidence: %v", err)
			}
		})
	}
}

// flaky wraps the fixture's client with changes to what it answers.
type flaky struct {
	evidence.Client
	block    func(*types.Block) *types.Block
	receipts func([]*types.Receipt) []*types.Receipt
	header   func(*types.Header) *types.Header
}

func (f flaky) BlockByHash(ctx context.Context, h common.Hash) (*types.Block, error) {
	b, err := f.Client.BlockByHash(ctx, h)
	if err == nil && f.block != nil {
		b = f.block(b)
	}
	return b, err
}

func (f flaky) BlockReceipts(ctx context.Context, id rpc.BlockNumberOrHash) ([]*types.Receipt, error) {
	rs, err := f.Client.BlockReceipts(ctx, id)
	if err == nil && f.receipts != nil {
		rs = f.receipts(rs)
	}
	return rs, err
}

func (f flaky) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	h, err := f.Client.HeaderByNumber(ctx, n)
	if err == nil && f.header != nil {
		h = f.header(h)
	}
	return h, err
}

// TestCollectRefuses: Collect returns no evidence when the endpoint's
// answers do not add up, and says why.
func TestCollectRefuses(t *testing.T) {
	c := sharedChain(t)
	ctx := context.Background()
	tx := c.blocks[50][3]
	for _, tc := range []struct {
		name  string
		cl    flaky
		depth uint64
		want  error // nil: any error but these two
	}{
		{"header hash not reproduced", flaky{block: func(b *types.Block) *types.Block {
			h := b.Header()
			h.Extra = append(h.Extra, 0xee) // a field go-ethereum would not know of changes the hash the same way
			return b.WithSeal(h)
		}}, 3, evidence.ErrHeaderHash},
		{"a receipt differs from the block's", flaky{receipts: func(rs []*types.Receipt) []*types.Receipt {
			rs[7].CumulativeGasUsed++
			return rs
		}}, 3, nil},
		{"a receipt missing", flaky{receipts: func(rs []*types.Receipt) []*types.Receipt { return rs[1:] }}, 3, nil},
		{"a transaction missing", flaky{block: func(b *types.Block) *types.Block {
			return b.WithBody(types.Body{Transactions: b.Transactions()[:49]})
		}}, 3, nil},
		{"a follower on another fork", flaky{header: func(h *types.Header) *types.Header {
			h.ParentHash[0] ^= 1
			return h
		}}, 3, evidence.ErrChainMoved},
		{"not deep enough yet", flaky{}, 100, evidence.ErrChainMoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := tc.cl
			cl.Client = c.client
			ev, err := evidence.Collect(ctx, cl, tx, tc.depth)
			if err == nil {
				t.Fatalf("Collect returned evidence: %+v", ev)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Collect error %q, want %v", err, tc.want)
			}
			if tc.want == nil && (errors.Is(err, evidence.ErrHeaderHash) || errors.Is(err, evidence.ErrChainMoved)) {
				t.Fatalf("Collect error %q blames the chain or its format", err)
			}
		})
	}
	if _, err := evidence.Collect(ctx, c.client, common.Hash{1}, 1); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("Collect of an unknown tx: %v, want NotFound", err)
	}
}

// rawCaller answers eth_getBlockByNumber with the JSON of f(real answer).
type rawCaller struct {
	real evidence.Caller
	f    func(m map[string]any)
	err  error
}

func (r rawCaller) CallContext(ctx context.Context, result any, method string, args ...any) error {
	if r.err != nil {
		return r.err
	}
	var m map[string]any
	if err := r.real.CallContext(ctx, &m, method, args...); err != nil {
		return err
	}
	r.f(m)
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, result)
}

// headerCaller answers eth_getBlockByNumber("latest") with the JSON of
// the latest header as go-ethereum encodes it.
type headerCaller struct{ c evidence.Client }

func (h headerCaller) CallContext(ctx context.Context, result any, method string, args ...any) error {
	if method != "eth_getBlockByNumber" || len(args) != 2 || args[0] != "latest" || args[1] != false {
		return fmt.Errorf("unexpected call %s%v", method, args)
	}
	hdr, err := h.c.HeaderByNumber(ctx, nil)
	if err != nil {
		return err
	}
	data, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, result)
}

func TestCheckHeaderHash(t *testing.T) {
	c := sharedChain(t)
	ctx := context.Background()
	// The simulated client hides its *rpc.Client; its header's JSON (which
	// has the "hash" field, as an endpoint's answer) stands in for it.
	rc := headerCaller{c.client}
	if err := evidence.CheckHeaderHash(ctx, rc); err != nil {
		t.Fatalf("go-ethereum's own chain: %v", err)
	}
	for name, f := range map[string]func(m map[string]any){
		"an extra header field": func(m map[string]any) { m["sealFields"] = []string{"0x01"}; m["extraData"] = "0x0102" },
		"another hash":          func(m map[string]any) { m["hash"] = common.Hash{1}.Hex() },
		"no hash":               func(m map[string]any) { delete(m, "hash") },
		"unreadable header":     func(m map[string]any) { delete(m, "stateRoot") },
	} {
		t.Run(name, func(t *testing.T) {
			if err := evidence.CheckHeaderHash(ctx, rawCaller{real: rc, f: f}); !errors.Is(err, evidence.ErrHeaderHash) {
				t.Fatalf("CheckHeaderHash = %v, want ErrHeaderHash", err)
			}
		})
	}
	down := errors.New("connection refused")
	if err := evidence.CheckHeaderHash(ctx, rawCaller{err: down}); !errors.Is(err, down) || errors.Is(err, evidence.ErrHeaderHash) {
		t.Fatalf("endpoint down: %v, want its error and not ErrHeaderHash", err)
	}
}
