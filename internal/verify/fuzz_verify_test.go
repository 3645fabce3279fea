package verify

// FuzzVerify mutates the JSON of real, anchored bundles and checks that
// Verify accepts exactly the bundles that are true on the chain, with the
// issuer pinned; that nothing is ever valid unpinned (without AnyIssuer);
// and that a valid verdict always has every check ok.
//
// The fuzz engine runs the target in worker processes, each with its own
// simulated chain (sharedFixture, built once per process and kept open for
// the run). The fixture is deterministic — fixed keys, fixed fingerprints,
// the same transactions in the same order, so the same tx hashes — except
// for block hashes, which carry the beacon's random value. Fuzz inputs
// therefore name blocks by stand-in hashes (virtualBlock), and each process
// swaps stand-ins and its real block hashes before verifying. The swap is a
// bijection, so "the input equals a true bundle" means the same on every
// process. TestFuzzFixtureIsDeterministic checks the rest.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/proof"
)

// virtualBlock is the stand-in for the hash of block n in fuzz inputs.
func virtualBlock(n uint64) common.Hash {
	return sha256.Sum256(binary.BigEndian.AppendUint64([]byte("attestd/verify fuzz block "), n))
}

type fuzzState struct {
	fx    *chainFixture
	swap  map[common.Hash]common.Hash // real ↔ stand-in
	truth []*proof.Bundle             // with stand-in block hashes, anchors on 1337 only
	seeds [][]byte
}

var fuzzOnce struct {
	once sync.Once
	st   *fuzzState
}

func fuzzSetup(tb testing.TB) *fuzzState {
	tb.Helper()
	fx := sharedFixture(tb)
	fuzzOnce.once.Do(func() { fuzzOnce.st = newFuzzState(fx) })
	return fuzzOnce.st
}

func newFuzzState(fx *chainFixture) *fuzzState {
	st := &fuzzState{fx: fx, swap: map[common.Hash]common.Hash{}}
	for n, h := range fx.blocks {
		st.swap[h], st.swap[virtualBlock(n)] = virtualBlock(n), h
	}
	for _, b := range fx.truth {
		st.truth = append(st.truth, st.swapped(b))
	}
	var seeds []*proof.Bundle
	for _, v := range fx.valid {
		seeds = append(seeds, v.bundle)
	}
	// Invalid ones too: each is a few mutations from a true claim.
	for _, name := range []string{"payload with another batch id", "payload with another size", "payload with another root", "payload from another account"} {
		seeds = append(seeds, fx.wrong[name])
	}
	for _, b := range seeds {
		data, err := json.Marshal(st.swapped(b))
		if err != nil {
			panic(err)
		}
		st.seeds = append(st.seeds, data)
	}
	return st
}

// swapped returns a copy of b with real block hashes and stand-ins swapped.
func (st *fuzzState) swapped(b *proof.Bundle) *proof.Bundle {
	out := cloneBundle(b)
	for i, a := range out.Anchors {
		if h, ok := st.swap[a.BlockHash]; ok {
			out.Anchors[i].BlockHash = h
		}
	}
	return out
}

// isTrue reports whether b (with stand-ins) is one of the true bundles,
// ignoring anchors on chains the verifier has no endpoint for (Verify does
// not look at them: that is the policy's business).
func (st *fuzzState) isTrue(b *proof.Bundle) bool {
	c := cloneBundle(b)
	c.Anchors = nil
	for _, a := range b.Anchors {
		if a.ChainID == simChainID {
			c.Anchors = append(c.Anchors, a)
		}
	}
	for _, t := range st.truth {
		if reflect.DeepEqual(c, t) {
			return true
		}
	}
	return false
}

// fuzzPolicy pins the anchoring account: without a pin, a copy of a true
// payload sent by anyone verifies as well (see TestVerifyFailuresAreNamed).
var fuzzPolicy = Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}

func FuzzVerify(f *testing.F) {
	st := fuzzSetup(f)
	for _, s := range st.seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st := fuzzSetup(t)
		b, err := proof.Parse(data)
		if err != nil {
			return
		}
		ctx := context.Background()
		r := Verify(ctx, st.swapped(b), nil, st.fx.env.chains(), fuzzPolicy)
		consistent(t, r)
		if u := Verify(ctx, st.swapped(b), nil, st.fx.env.chains(), Policy{}); u.Valid || u.Verdict == VerdictValid {
			t.Fatalf("Verify accepted a bundle with no issuer pinned:\n%s\nchecks %+v", data, u.Checks)
		} else if r.Valid && u.Verdict != VerdictUndecided {
			t.Fatalf("a bundle valid when pinned is %s unpinned, want undecided: %+v", u.Verdict, u.Checks)
		}
		switch truth := st.isTrue(b); {
		case r.Valid && !truth:
			t.Fatalf("Verify accepted a bundle that is not true on the chain:\n%s\nchecks %+v", data, r.Checks)
		case !r.Valid && truth:
			t.Fatalf("Verify rejected a true bundle (is the fixture not the same in every process?):\n%s\nfailed %+v", data, r.Failed())
		}
	})
}

// consistent fails t unless r's verdict follows from its checks: valid
// only with every check ok, invalid iff one failed.
func consistent(t *testing.T, r Result) {
	t.Helper()
	failed, undecided := 0, 0
	for _, c := range r.Checks {
		switch c.State {
		case StateFailed:
			failed++
		case StateUndecided:
			undecided++
		case StateOK:
		default:
			t.Fatalf("check %s has state %q", c.Name, c.State)
		}
		if c.OK != (c.State == StateOK) {
			t.Fatalf("check %s: OK %v, state %s", c.Name, c.OK, c.State)
		}
	}
	want := VerdictValid
	switch {
	case failed > 0:
		want = VerdictInvalid
	case undecided > 0 || len(r.Checks) == 0:
		want = VerdictUndecided
	}
	if r.Verdict != want || r.Valid != (want == VerdictValid) || (!r.Valid && !r.AttestedAt.IsZero()) {
		t.Fatalf("verdict %s (valid %v, attested %v) from checks %+v", r.Verdict, r.Valid, r.AttestedAt, r.Checks)
	}
}

// TestFuzzFixtureIsDeterministic builds the fixture on a second chain and
// checks that the fuzz seeds come out the same, as they must for the fuzz
// workers' chains to agree with the coordinator's.
func TestFuzzFixtureIsDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a second chain")
	}
	st := fuzzSetup(t)
	other, err := buildFixture()
	if err != nil {
		t.Fatal(err)
	}
	defer other.env.close()
	ost := newFuzzState(other)
	if len(ost.seeds) != len(st.seeds) || len(ost.truth) != len(st.truth) {
		t.Fatalf("%d seeds, %d true bundles; the first chain has %d, %d", len(ost.seeds), len(ost.truth), len(st.seeds), len(st.truth))
	}
	for i := range st.seeds {
		if string(ost.seeds[i]) != string(st.seeds[i]) {
			t.Errorf("seed %d differs:\n%s\n%s", i, st.seeds[i], ost.seeds[i])
		}
	}
	// And the real block hashes do differ, or the swap would be pointless.
	if other.blocks[1] == st.fx.blocks[1] {
		t.Log("block hashes agree across chains; the stand-ins are not needed")
	}
}

// TestFuzzTruth: the truth set is what Verify accepts, checked on every
// member (the fuzz property would be vacuous otherwise).
func TestFuzzTruth(t *testing.T) {
	st := fuzzSetup(t)
	if len(st.truth) != 1+2+3+5+8+8 {
		t.Fatalf("%d true bundles", len(st.truth))
	}
	for i, b := range st.truth {
		if r := Verify(context.Background(), st.swapped(b), nil, st.fx.env.chains(), fuzzPolicy); !r.Valid {
			t.Errorf("true bundle %d invalid: %v", i, r.Failed())
		}
	}
	for name, b := range st.fx.wrong {
		if st.isTrue(st.swapped(b)) {
			t.Errorf("%s counted as true", name)
		}
	}
}
