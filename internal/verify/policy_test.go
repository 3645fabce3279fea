package verify

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"github.com/attestd/attestd/internal/proof"
)

// secondChainID is the id of the second simulated chain.
const secondChainID = 1338

// secondChain is a simulated chain with id 1338 on which the anchoring
// account sends ATST payloads of its own (no store, no anchorer).
type secondChain struct {
	sim   *simulated.Backend
	nonce uint64
}

// anchor sends payload from the anchoring account, mines it with a block
// on top, and returns the anchor a bundle would carry.
func (s *secondChain) anchor(t testing.TB, pl proof.Payload) proof.Anchor {
	t.Helper()
	ctx := context.Background()
	c := s.sim.Client()
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tip := big.NewInt(1_000_000_000)
	id := big.NewInt(secondChainID)
	tx, err := types.SignNewTx(anchorKey, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID: id, Nonce: s.nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas: 100_000, To: &anchorAddr, Data: pl.Encode(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	s.nonce++
	s.sim.Commit()
	rc, err := c.TransactionReceipt(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	s.sim.Commit()
	return proof.Anchor{ChainID: secondChainID, TxHash: tx.Hash(), BlockNumber: rc.BlockNumber.Uint64(), BlockHash: rc.BlockHash, Anchorer: anchorAddr}
}

var two struct {
	once        sync.Once
	chain       *secondChain
	both, wrong *proof.Bundle
}

// twoChains returns the shared fixture's chain, the second chain, a
// bundle anchored truly on both, and one whose 1338 anchor carries
// another root (false) while its 1337 anchor is true.
func twoChains(t *testing.T) (*chainFixture, *secondChain, *proof.Bundle, *proof.Bundle) {
	fx := sharedFixture(t)
	two.once.Do(func() {
		// Built once and kept for the process, as the shared fixture is.
		s := &secondChain{}
		funds := new(big.Int).Lsh(big.NewInt(1), 100)
		s.sim = simulated.NewBackend(types.GenesisAlloc{anchorAddr: {Balance: funds}}, func(_ *node.Config, ec *ethconfig.Config) {
			cfg := *params.AllDevChainProtocolChanges
			cfg.ChainID = big.NewInt(secondChainID)
			ec.Genesis.Config = &cfg
		})
		b := fx.valid[len(fx.valid)-1].bundle
		two.chain = s
		two.both = cloneBundle(b)
		two.both.Anchors = append(two.both.Anchors, s.anchor(t, proof.Payload{BatchID: b.BatchID, Size: b.Size, Root: b.Root}))
		other := b.Root
		other[0] ^= 1
		two.wrong = cloneBundle(b)
		two.wrong.Anchors = append(two.wrong.Anchors, s.anchor(t, proof.Payload{BatchID: b.BatchID, Size: b.Size, Root: other}))
	})
	if two.chain == nil {
		t.Fatal("the second chain was not built")
	}
	return fx, two.chain, two.both, two.wrong
}

func pinned() Policy {
	return Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr, secondChainID: anchorAddr}}
}

// TestVerifyPolicies: each policy with a bundle that passes and one that
// does not, on two chains with different ids.
func TestVerifyPolicies(t *testing.T) {
	fx, second, both, wrong := twoChains(t)
	ctx := context.Background()
	a, b := fx.env.client(), second.sim.Client()
	down := chainIDChain{Chain: b, err: errors.New("connection refused")}
	withReq := func(req Require, ids ...uint64) Policy {
		p := pinned()
		p.Require, p.RequiredChains = req, ids
		return p
	}
	for _, tc := range []struct {
		name      string
		bundle    *proof.Bundle
		chains    map[uint64]Chain
		p         Policy
		failed    []string
		undecided []string
		optional  []string // undecided but optional: not holding back the verdict
	}{
		// The default: every anchored chain with an endpoint.
		{"default, both true, both endpoints", both, map[uint64]Chain{simChainID: a, secondChainID: b}, pinned(), nil, nil, nil},
		{"default, only 1337's endpoint", both, map[uint64]Chain{simChainID: a}, pinned(), nil, nil, nil},
		{"default, 1338 false", wrong, map[uint64]Chain{simChainID: a, secondChainID: b}, pinned(), []string{"anchor[1338].payload"}, nil, nil},
		// all: every anchored chain, endpoint or not.
		{"all, both true", both, map[uint64]Chain{simChainID: a, secondChainID: b}, withReq(RequireAll), nil, nil, nil},
		{"all, no endpoint for 1338", both, map[uint64]Chain{simChainID: a}, withReq(RequireAll), nil, []string{"anchor[1338].rpc"}, nil},
		{"all, 1338 false", wrong, map[uint64]Chain{simChainID: a, secondChainID: b}, withReq(RequireAll), []string{"anchor[1338].payload"}, nil, nil},
		// any: one chain checks out, none is false.
		{"any, 1338 down", both, map[uint64]Chain{simChainID: a, secondChainID: down}, withReq(RequireAny), nil, nil, []string{"anchor[1338].rpc"}},
		{"any, 1338 false", wrong, map[uint64]Chain{simChainID: a, secondChainID: b}, withReq(RequireAny), []string{"anchor[1338].payload"}, nil, nil},
		{"any, both down", both, map[uint64]Chain{simChainID: chainIDChain{Chain: a, err: errors.New("refused")}, secondChainID: down}, withReq(RequireAny),
			nil, []string{"anchor[1337].rpc", "anchor[1338].rpc", CheckPolicy}, nil},
		// named chains.
		{"named 1338", both, map[uint64]Chain{secondChainID: b}, withReq(RequireDefault, secondChainID), nil, nil, nil},
		{"named 1338, down", both, map[uint64]Chain{simChainID: a, secondChainID: down}, withReq(RequireDefault, secondChainID), nil, []string{"anchor[1338].rpc"}, nil},
		{"named 1337 and 1338, 1338 false", wrong, map[uint64]Chain{simChainID: a, secondChainID: b}, withReq(RequireDefault, simChainID, secondChainID), []string{"anchor[1338].payload"}, nil, nil},
		{"named 1339, not anchored there", both, map[uint64]Chain{simChainID: a, secondChainID: b}, withReq(RequireDefault, 1339), nil, []string{"anchor[1339].tx"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Verify(ctx, tc.bundle, nil, tc.chains, tc.p)
			var opt []string
			var und []string
			for _, c := range r.Checks {
				if c.State == StateUndecided {
					if c.Optional {
						opt = append(opt, c.Name)
					} else {
						und = append(und, c.Name)
					}
				}
			}
			if strings.Join(opt, ",") != strings.Join(tc.optional, ",") {
				t.Errorf("optional undecided %v, want %v", opt, tc.optional)
			}
			// wantVerdict counts optional checks as undecided: compare
			// the verdict against the non-optional ones.
			wantVerdictOptional(t, r, tc.failed, und, tc.undecided)
		})
	}
}

// wantVerdictOptional: wantVerdict over the checks that are not optional.
func wantVerdictOptional(t *testing.T, r Result, failed, gotUndecided, undecided []string) {
	t.Helper()
	var gotF []string
	for _, c := range r.Checks {
		if c.State == StateFailed {
			gotF = append(gotF, c.Name)
		}
		if c.State != StateOK && c.Detail == "" {
			t.Errorf("check %s (%s) says nothing about why", c.Name, c.State)
		}
	}
	if strings.Join(gotF, ",") != strings.Join(failed, ",") || strings.Join(gotUndecided, ",") != strings.Join(undecided, ",") {
		t.Errorf("failed %v, undecided %v; want failed %v, undecided %v; checks %+v", gotF, gotUndecided, failed, undecided, r.Checks)
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
	if want == VerdictValid && r.AttestedAt.IsZero() {
		t.Error("valid without an attested time")
	}
}

// lyingHeader changes the hash of every block it reports at a height.
type lyingHeader struct{ Chain }

func (c lyingHeader) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	h, err := c.Chain.HeaderByNumber(ctx, n)
	if err != nil || n == nil {
		return h, err
	}
	h = types.CopyHeader(h)
	h.Extra = append(h.Extra, 'x')
	return h, nil
}

// lyingReceipt says the anchoring transaction failed.
type lyingReceipt struct{ Chain }

func (c lyingReceipt) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	rc, err := c.Chain.TransactionReceipt(ctx, h)
	if err != nil {
		return rc, err
	}
	cp := *rc
	cp.Status = types.ReceiptStatusFailed
	return &cp, nil
}

// TestCrossChecked: endpoints that agree give VALID, with the agreement
// named; one that lies about the block hash or the receipt makes it
// UNDECIDED, naming the disagreement and the liar, never INVALID.
func TestCrossChecked(t *testing.T) {
	fx := sharedFixture(t)
	ctx := context.Background()
	real := fx.env.client()
	v := fx.valid[0]
	p := Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}
	agree := "anchor[1337]." + CheckAgree
	for _, tc := range []struct {
		name      string
		eps       []Endpoint
		undecided []string
		liar      string
	}{
		{"two agree", []Endpoint{{"http://a", real}, {"http://b", real}}, nil, ""},
		{"three agree", []Endpoint{{"http://a", real}, {"http://b", real}, {"http://c", real}}, nil, ""},
		{"block hash lie", []Endpoint{{"http://a", real}, {"http://liar", lyingHeader{real}}}, []string{agree}, "http://liar says its hash is"},
		{"receipt lie", []Endpoint{{"http://liar", lyingReceipt{real}}, {"http://b", real}}, []string{agree}, "http://liar says status 0"},
		{"one down", []Endpoint{{"http://a", real}, {"http://down", chainIDChain{Chain: real, err: errors.New("refused")}}}, []string{"anchor[1337].rpc"}, "http://down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Verify(ctx, v.bundle, nil, map[uint64]Chain{simChainID: NewCrossChecked(tc.eps...)}, p)
			wantVerdict(t, r, nil, tc.undecided)
			if tc.undecided == nil {
				if got := checkNames(r); got[len(got)-1] != agree {
					t.Errorf("checks %v do not end with %s", got, agree)
				}
				return
			}
			for _, c := range r.Checks {
				if c.Name == tc.undecided[0] && !strings.Contains(c.Detail, tc.liar) {
					t.Errorf("%s does not name the liar (%q): %s", c.Name, tc.liar, c.Detail)
				}
			}
		})
	}
}

// BenchmarkVerifyEndpoints: one verification with 1, 2 and 3 endpoints
// per chain (each endpoint the same in-process simulated backend, so it
// measures the cross-check's own cost; over a network the endpoints are
// asked at once, so the wall time is about the slowest endpoint's).
func BenchmarkVerifyEndpoints(b *testing.B) {
	fx := sharedFixture(b)
	ctx := context.Background()
	v := fx.valid[0]
	p := Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			eps := make([]Endpoint, n)
			for i := range eps {
				eps[i] = Endpoint{Name: "sim", Chain: fx.env.client()}
			}
			var c Chain = fx.env.client()
			if n > 1 {
				c = NewCrossChecked(eps...)
			}
			chains := map[uint64]Chain{simChainID: c}
			for b.Loop() {
				if r := Verify(ctx, v.bundle, nil, chains, p); !r.Valid {
					b.Fatalf("not valid: %+v", r.Checks)
				}
			}
		})
	}
}

func TestParseRequire(t *testing.T) {
	for _, tc := range []struct {
		in   string
		mode Require
		ids  string
		ok   bool
	}{
		{"all", RequireAll, "", true},
		{"any", RequireAny, "", true},
		{"", RequireDefault, "", true},
		{"1337", RequireDefault, "[1337]", true},
		{"1337, 1338,1337", RequireDefault, "[1337 1338]", true},
		{"ALL", "", "", false},
		{"0", "", "", false},
		{"1337,", "", "", false},
		{"-1", "", "", false},
		{"all,1337", "", "", false},
	} {
		mode, ids, err := ParseRequire(tc.in)
		if (err == nil) != tc.ok || mode != tc.mode || (tc.ok && fmt.Sprint(ids) != tc.ids && !(tc.ids == "" && ids == nil)) {
			t.Errorf("ParseRequire(%q) = %q, %v, %v", tc.in, mode, ids, err)
		}
	}
}

// FuzzParseRequire: whatever it accepts is all, any, empty, or non-zero
// distinct ids that print back to a form it parses to the same.
func FuzzParseRequire(f *testing.F) {
	for _, s := range []string{"all", "any", "", "1337", "1,2,3", "1,,2", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mode, ids, err := ParseRequire(s)
		if err != nil {
			return
		}
		if mode != RequireDefault && len(ids) > 0 {
			t.Fatalf("%q: mode %q with ids %v", s, mode, ids)
		}
		seen := map[uint64]bool{}
		var parts []string
		for _, id := range ids {
			if id == 0 || seen[id] {
				t.Fatalf("%q: ids %v", s, ids)
			}
			seen[id] = true
			parts = append(parts, fmt.Sprint(id))
		}
		if len(ids) > 0 {
			m2, ids2, err := ParseRequire(strings.Join(parts, ","))
			if err != nil || m2 != mode || fmt.Sprint(ids2) != fmt.Sprint(ids) {
				t.Fatalf("%q: round trip %q, %v, %v", s, m2, ids2, err)
			}
		}
	})
}

// TestExplainEveryCheck: every check name Verify can emit has a plain
// question.
func TestExplainEveryCheck(t *testing.T) {
	for _, n := range []string{CheckFormat, CheckFingerprint, CheckMerklePath, CheckChains, CheckPolicy,
		"anchor[1]." + CheckRPC, "anchor[1]." + CheckTx, "anchor[1]." + CheckStatus, "anchor[1]." + CheckSender,
		"anchor[1]." + CheckPayload, "anchor[1]." + CheckCanonical, "anchor[1]." + CheckConfirmed, "anchor[1]." + CheckAgree} {
		if Explain(n) == "" {
			t.Errorf("%s has no explanation", n)
		}
	}
}

// TestCheckNamesDocumented: docs/proof-format.md lists every check name
// Explain knows (its "Check names" table), and each with the same
// question.
func TestCheckNamesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/proof-format.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "### Check names")
	if !ok {
		t.Fatal("docs/proof-format.md has no \"### Check names\"")
	}
	for name, q := range plain {
		row := "| `" + name + "` |"
		if name != CheckFormat && name != CheckFingerprint && name != CheckMerklePath && name != CheckChains && name != CheckPolicy && name != CheckIssuer && name != CheckReceipt && name != CheckRecordStatus {
			row = "| `anchor[<id>]." + name + "` |"
		}
		i := strings.Index(table, row)
		if i < 0 {
			t.Errorf("the check names table has no row %s", row)
			continue
		}
		line, _, _ := strings.Cut(table[i:], "\n")
		if !strings.Contains(line, q) {
			t.Errorf("row %s does not ask %q", line, q)
		}
	}
}
