package server_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/server"
)

// TestVerifyRequire: POST /v1/verify's require (all, any, chain ids) and
// the older required_chains, each with a bundle that passes and one that
// does not. The bundle carries a true anchor on the server's chain and one
// on chain 5, which the server has no endpoint for.
func TestVerifyRequire(t *testing.T) {
	f := newFixture(t, server.Config{})
	list := fps(t, 2)
	f.submit(keyA, list...)
	f.seal()
	f.confirm()
	st, _ := f.status(list[0])
	if st.Status != "confirmed" || st.Proof == nil {
		t.Fatalf("status %+v", st)
	}
	two := cloneBundle(t, *st.Proof)
	extra := two.Anchors[0]
	extra.ChainID = 5
	// An anchor on a chain the server has no endpoint for (its evidence,
	// which is chain 1337's, is not pasted in: that would be false).
	extra.Evidence, extra.NoEvidence = nil, proof.NoEvidencePending
	two.Anchors = append(two.Anchors, extra)
	falseToo := cloneBundle(t, two)
	falseToo.Anchors[0].TxHash = common.Hash{1} // no such transaction on the server's chain

	mode := func(m api.VerifyRequestRequire0) *api.VerifyRequest_Require {
		var r api.VerifyRequest_Require
		if err := r.FromVerifyRequestRequire0(m); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	ids := func(ids ...int64) *api.VerifyRequest_Require {
		var r api.VerifyRequest_Require
		if err := r.FromVerifyRequestRequire1(ids); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	for _, tc := range []struct {
		name     string
		bundle   api.ProofBundle
		require  *api.VerifyRequest_Require
		required []int64
		verdict  api.VerifyResultVerdict
		check    string // the check that decides it (state not ok, or optional)
	}{
		{"default", two, nil, nil, api.VerifyResultVerdictValid, ""},
		{"default, false anchor", falseToo, nil, nil, api.VerifyResultVerdictInvalid, "anchor[1337].tx"},
		{"all, chain 5 without an endpoint", two, mode(api.VerifyRequestRequire0All), nil, api.VerifyResultVerdictUndecided, "anchor[5].rpc"},
		{"all, one anchor only", *st.Proof, mode(api.VerifyRequestRequire0All), nil, api.VerifyResultVerdictValid, ""},
		{"any", two, mode(api.VerifyRequestRequire0Any), nil, api.VerifyResultVerdictValid, "policy"},
		{"any, false anchor", falseToo, mode(api.VerifyRequestRequire0Any), nil, api.VerifyResultVerdictInvalid, "anchor[1337].tx"},
		{"ids 1337", two, ids(chainID), nil, api.VerifyResultVerdictValid, ""},
		{"ids 1337 and 5", two, ids(chainID, 5), nil, api.VerifyResultVerdictUndecided, "anchor[5].rpc"},
		{"required_chains 1337", two, nil, []int64{chainID}, api.VerifyResultVerdictValid, ""},
		{"required_chains 5", two, nil, []int64{5}, api.VerifyResultVerdictUndecided, "anchor[5].rpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, body := f.verify(api.VerifyRequest{Bundle: cloneBundle(t, tc.bundle), Require: tc.require, RequiredChains: tc.required})
			if out.Verdict != tc.verdict || out.Valid != (tc.verdict == api.VerifyResultVerdictValid) {
				t.Fatalf("verdict %s, want %s: %s", out.Verdict, tc.verdict, body)
			}
			if tc.check == "" {
				return
			}
			for _, c := range out.Checks {
				if c.Name == tc.check && (c.State != api.VerifyCheckStateOk || tc.verdict == api.VerifyResultVerdictValid) {
					return
				}
			}
			t.Fatalf("no check %s deciding it: %s", tc.check, body)
		})
	}
}
