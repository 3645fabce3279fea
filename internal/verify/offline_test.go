package verify

// Offline verification (Policy.Offline) of proof format 2 on a real chain:
// go-ethereum's simulated backend, batches anchored by anchor.Anchorer,
// each anchor's chain evidence collected with evidence.Collect as the
// anchorer does. Every byte of every field of the evidence is changed
// once, and named falsehoods (a reverted anchor, an impostor's, another
// anchor's evidence, a gap in the headers, a wrong trusted hash) must be
// refused by the check that covers them. Online verification with
// evidence must ask the endpoint only for the chain ID and block hashes.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/proof"
)

// offlineDepth is the confirmation depth the main anchor's evidence is
// collected at: the anchor block and offlineDepth-1 following headers.
const offlineDepth = 4

// offlineFixture is the chain of the offline tests:
//
//	blocks 1, 2: empty
//	block A: batch 1's anchor and offlineFillers other transactions (so
//	         the block's tries have branch nodes)
//	block B: batch 2's anchor, and an impostor's: another funded account
//	         anchoring batch 1's payload
//	block C: a reverted transaction from the anchoring account carrying
//	         batch 1's payload (a contract creation whose init code, the
//	         payload itself, fails at once)
//	three empty blocks
type offlineFixture struct {
	env *chainEnv
	// main is a bundle of batch 1 (a leaf with a path) with its evidence
	// at offlineDepth; ev its evidence.
	main *proof.Bundle
	ev   *proof.Evidence
	// second is a bundle of batch 2 with its evidence (depth 2).
	second *proof.Bundle
	// impostor and reverted are batch 1's bundle naming those
	// transactions, each with its own evidence (depth 2).
	impostor, reverted *proof.Bundle
	facts              *evidence.Facts // of ev
	below              common.Hash     // the hash of the block below the anchor's
}

const offlineFillers = 6

var offlineOnce struct {
	once sync.Once
	fx   *offlineFixture
	err  error
}

func sharedOffline(tb testing.TB) *offlineFixture {
	tb.Helper()
	offlineOnce.once.Do(func() { offlineOnce.fx, offlineOnce.err = buildOffline() })
	if offlineOnce.err != nil {
		tb.Fatalf("building the offline fixture: %v", offlineOnce.err)
	}
	return offlineOnce.fx
}

func buildOffline() (*offlineFixture, error) {
	e, err := newChainEnv(1)
	if err != nil {
		return nil, err
	}
	fx, err := fillOffline(e)
	if err != nil {
		e.close()
		return nil, err
	}
	e.closeStore()
	return fx, nil
}

func fillOffline(e *chainEnv) (*offlineFixture, error) {
	ctx := context.Background()
	fx := &offlineFixture{env: e}
	// Two empty blocks first: the block below the anchor's is then not
	// the genesis (block 0 cannot be trusted by number: 0 means "not
	// given").
	for range 2 {
		if err := e.commit(); err != nil {
			return nil, err
		}
	}
	// Block A.
	b1, fps1, err := e.seal(3)
	if err != nil {
		return nil, err
	}
	if err := e.step(); err != nil { // signs and sends batch 1's anchor
		return nil, err
	}
	for i := range offlineFillers {
		if _, err := e.sendTx(otherKey, &otherAddr, fmt.Appendf(nil, "filler %d", i)); err != nil {
			return nil, err
		}
	}
	if err := e.mineAnchors(); err != nil {
		return nil, err
	}
	// Block B.
	_, fps2, err := e.seal(2)
	if err != nil {
		return nil, err
	}
	if err := e.step(); err != nil {
		return nil, err
	}
	payload := proof.Payload{BatchID: b1.ID, Size: b1.Size, Root: b1.Root}.Encode()
	impostorTx, err := e.sendTx(otherKey, &otherAddr, payload)
	if err != nil {
		return nil, err
	}
	if err := e.mineAnchors(); err != nil {
		return nil, err
	}
	// Block C: the anchorer has nothing more to send, so the anchoring
	// account's nonce is free for the test's own transaction.
	revertedTx, err := e.sendTx(anchorKey, nil, payload)
	if err != nil {
		return nil, err
	}
	if err := e.settleSent(); err != nil {
		return nil, err
	}
	if err := e.commit(); err != nil {
		return nil, err
	}
	for range 3 {
		if err := e.commit(); err != nil {
			return nil, err
		}
	}

	if fx.main, err = e.bundle(fps1[1]); err != nil {
		return nil, err
	}
	if fx.second, err = e.bundle(fps2[0]); err != nil {
		return nil, err
	}
	if fx.impostor, err = e.withTx(fx.main, impostorTx, otherAddr); err != nil {
		return nil, err
	}
	if fx.reverted, err = e.withTx(fx.main, revertedTx, anchorAddr); err != nil {
		return nil, err
	}
	if rc, err := e.client().TransactionReceipt(ctx, revertedTx.Hash()); err != nil || rc.Status != types.ReceiptStatusFailed {
		return nil, fmt.Errorf("the reverted transaction: receipt %+v, %v", rc, err)
	}
	var evs []*proof.Evidence
	for _, s := range []struct {
		b     *proof.Bundle
		depth uint64
	}{{fx.main, offlineDepth}, {fx.second, 2}, {fx.impostor, 2}, {fx.reverted, 2}} {
		ev, err := withEvidence(e, s.b, s.depth)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	fx.ev = evs[0]
	if fx.facts, err = evidence.Open(fx.ev); err != nil {
		return nil, err
	}
	if fx.main.Anchors[0].BlockNumber == fx.second.Anchors[0].BlockNumber || len(fx.ev.TxProof) < 2 || len(fx.ev.ReceiptProof) < 2 ||
		len(fx.ev.Headers) != offlineDepth-1 || len(fx.main.Path) == 0 {
		return nil, fmt.Errorf("the fixture is not what the tests need: blocks %d and %d, proofs of %d and %d nodes, %d headers, path of %d",
			fx.main.Anchors[0].BlockNumber, fx.second.Anchors[0].BlockNumber, len(fx.ev.TxProof), len(fx.ev.ReceiptProof), len(fx.ev.Headers), len(fx.main.Path))
	}
	h, err := e.client().HeaderByNumber(ctx, new(big.Int).SetUint64(fx.facts.BlockNumber-1))
	if err != nil {
		return nil, err
	}
	fx.below = h.Hash()
	return fx, nil
}

// mineAnchors mines the anchorer's and sendTx's transactions in one block
// and has the anchorer confirm its anchors (depth 1).
func (e *chainEnv) mineAnchors() error {
	if err := e.settleAnchors(); err != nil {
		return err
	}
	if err := e.settleSent(); err != nil {
		return err
	}
	if err := e.commit(); err != nil {
		return err
	}
	if err := e.step(); err != nil {
		return err
	}
	if left, err := e.store.Unconfirmed(context.Background(), simChainID, 1); err != nil || len(left) != 0 {
		return fmt.Errorf("a batch is not anchored after a block (%v): %+v", err, left)
	}
	return nil
}

// withEvidence collects the evidence of b's anchor at depth and makes b
// a version 2 bundle carrying it.
func withEvidence(e *chainEnv, b *proof.Bundle, depth uint64) (*proof.Evidence, error) {
	ev, err := evidence.Collect(context.Background(), e.client().(evidence.Client), b.Anchors[0].TxHash, depth)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	b.Version = proof.Version
	b.Anchors[0].Evidence = data
	return ev, nil
}

// withEv returns a copy of b carrying ev as its anchor's evidence.
func withEv(t testing.TB, b *proof.Bundle, ev *proof.Evidence) *proof.Bundle {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out := cloneBundle(b)
	out.Anchors[0].Evidence = data
	return out
}

// cloneEvidence is a deep copy of ev.
func cloneEvidence(ev *proof.Evidence) *proof.Evidence {
	out := *ev
	out.Tx, out.Receipt, out.Header = bytes.Clone(ev.Tx), bytes.Clone(ev.Receipt), bytes.Clone(ev.Header)
	for _, l := range []*[]hexutil.Bytes{&out.TxProof, &out.ReceiptProof, &out.Headers} {
		c := make([]hexutil.Bytes, len(*l))
		for i, n := range *l {
			c[i] = bytes.Clone(n)
		}
		*l = c
	}
	return &out
}

// offlinePolicy pins the anchoring account and trusts the given blocks.
func offlinePolicy(trusted ...TrustedBlock) Policy {
	return Policy{Offline: true, Anchorers: map[uint64]common.Address{simChainID: anchorAddr},
		Trusted: map[uint64][]TrustedBlock{simChainID: trusted}}
}

func (fx *offlineFixture) tip() TrustedBlock { return TrustedBlock{Hash: fx.facts.TipHash} }

// check returns r's check named anchor[1337].<name>.
func anchorCheck(r Result, name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == fmt.Sprintf("anchor[%d].%s", simChainID, name) {
			return c, true
		}
	}
	return Check{}, false
}

// wantOffline fails t unless r has verdict v and check anchor[1337].name
// has state st (and, for a refusal, is the first check that is not ok).
func wantOffline(t *testing.T, r Result, v Verdict, name string, st State) {
	t.Helper()
	consistent(t, r)
	c, ok := anchorCheck(r, name)
	if r.Verdict != v || !ok || c.State != st {
		t.Fatalf("verdict %s with anchor[%d].%s %s; want %s with it %s. Checks:\n%s", r.Verdict, simChainID, name, c.State, v, st, dumpChecks(r))
	}
	if st != StateOK {
		if f := r.Failed(); f[0].Name != c.Name {
			t.Fatalf("the first check that is not ok is %s, want %s:\n%s", f[0].Name, c.Name, dumpChecks(r))
		}
	}
}

func dumpChecks(r Result) string {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %-9s %s: %s\n", c.State, c.Name, c.Detail)
	}
	return b.String()
}

// TestOfflineValid: the true bundle is valid offline with any block of
// its evidence trusted (by hash, or by number and hash), its
// confirmations counted up to the trusted block; its time is the anchor
// block's.
func TestOfflineValid(t *testing.T) {
	fx := sharedOffline(t)
	ctx := context.Background()
	f := fx.facts
	for n := f.BlockNumber; n <= f.TipNumber; n++ {
		h, _ := f.HashAt(n)
		for _, tb := range []TrustedBlock{{Hash: h}, {Number: n, Hash: h, HasNumber: true}} {
			r := Verify(ctx, fx.main, &fx.main.Fingerprint, nil, offlinePolicy(tb))
			wantOffline(t, r, VerdictValid, CheckCanonical, StateOK)
			c, _ := anchorCheck(r, CheckConfirmed)
			if want := fmt.Sprintf("%d confirmation(s) up to your trusted block", n-f.BlockNumber+1); !strings.HasPrefix(c.Detail, want) {
				t.Fatalf("trusted %+v: %q, want %q", tb, c.Detail, want)
			}
			if !r.AttestedAt.Equal(f.BlockTime) {
				t.Fatalf("attested at %v, the block's time is %v", r.AttestedAt, f.BlockTime)
			}
		}
	}
	// Confirmations up to the tip: offlineDepth; one more is not there yet.
	p := offlinePolicy(fx.tip())
	p.MinConfirmations = offlineDepth
	wantOffline(t, Verify(ctx, fx.main, nil, nil, p), VerdictValid, CheckConfirmed, StateOK)
	p.MinConfirmations = offlineDepth + 1
	wantOffline(t, Verify(ctx, fx.main, nil, nil, p), VerdictUndecided, CheckConfirmed, StateUndecided)
	// Several trusted blocks: the highest the evidence reaches decides,
	// whatever else is trusted (a later block outside the evidence).
	mid, _ := f.HashAt(f.BlockNumber + 1)
	p = offlinePolicy(TrustedBlock{Number: f.TipNumber + 100, Hash: common.Hash{1}, HasNumber: true}, TrustedBlock{Hash: mid}, fx.tip())
	p.MinConfirmations = offlineDepth
	wantOffline(t, Verify(ctx, fx.main, nil, nil, p), VerdictValid, CheckConfirmed, StateOK)
	// Nothing trusted: undecided, naming the tip to confirm.
	r := Verify(ctx, fx.main, nil, nil, offlinePolicy())
	wantOffline(t, r, VerdictUndecided, CheckCanonical, StateUndecided)
	c, _ := anchorCheck(r, CheckCanonical)
	if want := fmt.Sprintf("chain %d, block %d, hash %s: compare it with a block explorer", simChainID, f.TipNumber, f.TipHash.Hex()); !strings.Contains(c.Detail, want) {
		t.Fatalf("%q does not say %q", c.Detail, want)
	}
}

// TestOfflineNamedFalsehoods: each falsehood is refused by the check that
// covers it, with the verdict it deserves.
func TestOfflineNamedFalsehoods(t *testing.T) {
	fx := sharedOffline(t)
	ctx := context.Background()
	f := fx.facts
	mid, _ := f.HashAt(f.BlockNumber + 1)
	secondEv, err := fx.second.Anchors[0].ParsedEvidence()
	if err != nil {
		t.Fatal(err)
	}
	v1 := cloneBundle(fx.main)
	v1.Version, v1.Anchors[0].Evidence = proof.VersionV1, nil
	pending := cloneBundle(fx.main)
	pending.Anchors[0].Evidence, pending.Anchors[0].NoEvidence = nil, proof.NoEvidencePending
	unsupported := cloneBundle(pending)
	unsupported.Anchors[0].NoEvidence = proof.NoEvidenceUnsupported

	gap := cloneEvidence(fx.ev)
	gap.Headers = slices.Delete(gap.Headers, 1, 2)
	otherTxProof := cloneEvidence(fx.ev)
	otherTxProof.TxProof = secondEv.TxProof
	otherReceiptProof := cloneEvidence(fx.ev)
	otherReceiptProof.ReceiptProof = secondEv.ReceiptProof
	pasted := cloneBundle(fx.main)
	pasted.Anchors[0].Evidence = fx.second.Anchors[0].Evidence
	// The impostor's anchor, named as the pinned issuer's: still its sender.
	impostorAsIssuer := cloneBundle(fx.impostor)
	impostorAsIssuer.Anchors[0].Anchorer = anchorAddr

	for _, c := range []struct {
		name    string
		b       *proof.Bundle
		trusted []TrustedBlock
		verdict Verdict
		check   string
		state   State
	}{
		{"wrong trusted hash", fx.main, []TrustedBlock{{Hash: common.Hash{0xba, 0xd}}}, VerdictInvalid, CheckCanonical, StateFailed},
		{"trusted hash of the block below the anchor's", fx.main, []TrustedBlock{{Hash: fx.below}}, VerdictInvalid, CheckCanonical, StateFailed},
		{"numbered trusted block in range with another hash", fx.main, []TrustedBlock{{Number: f.BlockNumber + 1, Hash: f.TipHash, HasNumber: true}}, VerdictInvalid, CheckCanonical, StateFailed},
		{"numbered trusted anchor block with another hash", fx.main, []TrustedBlock{{Number: f.BlockNumber, Hash: mid, HasNumber: true}}, VerdictInvalid, CheckCanonical, StateFailed},
		{"numbered trusted block below the anchor's", fx.main, []TrustedBlock{{Number: f.BlockNumber - 1, Hash: fx.below, HasNumber: true}}, VerdictUndecided, CheckCanonical, StateUndecided},
		{"numbered trusted block above the tip", fx.main, []TrustedBlock{{Number: f.TipNumber + 1, Hash: common.Hash{1}, HasNumber: true}}, VerdictUndecided, CheckCanonical, StateUndecided},
		{"a wrong numbered block beside the right one", fx.main, []TrustedBlock{fx.tip(), {Number: f.BlockNumber, Hash: mid, HasNumber: true}}, VerdictInvalid, CheckCanonical, StateFailed},
		{"a gap in the header chain", withEv(t, fx.main, gap), []TrustedBlock{fx.tip()}, VerdictInvalid, CheckEvidence, StateFailed},
		{"tx proof from another block", withEv(t, fx.main, otherTxProof), []TrustedBlock{fx.tip()}, VerdictInvalid, CheckEvidence, StateFailed},
		{"receipt proof from another block", withEv(t, fx.main, otherReceiptProof), []TrustedBlock{fx.tip()}, VerdictInvalid, CheckEvidence, StateFailed},
		{"reverted anchor", fx.reverted, []TrustedBlock{{Hash: fx.tipOf(t, fx.reverted)}}, VerdictInvalid, CheckStatus, StateFailed},
		{"impostor's anchor", fx.impostor, []TrustedBlock{{Hash: fx.tipOf(t, fx.impostor)}}, VerdictInvalid, CheckSender, StateFailed},
		{"impostor's anchor naming the issuer", impostorAsIssuer, []TrustedBlock{{Hash: fx.tipOf(t, fx.impostor)}}, VerdictInvalid, CheckSender, StateFailed},
		{"another anchor's evidence", pasted, []TrustedBlock{fx.tip()}, VerdictInvalid, CheckTx, StateFailed},
		{"version 1", v1, []TrustedBlock{fx.tip()}, VerdictUndecided, CheckEvidence, StateUndecided},
		{"evidence pending", pending, []TrustedBlock{fx.tip()}, VerdictUndecided, CheckEvidence, StateUndecided},
		{"evidence unsupported", unsupported, []TrustedBlock{fx.tip()}, VerdictUndecided, CheckEvidence, StateUndecided},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Verify(ctx, c.b, nil, nil, offlinePolicy(c.trusted...))
			wantOffline(t, r, c.verdict, c.check, c.state)
			t.Logf("%s %s: %s", r.Verdict, c.check, r.Failed()[0].Detail)
		})
	}
}

// tipOf opens b's evidence and returns its tip's hash.
func (fx *offlineFixture) tipOf(t *testing.T, b *proof.Bundle) common.Hash {
	t.Helper()
	ev, err := b.Anchors[0].ParsedEvidence()
	if err != nil {
		t.Fatal(err)
	}
	f, err := evidence.Open(ev)
	if err != nil {
		t.Fatal(err)
	}
	return f.TipHash
}

// evidenceFields are the binary fields of ev, by name, as pointers into it.
func evidenceFields(ev *proof.Evidence) ([]string, []*hexutil.Bytes) {
	names := []string{"tx", "receipt", "header"}
	ptrs := []*hexutil.Bytes{&ev.Tx, &ev.Receipt, &ev.Header}
	for _, l := range []struct {
		name  string
		nodes []hexutil.Bytes
	}{{"headers", ev.Headers}, {"tx_proof", ev.TxProof}, {"receipt_proof", ev.ReceiptProof}} {
		for i := range l.nodes {
			names = append(names, fmt.Sprintf("%s[%d]", l.name, i))
			ptrs = append(ptrs, &l.nodes[i])
		}
	}
	return names, ptrs
}

// TestOfflineEveryByte: every byte of every binary field of the evidence
// (transaction, receipt, header, each following header, each proof node)
// changed (complemented, and its lowest bit flipped; with -short every
// 7th of these changes), and the bundle
// verified offline with the evidence's tip trusted and the issuer pinned:
// none may be valid, each must fail a check of the anchor.
func TestOfflineEveryByte(t *testing.T) {
	fx := sharedOffline(t)
	ctx := context.Background()
	p := offlinePolicy(fx.tip())
	if r := Verify(ctx, fx.main, nil, nil, p); !r.Valid {
		t.Fatalf("the true bundle: %s\n%s", r.Verdict, dumpChecks(r))
	}
	// Each byte is complemented, and has its lowest bit flipped (a
	// near miss: a status of 1 becomes 0, a length one less).
	masks := []byte{0xff, 0x01}
	step := 1
	if testing.Short() {
		step = 7
	}
	start := time.Now()
	seen := map[string]int{}     // failed check name → count
	perField := map[string]int{} // field → bytes changed
	names, _ := evidenceFields(fx.ev)
	var total atomic.Int64
	for fi, field := range names {
		size := func() int { _, ptrs := evidenceFields(fx.ev); return len(*ptrs[fi]) }()
		for k := 0; k < size*len(masks); k += step {
			i, mask := k/len(masks), masks[k%len(masks)]
			ev := cloneEvidence(fx.ev)
			_, ptrs := evidenceFields(ev)
			(*ptrs[fi])[i] ^= mask
			b := withEv(t, fx.main, ev)
			r := Verify(ctx, b, nil, nil, p)
			total.Add(1)
			perField[field]++
			var failed []string
			for _, c := range r.Checks {
				if c.State == StateFailed {
					failed = append(failed, c.Name)
				}
			}
			if r.Valid || r.Verdict != VerdictInvalid || len(failed) == 0 {
				t.Fatalf("%s byte %d xor %#x: %s\n%s", field, i, mask, r.Verdict, dumpChecks(r))
			}
			for _, n := range failed {
				if !strings.HasPrefix(n, fmt.Sprintf("anchor[%d].", simChainID)) {
					t.Fatalf("%s byte %d xor %#x: failed check %s is not the anchor's\n%s", field, i, mask, n, dumpChecks(r))
				}
				seen[n]++
			}
		}
	}
	var summary []string
	for _, n := range slices.Sorted(maps.Keys(seen)) {
		summary = append(summary, fmt.Sprintf("%s %d", n, seen[n]))
	}
	t.Logf("%d single-byte changes of %d fields in %v; failed checks: %s", total.Load(), len(names), time.Since(start).Round(time.Millisecond), strings.Join(summary, ", "))
	for _, f := range names {
		if perField[f] == 0 {
			t.Errorf("field %s was not changed", f)
		}
	}
}

// callCounter counts every call the verifier makes to the chain.
type callCounter struct {
	Chain
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) count(m string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[m]++
}

func (c *callCounter) ChainID(ctx context.Context) (*big.Int, error) {
	c.count("ChainID")
	return c.Chain.ChainID(ctx)
}

func (c *callCounter) TransactionByHash(ctx context.Context, h common.Hash) (*types.Transaction, bool, error) {
	c.count("TransactionByHash")
	return c.Chain.TransactionByHash(ctx, h)
}

func (c *callCounter) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	c.count("TransactionReceipt")
	return c.Chain.TransactionReceipt(ctx, h)
}

func (c *callCounter) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	c.count("HeaderByNumber")
	return c.Chain.HeaderByNumber(ctx, n)
}

// TestOnlineWithEvidenceAsksLess: online, a bundle with evidence is
// checked from it; the endpoint is asked only which chain it serves and
// for block headers (the anchor's and the head), never for the
// transaction or its receipt. An endpoint lying about the anchor block's
// hash makes it invalid (canonical); a bundle without evidence is still
// read from the endpoint.
func TestOnlineWithEvidenceAsksLess(t *testing.T) {
	fx := sharedOffline(t)
	ctx := context.Background()
	pin := Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}
	c := &callCounter{Chain: fx.env.client()}
	r := Verify(ctx, fx.main, &fx.main.Fingerprint, map[uint64]Chain{simChainID: c}, pin)
	wantOffline(t, r, VerdictValid, CheckCanonical, StateOK)
	if !r.AttestedAt.Equal(fx.facts.BlockTime) {
		t.Fatalf("attested at %v, block time %v", r.AttestedAt, fx.facts.BlockTime)
	}
	if got := slices.Sorted(maps.Keys(c.calls)); !slices.Equal(got, []string{"ChainID", "HeaderByNumber"}) || c.calls["HeaderByNumber"] != 2 {
		t.Fatalf("the endpoint was asked %v, want ChainID and HeaderByNumber twice (the anchor's block, the head)", c.calls)
	}

	r = Verify(ctx, fx.main, nil, map[uint64]Chain{simChainID: lyingHeader{fx.env.client()}}, pin)
	wantOffline(t, r, VerdictInvalid, CheckCanonical, StateFailed)

	// The same falsehoods online as offline: the evidence decides them
	// before the endpoint is asked for a block.
	for _, b := range []*proof.Bundle{fx.reverted, fx.impostor} {
		c := &callCounter{Chain: fx.env.client()}
		if r := Verify(ctx, b, nil, map[uint64]Chain{simChainID: c}, pin); r.Verdict != VerdictInvalid || c.calls["TransactionReceipt"]+c.calls["TransactionByHash"] != 0 {
			t.Fatalf("%s, asked %v:\n%s", r.Verdict, c.calls, dumpChecks(r))
		}
	}

	// Without evidence (version 1) the transaction and receipt are read.
	v1 := cloneBundle(fx.main)
	v1.Version, v1.Anchors[0].Evidence = proof.VersionV1, nil
	c = &callCounter{Chain: fx.env.client()}
	wantOffline(t, Verify(ctx, v1, nil, map[uint64]Chain{simChainID: c}, pin), VerdictValid, CheckCanonical, StateOK)
	if c.calls["TransactionReceipt"] == 0 || c.calls["TransactionByHash"] == 0 {
		t.Fatalf("a version 1 bundle verified asking only %v", c.calls)
	}
}
