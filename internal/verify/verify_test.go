package verify

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
)

func checkNames(r Result) []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name)
	}
	return out
}

func failedNames(r Result) []string {
	var out []string
	for _, c := range r.Failed() {
		out = append(out, c.Name)
	}
	return out
}

// allChecks is every check of a valid bundle verified on chain 1337, in
// order; withDoc adds the fingerprint check.
func allChecks(withDoc bool) []string {
	out := []string{CheckMerklePath, CheckChains}
	if withDoc {
		out = append([]string{CheckFingerprint}, out...)
	}
	for _, c := range []string{CheckRPC, CheckTx, CheckStatus, CheckSender, CheckPayload, CheckCanonical, CheckConfirmed} {
		out = append(out, "anchor[1337]."+c)
	}
	return out
}

// wantFailed fails t unless r is invalid with exactly the named checks
// failed, and no attested time.
func wantFailed(t *testing.T, r Result, names ...string) {
	t.Helper()
	if r.Valid || !r.AttestedAt.IsZero() {
		t.Errorf("Valid %v, AttestedAt %v; want invalid and no time", r.Valid, r.AttestedAt)
	}
	if got := failedNames(r); !slices.Equal(got, names) {
		t.Errorf("failed checks %v, want %v; result %+v", got, names, r.Checks)
	}
}

func TestVerifyValid(t *testing.T) {
	fx := sharedFixture(t)
	ctx := context.Background()
	for _, v := range fx.valid {
		t.Run(v.name, func(t *testing.T) {
			fp := v.bundle.Fingerprint
			for _, tc := range []struct {
				name string
				doc  *fingerprint.Fingerprint
				p    Policy
			}{
				{"bundle only, nothing pinned", nil, Policy{}},
				{"with the document, pinned", &fp, Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}},
				{"required chain, depth reached", &fp, Policy{RequiredChains: []uint64{simChainID}, MinConfirmations: v.depth}},
			} {
				r := Verify(ctx, v.bundle, tc.doc, fx.env.chains(), tc.p)
				if !r.Valid || len(r.Failed()) != 0 {
					t.Fatalf("%s: invalid: %+v", tc.name, r.Checks)
				}
				if !r.AttestedAt.Equal(v.time) || r.AttestedAt.Location() != time.UTC {
					t.Errorf("%s: AttestedAt %v, want the block time %v (UTC)", tc.name, r.AttestedAt, v.time)
				}
				if got, want := checkNames(r), allChecks(tc.doc != nil); !slices.Equal(got, want) {
					t.Errorf("%s: checks %v, want %v", tc.name, got, want)
				}
			}
		})
	}
}

// chainIDChain answers ChainID with id (or err) and everything else from
// the real chain: an endpoint of another chain, or an unreachable one.
type chainIDChain struct {
	Chain
	id  int64
	err error
}

func (c chainIDChain) ChainID(context.Context) (*big.Int, error) {
	if c.err != nil {
		return nil, c.err
	}
	return big.NewInt(c.id), nil
}

// headerChain distorts the headers a real endpoint returns.
type headerChain struct {
	Chain
	head   int64                             // if > 0, the head is this block
	number uint64                            // the block whose header is replaced by edit
	edit   func(*types.Header) *types.Header // nil: none
	err    func(n *big.Int) error            // if it returns an error, HeaderByNumber fails with it
}

func (c headerChain) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	if c.err != nil {
		if err := c.err(n); err != nil {
			return nil, err
		}
	}
	if n == nil && c.head > 0 {
		n = big.NewInt(c.head)
	}
	h, err := c.Chain.HeaderByNumber(ctx, n)
	if err == nil && n != nil && c.edit != nil && n.Uint64() == c.number {
		h = c.edit(types.CopyHeader(h))
	}
	return h, err
}

// txChain makes the transaction reads fail.
type txChain struct {
	Chain
	txErr, receiptErr error
}

func (c txChain) TransactionByHash(ctx context.Context, h common.Hash) (*types.Transaction, bool, error) {
	if c.txErr != nil {
		return nil, false, c.txErr
	}
	return c.Chain.TransactionByHash(ctx, h)
}

func (c txChain) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	if c.receiptErr != nil {
		return nil, c.receiptErr
	}
	return c.Chain.TransactionReceipt(ctx, h)
}

func TestVerifyFailuresAreNamed(t *testing.T) {
	fx := sharedFixture(t)
	ctx := context.Background()
	v := fx.valid[len(fx.valid)-1]
	b := v.bundle
	real := fx.env.client()
	chains := fx.env.chains()
	pinned := Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}
	otherFP := fingerprint.Sum([]byte("some other document"))
	block := b.Anchors[0].BlockNumber
	down := errors.New("connection refused")

	noAnchor := cloneBundle(b)
	noAnchor.Anchors = nil
	malformed := cloneBundle(b)
	malformed.Index = malformed.Size

	for _, tc := range []struct {
		name   string
		b      *proof.Bundle
		doc    *fingerprint.Fingerprint
		chains map[uint64]Chain
		p      Policy
		want   []string
	}{
		{"another document", b, &otherFP, chains, pinned, []string{CheckFingerprint}},
		{"malformed bundle", malformed, nil, chains, Policy{}, []string{CheckFormat}},
		{"endpoint of another chain", b, nil, map[uint64]Chain{simChainID: chainIDChain{real, 5, nil}}, Policy{}, []string{"anchor[1337].rpc"}},
		{"endpoint down", b, nil, map[uint64]Chain{simChainID: chainIDChain{real, 0, down}}, Policy{}, []string{"anchor[1337].rpc"}},
		{"tx read fails", b, nil, map[uint64]Chain{simChainID: txChain{real, down, nil}}, Policy{}, []string{"anchor[1337].tx"}},
		{"receipt read fails", b, nil, map[uint64]Chain{simChainID: txChain{real, nil, down}}, Policy{}, []string{"anchor[1337].tx"}},
		{"another pinned anchorer", b, nil, chains, Policy{Anchorers: map[uint64]common.Address{simChainID: otherAddr}}, []string{"anchor[1337].sender"}},
		{"bundle names another anchorer, pinned", func() *proof.Bundle {
			w := cloneBundle(b)
			w.Anchors[0].Anchorer = otherAddr
			return w
		}(), nil, chains, pinned, []string{"anchor[1337].sender"}},
		{"pinned on another chain only", b, nil, chains, Policy{Anchorers: map[uint64]common.Address{5: otherAddr}}, nil},
		{"min confirmations above depth", b, nil, chains, Policy{MinConfirmations: v.depth + 1}, []string{"anchor[1337].confirmations"}},
		{"head behind the block", b, nil, map[uint64]Chain{simChainID: headerChain{Chain: real, head: int64(block) - 1}}, Policy{}, []string{"anchor[1337].confirmations"}},
		{"head unreadable", b, nil, map[uint64]Chain{simChainID: headerChain{Chain: real, err: func(n *big.Int) error {
			if n == nil {
				return down
			}
			return nil
		}}}, Policy{}, []string{"anchor[1337].confirmations"}},
		{"block is not canonical", b, nil, map[uint64]Chain{simChainID: headerChain{Chain: real, number: block, edit: func(h *types.Header) *types.Header {
			h.Extra = []byte("fork")
			return h
		}}}, Policy{}, []string{"anchor[1337].canonical"}},
		{"block unreadable", b, nil, map[uint64]Chain{simChainID: headerChain{Chain: real, err: func(n *big.Int) error {
			if n != nil {
				return down
			}
			return nil
		}}}, Policy{}, []string{"anchor[1337].canonical"}},
		{"no endpoint at all", b, nil, map[uint64]Chain{}, Policy{}, []string{CheckChains}},
		{"endpoint for another chain only", b, nil, map[uint64]Chain{5: real}, Policy{}, []string{CheckChains}},
		{"required chain without endpoint", b, nil, map[uint64]Chain{}, Policy{RequiredChains: []uint64{simChainID}}, []string{"anchor[1337].rpc"}},
		{"required chain not anchored", b, nil, map[uint64]Chain{5: real, simChainID: real}, Policy{RequiredChains: []uint64{simChainID, 5}}, []string{"anchor[5].tx"}},
		{"no anchor yet", noAnchor, nil, chains, Policy{}, []string{CheckChains}},
		{"anchorer's tx with another root", fx.wrong["payload with another root"], nil, chains, pinned, []string{"anchor[1337].payload"}},
		{"anchorer's tx with another size", fx.wrong["payload with another size"], nil, chains, pinned, []string{"anchor[1337].payload"}},
		{"anchorer's tx with another batch id", fx.wrong["payload with another batch id"], nil, chains, pinned, []string{"anchor[1337].payload"}},
		{"anchorer's tx without a payload", fx.wrong["calldata that is no payload"], nil, chains, pinned, []string{"anchor[1337].payload"}},
		{"anchorer's tx with payload version 2", fx.wrong["payload version 2"], nil, chains, pinned, []string{"anchor[1337].payload"}},
		{"anchorer's tx reverted", fx.wrong["payload to a reverting contract"], nil, chains, pinned, []string{"anchor[1337].status"}},
		{"another account's tx, pinned", fx.wrong["payload from another account"], nil, chains, pinned, []string{"anchor[1337].sender"}},
		// Unpinned, the verifier accepts the anchorer the bundle names, as
		// documented (and says so in the check's detail): the same root
		// anchored by anyone verifies. Pinning is what ties it to an issuer.
		{"another account's tx, not pinned", fx.wrong["payload from another account"], nil, chains, Policy{}, nil},
		{"another account's tx named as the anchorer's", func() *proof.Bundle {
			w := cloneBundle(fx.wrong["payload from another account"])
			w.Anchors[0].Anchorer = anchorAddr
			return w
		}(), nil, chains, Policy{}, []string{"anchor[1337].sender"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.b == nil {
				t.Fatal("fixture bundle missing")
			}
			r := Verify(ctx, tc.b, tc.doc, tc.chains, tc.p)
			if tc.want == nil {
				if !r.Valid || len(r.Failed()) != 0 {
					t.Fatalf("want valid, got %+v", r.Checks)
				}
				return
			}
			wantFailed(t, r, tc.want...)
		})
	}
}

// TestVerifyPendingAndReorg follows one anchor on a chain of its own: not
// mined yet, mined, reorged out, mined again in another block.
func TestVerifyPendingAndReorg(t *testing.T) {
	ctx := context.Background()
	e, err := newChainEnv(3) // deep enough to follow the reorg
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, fps, err := e.seal(3)
	must(err)
	parent, err := e.client().HeaderByNumber(ctx, nil)
	must(err)

	must(e.step()) // signed and broadcast, not mined
	must(e.settleAnchors())
	pending, err := e.bundle(fps[1])
	must(err)
	// A bundle names the block its anchor is in; this one claims some block
	// while the tx is still in the pool.
	pending.Anchors[0].BlockHash = common.HexToHash("0x01")
	if _, isPending, err := e.client().TransactionByHash(ctx, pending.Anchors[0].TxHash); err != nil || !isPending {
		t.Fatalf("the anchor tx is not pending: %v, %v", isPending, err)
	}
	wantFailed(t, Verify(ctx, pending, nil, e.chains(), Policy{}), "anchor[1337].tx")

	must(e.commit())
	must(e.step())
	mined, err := e.bundle(fps[1])
	must(err)
	if r := Verify(ctx, mined, &fps[1], e.chains(), Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}); !r.Valid {
		t.Fatalf("mined bundle invalid: %+v", r.Checks)
	}

	// A longer fork from the parent without the tx.
	must(e.sim.Fork(parent.Hash()))
	e.sim.Rollback()
	must(e.commit())
	must(e.commit())
	if _, err := e.client().TransactionReceipt(ctx, mined.Anchors[0].TxHash); err == nil {
		t.Fatal("the fork still holds the anchor tx; the test does not reorg it out")
	}
	wantFailed(t, Verify(ctx, mined, &fps[1], e.chains(), Policy{}), "anchor[1337].tx")

	// The anchorer re-broadcasts the same tx; it lands in another block.
	must(e.step())
	must(e.settleAnchors())
	must(e.commit())
	must(e.step())
	again, err := e.bundle(fps[1])
	must(err)
	if again.Anchors[0].TxHash != mined.Anchors[0].TxHash || again.Anchors[0].BlockHash == mined.Anchors[0].BlockHash {
		t.Fatalf("after the reorg: anchor %+v, before %+v", again.Anchors[0], mined.Anchors[0])
	}
	if r := Verify(ctx, again, &fps[1], e.chains(), Policy{}); !r.Valid {
		t.Fatalf("re-fetched bundle invalid: %+v", r.Checks)
	}
	// The old bundle names a block the tx is no longer in.
	wantFailed(t, Verify(ctx, mined, &fps[1], e.chains(), Policy{}), "anchor[1337].tx")
}
