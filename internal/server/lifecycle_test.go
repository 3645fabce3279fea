package server_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/verify"
)

// TestLifecycle follows fingerprints through the API from submission to a
// confirmed anchor, with the real sealer and anchorer on a simulated chain,
// and checks each served proof independently against the chain.
func TestLifecycle(t *testing.T) {
	f := newFixture(t, server.Config{})
	ctx := context.Background()
	list := fps(t, 3)
	f.submit(keyA, list...)

	// pending: no batch, no proof.
	for _, h := range list {
		st, _ := f.status(h)
		if st.Fingerprint != h || st.Status != "pending" || st.BatchID != nil || st.Proof != nil {
			t.Fatalf("after submit: %+v", st)
		}
	}
	if resp, body := f.do("GET", "/v1/batches/1", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("batch 1 before sealing: %d %s", resp.StatusCode, body)
	}

	// sealed: batch id, still no proof.
	b, err := f.sealer.SealOne(ctx)
	if err != nil || b == nil || b.Size != 3 {
		t.Fatalf("SealOne: %+v %v", b, err)
	}
	tree, err := merkle.Build([]fingerprint.Fingerprint{mustFP(t, list[0]), mustFP(t, list[1]), mustFP(t, list[2])})
	if err != nil || tree.Root != b.Root {
		t.Fatalf("the batch root is not the tree of the submissions in order (%v)", err)
	}
	checkStatus := func(stage, want string, wantProof bool) []*api.FingerprintStatus {
		t.Helper()
		var out []*api.FingerprintStatus
		for i, h := range list {
			st, _ := f.status(h)
			if string(st.Status) != want || st.BatchID == nil || *st.BatchID != int64(b.ID) || (st.Proof != nil) != wantProof {
				t.Fatalf("%s: fingerprint %d: %+v, want %s in batch %d, proof %v", stage, i, st, want, b.ID, wantProof)
			}
			if st.Proof != nil && (st.Proof.Index != uint64(i) || st.Proof.Size != 3 || st.Proof.BatchID != b.ID ||
				st.Proof.Root != proof.Hash(b.Root) || st.Proof.Fingerprint != mustFP(t, h) || len(st.Proof.Path) != 2) {
				t.Fatalf("%s: fingerprint %d: proof %+v", stage, i, st.Proof)
			}
			out = append(out, st)
		}
		return out
	}
	checkBatch := func(stage, want, anchorState string) *api.Batch {
		t.Helper()
		got, _ := f.batch(int64(b.ID))
		if string(got.Status) != want || got.ID != int64(b.ID) || got.Size != 3 || got.Root != hex.EncodeToString(b.Root[:]) ||
			!got.SealedAt.Equal(b.SealedAt) {
			t.Fatalf("%s: batch %+v, want status %s, batch %+v", stage, got, want, b)
		}
		if anchorState == "" {
			if len(got.Anchors) != 0 {
				t.Fatalf("%s: anchors %+v, want none", stage, got.Anchors)
			}
			return got
		}
		if len(got.Anchors) != 1 {
			t.Fatalf("%s: anchors %+v, want one", stage, got.Anchors)
		}
		a := got.Anchors[0]
		if string(a.State) != anchorState || a.ChainID != chainID || a.Anchorer != f.anc.Address().Hex() ||
			len(a.TxHash) != 66 || (a.BlockNumber != nil) != (anchorState != "signed") || (a.BlockHash != nil) != (anchorState != "signed") {
			t.Fatalf("%s: anchor %+v, want state %s", stage, a, anchorState)
		}
		return got
	}
	checkStatus("sealed", "sealed", false)
	checkBatch("sealed", "sealed", "")

	// Signed and broadcast, not mined: still sealed, no proof.
	f.step()
	checkStatus("signed", "sealed", false)
	checkBatch("signed", "sealed", "signed")

	// Mined with 1 of 2 confirmations: anchored, with a proof.
	f.commit()
	f.step()
	anchored := checkStatus("mined", "anchored", true)
	minedBatch := checkBatch("mined", "anchored", "mined")
	a := anchored[0].Proof.Anchors
	if len(a) != 1 || a[0].ChainID != chainID || a[0].TxHash.Hex() != minedBatch.Anchors[0].TxHash ||
		int64(a[0].BlockNumber) != *minedBatch.Anchors[0].BlockNumber || a[0].BlockHash.Hex() != *minedBatch.Anchors[0].BlockHash ||
		a[0].Anchorer != f.anc.Address() {
		t.Fatalf("proof anchors %+v, batch anchors %+v", a, minedBatch.Anchors)
	}
	hdr, err := f.sim.Client().HeaderByNumber(ctx, new(big.Int).SetUint64(a[0].BlockNumber))
	if err != nil {
		t.Fatal(err)
	}
	blockTime := hdr.Time

	chains := map[uint64]verify.Chain{chainID: f.sim.Client()}
	pins := map[uint64]common.Address{chainID: f.anc.Address()}
	one := int64(1)
	for i, st := range anchored {
		doc := mustFP(t, list[i])
		// An independent check against the chain, as a holder would run it.
		res := verify.Verify(ctx, toBundle(t, st.Proof), &doc, chains, verify.Policy{MinConfirmations: 1, Anchorers: pins})
		if !res.Valid || res.AttestedAt.Unix() != int64(blockTime) {
			t.Fatalf("fingerprint %d: independent verify %+v", i, res)
		}
		// The server agrees when asked for one confirmation...
		fpText := list[i]
		out, body := f.verify(api.VerifyRequest{Bundle: *st.Proof, Fingerprint: &fpText, MinConfirmations: &one})
		if !out.Valid || out.AttestedAt == nil || out.AttestedAt.Unix() != int64(blockTime) {
			t.Fatalf("fingerprint %d: POST /v1/verify with 1 confirmation: %s", i, body)
		}
		// ...and, asked for nothing, applies the chain's configured
		// confirmations (2): not yet.
		out, body = f.verify(api.VerifyRequest{Bundle: *st.Proof})
		if out.Valid || out.AttestedAt != nil || !failed(out, fmt.Sprintf("anchor[%d].confirmations", chainID)) {
			t.Fatalf("fingerprint %d: POST /v1/verify with the default policy at 1 of %d confirmations: %s", i, confirmations, body)
		}
	}

	// Confirmed.
	f.commit()
	f.step()
	confirmed := checkStatus("confirmed", "confirmed", true)
	checkBatch("confirmed", "confirmed", "confirmed")
	for i, st := range confirmed {
		// Confirmed, the anchor gains its chain evidence (proof format 2);
		// nothing else in the proof changes.
		was, now := cloneBundle(t, *anchored[i].Proof), cloneBundle(t, *st.Proof)
		if len(was.Anchors) != 1 || was.Anchors[0].NoEvidence != proof.NoEvidencePending || was.Anchors[0].Evidence != nil {
			t.Fatalf("fingerprint %d: anchored, not confirmed: evidence %q, no_evidence %q; want pending", i, was.Anchors[0].Evidence, was.Anchors[0].NoEvidence)
		}
		if len(now.Anchors) != 1 || now.Anchors[0].NoEvidence != "" || len(now.Anchors[0].Evidence) == 0 {
			t.Fatalf("fingerprint %d: confirmed without chain evidence (no_evidence %q)", i, now.Anchors[0].NoEvidence)
		}
		if now.Version != proof.Version {
			t.Fatalf("fingerprint %d: bundle version %d, want %d", i, now.Version, proof.Version)
		}
		was.Anchors[0].NoEvidence, now.Anchors[0].Evidence = "", nil
		if !jsonEqual(t, now, was) {
			t.Fatalf("fingerprint %d: the proof changed from anchored to confirmed", i)
		}
		fpText := "sha256:" + list[i]
		out, body := f.verify(api.VerifyRequest{Bundle: *st.Proof, Fingerprint: &fpText})
		if !out.Valid || out.AttestedAt == nil || out.AttestedAt.Unix() != int64(blockTime) {
			t.Fatalf("fingerprint %d: POST /v1/verify after confirmation: %s", i, body)
		}
		for _, c := range out.Checks {
			if !c.Ok || c.Name == "" {
				t.Fatalf("a valid verdict with check %+v", c)
			}
		}
		if !slices.ContainsFunc(out.Checks, func(c api.VerifyCheck) bool { return c.Name == "merkle_path" }) ||
			!slices.ContainsFunc(out.Checks, func(c api.VerifyCheck) bool { return c.Name == "fingerprint" }) {
			t.Fatalf("checks %+v lack merkle_path or fingerprint", out.Checks)
		}
	}
}

func failed(r *api.VerifyResult, name string) bool {
	for _, c := range r.Checks {
		if c.Name == name && !c.Ok {
			return true
		}
	}
	return false
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(x) == string(y)
}

func cloneBundle(t *testing.T, b api.ProofBundle) api.ProofBundle {
	t.Helper()
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var out api.ProofBundle
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// flip changes one bit of byte i of h.
func flip[H ~[32]byte](h *H, i int) { (*h)[i] ^= 1 }

// TestVerifyTampered: a confirmed proof verifies; each single change to it
// (or to the request's policy) gets 200 with valid=false and names the
// failing check: verdict invalid, or undecided for what the server cannot
// check (an unknown chain, no anchor, too few confirmations).
func TestVerifyTampered(t *testing.T) {
	f := newFixture(t, server.Config{})
	list := fps(t, 3)
	f.submit(keyA, list...)
	f.seal()
	f.confirm()
	st, _ := f.status(list[0])
	if st.Status != "confirmed" || st.Proof == nil {
		t.Fatalf("status %+v", st)
	}
	orig := *st.Proof
	other := fp(t, "other")
	otherFP := mustFP(t, other)
	anchorCheck := func(c string) string { return fmt.Sprintf("anchor[%d].%s", chainID, c) }

	cases := []struct {
		name   string
		mod    func(b *api.ProofBundle, r *api.VerifyRequest)
		failed []string // checks that must fail; none = valid
	}{
		{"untampered", func(*api.ProofBundle, *api.VerifyRequest) {}, nil},
		{"root first byte", func(b *api.ProofBundle, _ *api.VerifyRequest) { flip(&b.Root, 0) }, []string{"merkle_path", anchorCheck("payload")}},
		{"root last byte", func(b *api.ProofBundle, _ *api.VerifyRequest) { flip(&b.Root, 31) }, []string{"merkle_path", anchorCheck("payload")}},
		{"path hash", func(b *api.ProofBundle, _ *api.VerifyRequest) { flip(&b.Path[1], 5) }, []string{"merkle_path"}},
		{"path dropped", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Path = b.Path[:1] }, []string{"merkle_path"}},
		{"index", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Index = 1 }, []string{"merkle_path"}},
		{"bundle fingerprint", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Fingerprint = otherFP }, []string{"merkle_path"}},
		{"document fingerprint", func(_ *api.ProofBundle, r *api.VerifyRequest) { r.Fingerprint = &other }, []string{"fingerprint"}},
		{"size", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Size = 4 }, []string{anchorCheck("payload")}},
		{"batch id", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.BatchID = 2 }, []string{anchorCheck("payload")}},
		{"tx hash", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Anchors[0].TxHash = common.Hash(otherFP) }, []string{anchorCheck("tx")}},
		{"block hash", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Anchors[0].BlockHash = common.Hash(otherFP) }, []string{anchorCheck("tx")}},
		{"block number", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Anchors[0].BlockNumber++ }, []string{anchorCheck("tx")}},
		{"anchorer", func(b *api.ProofBundle, _ *api.VerifyRequest) {
			b.Anchors[0].Anchorer = common.HexToAddress("0x8a9f3c2b1d4e5f60718293a4b5c6d7e8f9012345")
		}, []string{anchorCheck("sender")}},
		{"unknown chain", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Anchors[0].ChainID = 5 }, []string{"chains"}},
		{"no anchors", func(b *api.ProofBundle, _ *api.VerifyRequest) { b.Anchors = nil }, []string{"chains"}},
		{"required chain missing", func(_ *api.ProofBundle, r *api.VerifyRequest) { r.RequiredChains = []int64{chainID, 5} }, []string{"anchor[5].tx"}},
		{"too few confirmations", func(_ *api.ProofBundle, r *api.VerifyRequest) { n := int64(100); r.MinConfirmations = &n }, []string{anchorCheck("confirmations")}},
	}
	undecided := map[string]bool{"unknown chain": true, "no anchors": true, "required chain missing": true, "too few confirmations": true}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := cloneBundle(t, orig)
			doc := list[0]
			req := api.VerifyRequest{Fingerprint: &doc}
			c.mod(&b, &req)
			req.Bundle = b
			out, body := f.verify(req)
			if len(c.failed) == 0 {
				if !out.Valid || out.AttestedAt == nil {
					t.Fatalf("untampered bundle: %s", body)
				}
				return
			}
			if out.Valid || out.AttestedAt != nil {
				t.Fatalf("tampered bundle judged valid: %s", body)
			}
			// What the server cannot check from this bundle is undecided,
			// not false; everything else is false evidence.
			want := api.VerifyResultVerdictInvalid
			if undecided[c.name] {
				want = api.VerifyResultVerdictUndecided
			}
			if out.Verdict != want {
				t.Fatalf("verdict %s, want %s: %s", out.Verdict, want, body)
			}
			for _, ch := range out.Checks {
				if ch.Ok != (ch.State == api.VerifyCheckStateOk) {
					t.Fatalf("check %q: ok %v, state %s", ch.Name, ch.Ok, ch.State)
				}
			}
			for _, name := range c.failed {
				if !failed(out, name) {
					t.Fatalf("check %q did not fail: %s", name, body)
				}
			}
			for _, ch := range out.Checks {
				if !ch.Ok && (ch.Detail == nil || *ch.Detail == "") {
					t.Fatalf("failed check %q has no detail", ch.Name)
				}
			}
		})
	}
	if got := testutil.ToFloat64(f.m.VerifyResults.WithLabelValues("invalid")); got != float64(len(cases)-1-len(undecided)) {
		t.Fatalf("verify results invalid = %v, want %d", got, len(cases)-1-len(undecided))
	}
	if got := testutil.ToFloat64(f.m.VerifyResults.WithLabelValues("undecided")); got != float64(len(undecided)) {
		t.Fatalf("verify results undecided = %v, want %d", got, len(undecided))
	}
}

// TestPrivacy: no public response names the submitting institution, at
// any stage, even after another institution re-submits, nor the
// institution that superseded or withdrew a record (the statements listed
// with it, the statements' own status, the status file), nor does B's
// refusal to state about A's record name A.
func TestPrivacy(t *testing.T) {
	f := newFixture(t, server.Config{StatusRefresh: -1})
	ctx := context.Background()
	list := fps(t, 4)
	f.submit(keyA, list[:3]...)
	// B re-submits one of A's and adds its own: B's receipts name B only.
	resp, err := f.client.SubmitFingerprintsWithResponse(ctx, api.SubmitRequest{Fingerprints: []string{list[0], list[3]}}, bearer(keyB))
	if err != nil || resp.StatusCode() != 202 {
		t.Fatalf("submit B: %v %d", err, resp.StatusCode())
	}
	if strings.Contains(string(resp.Body), instA) {
		t.Fatalf("B's receipts reveal that A submitted first: %s", resp.Body)
	}
	// A supersedes one record and withdraws another; B may not.
	sup := f.stated(keyA, instA, supersedeReq(list[0], list[1], nonce(t, "s")))
	wd := f.stated(keyA, instA, withdrawReq(list[2], api.WithdrawReasonEnteredInError, nonce(t, "w")))
	if r := f.state(keyB, withdrawReq(list[0], api.WithdrawReasonOther, nonce(t, "b"))); r.StatusCode() != 403 || strings.Contains(strings.ToLower(string(r.Body)), strings.ToLower(instA)) {
		t.Fatalf("B's withdrawal of A's record: %d %s", r.StatusCode(), r.Body)
	}
	list = append(list, sup.Fingerprint, wd.Fingerprint)

	public := func(stage string) {
		t.Helper()
		bodies := map[string][]byte{}
		for _, h := range list {
			_, body := f.status(h)
			bodies["GET fingerprint "+h] = body
			_, body = f.status("sha256:" + h)
			bodies["GET fingerprint sha256:"+h] = body
			st, _ := f.status(h)
			if st.Proof != nil {
				_, body = f.verify(api.VerifyRequest{Bundle: *st.Proof, Fingerprint: &h})
				bodies["POST verify "+h] = body
			}
		}
		if r, body := f.do("GET", "/v1/batches/1", nil, nil); r.StatusCode == 200 || r.StatusCode == 404 {
			bodies["GET batch 1"] = body
		} else {
			t.Fatalf("GET batch 1: %d", r.StatusCode)
		}
		if st, _ := f.status(list[0]); len(st.SupersededBy) != 1 {
			t.Fatalf("%s: the supersede is not listed", stage)
		}
		_, bodies["GET /v1/status"] = f.getStatusFile()
		for _, p := range []string{"/v1/info", "/healthz", "/readyz", "/metrics", "/v1/fingerprints/" + fp(t, "nope"), "/v1/fingerprints/" + strings.ToUpper(list[0])} {
			_, body := f.do("GET", p, nil, nil)
			bodies["GET "+p] = body
		}
		for what, body := range bodies {
			noInstitution(t, stage+": "+what, body)
		}
	}
	public("pending")
	f.seal()
	public("sealed")
	f.step()
	f.commit()
	f.step()
	public("anchored")
	f.commit()
	f.step()
	public("confirmed")
}

// sendTx signs and sends an EIP-1559 transaction from key and mines it.
func (f *fixture) sendTx(key *ecdsa.PrivateKey, to common.Address, value *big.Int, data []byte) *types.Receipt {
	f.t.Helper()
	ctx := context.Background()
	c := f.sim.Client()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.PendingNonceAt(ctx, from)
	if err != nil {
		f.t.Fatal(err)
	}
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	tip := big.NewInt(1_000_000_000)
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(big.NewInt(chainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(chainID), Nonce: nonce, GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas:       100_000, To: &to, Value: value, Data: data,
	})
	// The pool takes in a new head after a commit asynchronously: a
	// sender funded in the block just committed can read as unfunded to
	// it for a moment. That, and only that, is retried.
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := c.SendTransaction(ctx, tx)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "insufficient funds") || time.Now().After(deadline) {
			f.t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // polling the pool's state
	}
	f.commit()
	r, err := c.TransactionReceipt(ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		f.t.Fatalf("tx %s: %+v %v", tx.Hash().Hex(), r, err)
	}
	return r
}

// TestVerifyRejectsImpostorAnchor: someone else anchors the very same
// payload from their own account and names themselves in the bundle. The
// chain checks all pass; only the server's pinned anchoring address
// rejects it.
func TestVerifyRejectsImpostorAnchor(t *testing.T) {
	f := newFixture(t, server.Config{})
	list := fps(t, 2)
	f.submit(keyA, list...)
	f.seal()
	f.confirm()
	st, _ := f.status(list[0])
	if st.Status != "confirmed" {
		t.Fatalf("status %s", st.Status)
	}

	impostor, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(impostor.PublicKey)
	f.sendTx(f.key, addr, new(big.Int).Lsh(big.NewInt(1), 70), nil) // fund it
	b := toBundle(t, st.Proof)
	r := f.sendTx(impostor, addr, big.NewInt(0), proof.Payload{BatchID: b.BatchID, Size: b.Size, Root: b.Root}.Encode())
	for range confirmations {
		f.commit()
	}

	forged := cloneBundle(t, *st.Proof)
	forged.Anchors[0] = proof.Anchor{
		ChainID: chainID, TxHash: r.TxHash, BlockNumber: r.BlockNumber.Uint64(),
		BlockHash: r.BlockHash, Anchorer: addr, NoEvidence: proof.NoEvidencePending,
	}
	// Unpinned, the forged bundle is indistinguishable on chain: every
	// check holds but the sender's, which nothing pins (undecided)...
	chains := map[uint64]verify.Chain{chainID: f.sim.Client()}
	res := verify.Verify(context.Background(), toBundle(t, &forged), nil, chains, verify.Policy{})
	if res.Verdict != verify.VerdictUndecided || len(res.Failed()) != 1 || res.Failed()[0].Name != fmt.Sprintf("anchor[%d].sender", chainID) {
		t.Fatalf("the impostor's anchor unpinned: %s, %+v", res.Verdict, res.Failed())
	}
	// ...and with AnyIssuer valid, as existence only.
	if res := verify.Verify(context.Background(), toBundle(t, &forged), nil, chains, verify.Policy{AnyIssuer: true}); !res.Valid || !res.ExistenceOnly {
		t.Fatalf("the impostor's anchor with AnyIssuer: %s, %+v", res.Verdict, res.Failed())
	}
	// ...but the server pins its own anchoring address.
	out, body := f.verify(api.VerifyRequest{Bundle: forged})
	if out.Valid || out.Verdict != api.VerifyResultVerdictInvalid || !failed(out, fmt.Sprintf("anchor[%d].sender", chainID)) {
		t.Fatalf("POST /v1/verify accepted an anchor by %s, not the server's %s: %s", addr.Hex(), f.anc.Address().Hex(), body)
	}
	out, body = f.verify(api.VerifyRequest{Bundle: *st.Proof})
	if !out.Valid {
		t.Fatalf("the genuine bundle no longer verifies: %s", body)
	}
}
