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
// not passed, all of them failed, and no attested time.
func wantFailed(t *testing.T, r Result, names ...string) {
	t.Helper()
	wantVerdict(t, r, names, nil)
}

// wantVerdict fails t unless exactly the checks failed and undecided are
// in those states (in order, each list) and the verdict follows from
// them: invalid with a failed check, else undecided with an undecided one,
// else valid. Only a valid result has an attested time.
func wantVerdict(t *testing.T, r Result, failed, undecided []string) {
	t.Helper()
	var gotF, gotU []string
	for _, c := range r.Checks {
		switch c.State {
		case StateFailed:
			gotF = append(gotF, c.Name)
		case StateUndecided:
			gotU = append(gotU, c.Name)
		case StateOK:
		default:
			t.Errorf("check %s has state %q", c.Name, c.State)
		}
		if c.OK != (c.State == StateOK) {
			t.Errorf("check %s: OK %v with state %s", c.Name, c.OK, c.State)
		}
		if c.State != StateOK && c.Detail == "" {
			t.Errorf("check %s (%s) says nothing about why", c.Name, c.State)
		}
	}
	if !slices.Equal(gotF, failed) || !slices.Equal(gotU, undecided) {
		t.Errorf("failed %v, undecided %v; want failed %v, undecided %v; checks %+v", gotF, gotU, failed, undecided, r.Checks)
	}
	want := VerdictValid
	switch {
	case len(failed) > 0:
		want = VerdictInvalid
	case len(undecided) > 0:
		want = VerdictUndecided
	}
	if r.Verdict != want || r.Valid != (want == VerdictValid) {
		t.Errorf("verdict %q (valid %v), want %q", r.Verdict, r.Valid, want)
	}
	if want != VerdictValid && (!r.AttestedAt.IsZero() || r.ExistenceOnly) {
		t.Errorf("a %s result with attested time %v, existence only %v", r.Verdict, r.AttestedAt, r.ExistenceOnly)
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
				{"bundle only, pinned", nil, Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}},
				{"with the document, pinned", &fp, Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}},
				{"required chain, depth reached", &fp, Policy{RequiredChains: []uint64{simChainID}, MinConfirmations: v.depth, Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}},
				{"any issuer", &fp, Policy{AnyIssuer: true}},
			} {
				r := Verify(ctx, v.bundle, tc.doc, fx.env.chains(), tc.p)
				if !r.Valid || r.Verdict != VerdictValid || len(r.Failed()) != 0 {
					t.Fatalf("%s: not valid: %+v", tc.name, r.Checks)
				}
				if r.ExistenceOnly != tc.p.AnyIssuer {
					t.Errorf("%s: existence only %v", tc.name, r.ExistenceOnly)
				}
				if !r.AttestedAt.Equal(v.time) || r.AttestedAt.Location() != time.UTC {
					t.Errorf("%s: AttestedAt %v, want the block time %v (UTC)", tc.name, r.AttestedAt, v.time)
				}
				if got, want := checkNames(r), allChecks(tc.doc != nil); !slices.Equal(got, want) {
					t.Errorf("%s: checks %v, want %v", tc.name, got, want)
				}
			}
			// Nothing pinned and no --any-issuer: every check holds, but
			// nothing ties the sender to an issuer the verifier trusts.
			r := Verify(ctx, v.bundle, &fp, fx.env.chains(), Policy{})
			wantVerdict(t, r, nil, []string{"anchor[1337].sender"})
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

	anyIssuer := Policy{AnyIssuer: true}
	sender := []string{"anchor[1337].sender"}
	noTx := cloneBundle(b)
	noTx.Anchors[0].TxHash[0] ^= 1

	for _, tc := range []struct {
		name      string
		b         *proof.Bundle
		doc       *fingerprint.Fingerprint
		chains    map[uint64]Chain
		p         Policy
		want      []string // failed: the evidence is false
		undecided []string // could not be checked
		existence bool     // valid, existence only
	}{
		{name: "another document", b: b, doc: &otherFP, chains: chains, p: pinned, want: []string{CheckFingerprint}},
		{name: "malformed bundle", b: malformed, chains: chains, p: pinned, want: []string{CheckFormat}},
		{name: "endpoint of another chain", b: b, chains: map[uint64]Chain{simChainID: chainIDChain{real, 5, nil}}, p: pinned, undecided: []string{"anchor[1337].rpc"}},
		{name: "endpoint down", b: b, chains: map[uint64]Chain{simChainID: chainIDChain{real, 0, down}}, p: pinned, undecided: []string{"anchor[1337].rpc"}},
		{name: "endpoint down, document false", b: b, doc: &otherFP, chains: map[uint64]Chain{simChainID: chainIDChain{real, 0, down}}, p: pinned, want: []string{CheckFingerprint}, undecided: []string{"anchor[1337].rpc"}},
		{name: "tx read fails", b: b, chains: map[uint64]Chain{simChainID: txChain{real, down, nil}}, p: pinned, undecided: []string{"anchor[1337].tx"}},
		{name: "receipt read fails", b: b, chains: map[uint64]Chain{simChainID: txChain{real, nil, down}}, p: pinned, undecided: []string{"anchor[1337].tx"}},
		{name: "tx does not exist", b: noTx, chains: chains, p: pinned, want: []string{"anchor[1337].tx"}},
		{name: "another pinned anchorer", b: b, chains: chains, p: Policy{Anchorers: map[uint64]common.Address{simChainID: otherAddr}}, want: sender},
		{name: "bundle names another anchorer, pinned", b: func() *proof.Bundle {
			w := cloneBundle(b)
			w.Anchors[0].Anchorer = otherAddr
			return w
		}(), chains: chains, p: pinned, want: sender},
		{name: "pinned on another chain only", b: b, chains: chains, p: Policy{Anchorers: map[uint64]common.Address{5: otherAddr}}, undecided: sender},
		{name: "pinned on another chain only, any issuer", b: b, chains: chains, p: Policy{Anchorers: map[uint64]common.Address{5: otherAddr}, AnyIssuer: true}, existence: true},
		{name: "pinned and any issuer: the pin decides", b: fx.wrong["payload from another account"], chains: chains, p: Policy{Anchorers: pinned.Anchorers, AnyIssuer: true}, want: sender},
		{name: "min confirmations above depth", b: b, chains: chains, p: Policy{MinConfirmations: v.depth + 1, Anchorers: pinned.Anchorers}, undecided: []string{"anchor[1337].confirmations"}},
		{name: "head behind the block", b: b, chains: map[uint64]Chain{simChainID: headerChain{Chain: real, head: int64(block) - 1}}, p: pinned, undecided: []string{"anchor[1337].confirmations"}},
		{name: "head unreadable", b: b, chains: map[uint64]Chain{simChainID: headerChain{Chain: real, err: func(n *big.Int) error {
			if n == nil {
				return down
			}
			return nil
		}}}, p: pinned, undecided: []string{"anchor[1337].confirmations"}},
		{name: "block is not canonical", b: b, chains: map[uint64]Chain{simChainID: headerChain{Chain: real, number: block, edit: func(h *types.Header) *types.Header {
			h.Extra = []byte("fork")
			return h
		}}}, p: pinned, want: []string{"anchor[1337].canonical"}},
		{name: "block unreadable", b: b, chains: map[uint64]Chain{simChainID: headerChain{Chain: real, err: func(n *big.Int) error {
			if n != nil {
				return down
			}
			return nil
		}}}, p: pinned, undecided: []string{"anchor[1337].canonical"}},
		{name: "no endpoint at all", b: b, chains: map[uint64]Chain{}, p: pinned, undecided: []string{CheckChains}},
		{name: "endpoint for another chain only", b: b, chains: map[uint64]Chain{5: real}, p: pinned, undecided: []string{CheckChains}},
		{name: "required chain without endpoint", b: b, chains: map[uint64]Chain{}, p: Policy{RequiredChains: []uint64{simChainID}, Anchorers: pinned.Anchorers}, undecided: []string{"anchor[1337].rpc"}},
		{name: "required chain not anchored", b: b, chains: map[uint64]Chain{5: real, simChainID: real}, p: Policy{RequiredChains: []uint64{simChainID, 5}, Anchorers: pinned.Anchorers}, undecided: []string{"anchor[5].tx"}},
		{name: "no anchor yet", b: noAnchor, chains: chains, p: pinned, undecided: []string{CheckChains}},
		{name: "anchorer's tx with another root", b: fx.wrong["payload with another root"], chains: chains, p: pinned, want: []string{"anchor[1337].payload"}},
		{name: "anchorer's tx with another size", b: fx.wrong["payload with another size"], chains: chains, p: pinned, want: []string{"anchor[1337].payload"}},
		{name: "anchorer's tx with another batch id", b: fx.wrong["payload with another batch id"], chains: chains, p: pinned, want: []string{"anchor[1337].payload"}},
		{name: "anchorer's tx without a payload", b: fx.wrong["calldata that is no payload"], chains: chains, p: pinned, want: []string{"anchor[1337].payload"}},
		{name: "anchorer's tx with payload version 2", b: fx.wrong["payload version 2"], chains: chains, p: pinned, want: []string{"anchor[1337].payload"}},
		{name: "anchorer's tx reverted", b: fx.wrong["payload to a reverting contract"], chains: chains, p: pinned, want: []string{"anchor[1337].status"}},
		// Not pinned, a false payload is still false: invalid, not undecided.
		{name: "another root, not pinned", b: fx.wrong["payload with another root"], chains: chains, p: Policy{}, want: []string{"anchor[1337].payload"}, undecided: sender},
		// An impostor (another funded account) anchored the same root in
		// its own transaction, and the bundle names it as the anchorer.
		{name: "another account's tx, pinned", b: fx.wrong["payload from another account"], chains: chains, p: pinned, want: sender},
		{name: "another account's tx, not pinned", b: fx.wrong["payload from another account"], chains: chains, p: Policy{}, undecided: sender},
		{name: "another account's tx, any issuer", b: fx.wrong["payload from another account"], chains: chains, p: anyIssuer, existence: true},
		{name: "another account's tx named as the anchorer's", b: func() *proof.Bundle {
			w := cloneBundle(fx.wrong["payload from another account"])
			w.Anchors[0].Anchorer = anchorAddr
			return w
		}(), chains: chains, p: anyIssuer, want: sender},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.b == nil {
				t.Fatal("fixture bundle missing")
			}
			r := Verify(ctx, tc.b, tc.doc, tc.chains, tc.p)
			wantVerdict(t, r, tc.want, tc.undecided)
			if r.ExistenceOnly != tc.existence {
				t.Errorf("existence only %v, want %v", r.ExistenceOnly, tc.existence)
			}
			if r.Valid && r.AttestedAt.IsZero() {
				t.Error("valid without an attested time")
			}
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
	pins := Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}
	wantVerdict(t, Verify(ctx, pending, nil, e.chains(), pins), nil, []string{"anchor[1337].tx"})

	must(e.commit())
	must(e.step())
	mined, err := e.bundle(fps[1])
	must(err)
	if r := Verify(ctx, mined, &fps[1], e.chains(), pins); !r.Valid {
		t.Fatalf("mined bundle invalid: %+v", r.Checks)
	}
	// A cache as the server has, filled with this answer.
	cached := map[uint64]Chain{simChainID: NewCachedChain(e.client(), 0)}
	if r := Verify(ctx, mined, &fps[1], cached, pins); !r.Valid {
		t.Fatalf("mined bundle invalid through the cache: %+v", r.Checks)
	}

	// A longer fork from the parent without the tx.
	must(e.sim.Fork(parent.Hash()))
	e.sim.Rollback()
	must(e.commit())
	must(e.commit())
	if _, err := e.client().TransactionReceipt(ctx, mined.Anchors[0].TxHash); err == nil {
		t.Fatal("the fork still holds the anchor tx; the test does not reorg it out")
	}
	wantFailed(t, Verify(ctx, mined, &fps[1], e.chains(), pins), "anchor[1337].tx")

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
	if r := Verify(ctx, again, &fps[1], e.chains(), pins); !r.Valid {
		t.Fatalf("re-fetched bundle invalid: %+v", r.Checks)
	}
	// The cache still holds the receipt in the old block and the old head:
	// they are refreshed, not reported as a mismatch.
	if r := Verify(ctx, again, &fps[1], cached, pins); !r.Valid {
		t.Fatalf("re-fetched bundle invalid through the cache: %+v", r.Checks)
	}
	// The old bundle names a block the tx is no longer in.
	wantFailed(t, Verify(ctx, mined, &fps[1], e.chains(), pins), "anchor[1337].tx")
}
