package client

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/client/api"
	internalapi "github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
)

// TestMaxPerRequestIsTheServers: the client's limit is the one the server
// enforces (and api/openapi.yaml states, TestSpecMaxFingerprints).
func TestMaxPerRequestIsTheServers(t *testing.T) {
	if MaxPerRequest != internalapi.MaxFingerprintsPerRequest {
		t.Fatalf("client.MaxPerRequest = %d, the server's is %d", MaxPerRequest, internalapi.MaxFingerprintsPerRequest)
	}
}

// TestAnswersAreBounded: an answer longer than the limit is an error once
// the limit is passed, JSON or not; one of exactly the limit is read.
func TestAnswersAreBounded(t *testing.T) {
	const limit = 1 << 10
	var body string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	}))
	defer ts.Close()
	d := checked{ts.Client(), limit}
	for _, n := range []int{limit, limit + 1, 100 * limit} {
		body = strings.Repeat("x", n)
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/metrics", nil)
		resp, err := d.Do(req)
		if n <= limit {
			if err != nil {
				t.Fatalf("an answer of %d bytes: %v", n, err)
			}
			b, _ := io.ReadAll(resp.Body)
			if len(b) != n {
				t.Fatalf("an answer of %d bytes read as %d", n, len(b))
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
			t.Fatalf("an answer of %d bytes: %v", n, err)
		}
	}
}

// TestFinal: when Upgrade stops waiting. Confirmed on every chain with the
// evidence of each (or a chain that cannot have any, or proof format 1);
// with AnyChain, one such chain; never without a proof.
func TestFinal(t *testing.T) {
	withEv := proof.Anchor{ChainID: 1, Evidence: json.RawMessage(`{}`)}
	pending := proof.Anchor{ChainID: 2, NoEvidence: proof.NoEvidencePending}
	unsupported := proof.Anchor{ChainID: 2, NoEvidence: proof.NoEvidenceUnsupported}
	bundle := func(v int, as ...proof.Anchor) *proof.Bundle { return &proof.Bundle{Version: v, Anchors: as} }
	chain := func(id int64, s api.Status) api.ChainProgress { return api.ChainProgress{ChainID: id, Status: s} }
	for _, tc := range []struct {
		name     string
		st       Status
		all, any bool
	}{
		{"no proof", Status{Status: api.StatusSealed}, false, false},
		{"one chain, anchored", Status{Status: api.StatusAnchored, Proof: bundle(2, withEv)}, false, false},
		{"one chain, confirmed with evidence", Status{Status: api.StatusConfirmed, Proof: bundle(2, withEv)}, true, true},
		{"one chain, confirmed, evidence pending", Status{Status: api.StatusConfirmed, Proof: bundle(2, pending)}, false, false},
		{"one chain, confirmed, unsupported", Status{Status: api.StatusConfirmed, Proof: bundle(2, unsupported)}, true, true},
		{"two chains, both with evidence", Status{Status: api.StatusConfirmed, Proof: bundle(2, withEv, proof.Anchor{ChainID: 2, Evidence: json.RawMessage(`{}`)}),
			Chains: []api.ChainProgress{chain(1, api.StatusConfirmed), chain(2, api.StatusConfirmed)}}, true, true},
		{"two chains, one pending evidence", Status{Status: api.StatusConfirmed, Proof: bundle(2, withEv, pending),
			Chains: []api.ChainProgress{chain(1, api.StatusConfirmed), chain(2, api.StatusConfirmed)}}, false, true},
		{"two chains, one unsupported", Status{Status: api.StatusConfirmed, Proof: bundle(2, withEv, unsupported),
			Chains: []api.ChainProgress{chain(1, api.StatusConfirmed), chain(2, api.StatusConfirmed)}}, true, true},
		{"two chains, one sealed", Status{Status: api.StatusSealed, Proof: bundle(2, withEv),
			Chains: []api.ChainProgress{chain(1, api.StatusConfirmed), chain(2, api.StatusSealed)}}, false, true},
		{"two chains, one anchored, format 1", Status{Status: api.StatusAnchored, Proof: bundle(1, proof.Anchor{ChainID: 1}, proof.Anchor{ChainID: 2}),
			Chains: []api.ChainProgress{chain(1, api.StatusConfirmed), chain(2, api.StatusAnchored)}}, false, true},
		{"two chains, confirmed, format 1", Status{Status: api.StatusConfirmed, Proof: bundle(1, proof.Anchor{ChainID: 1}, proof.Anchor{ChainID: 2}),
			Chains: []api.ChainProgress{chain(1, api.StatusConfirmed), chain(2, api.StatusConfirmed)}}, true, true},
	} {
		if got := Final(&tc.st, false); got != tc.all {
			t.Errorf("%s: final = %t, want %t", tc.name, got, tc.all)
		}
		if got := Final(&tc.st, true); got != tc.any {
			t.Errorf("%s: final with AnyChain = %t, want %t", tc.name, got, tc.any)
		}
	}
}

// TestReceiptCheck: the receipt check's state for each combination of
// receipt, pinned key and AnyIssuer.
func TestReceiptCheck(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	fp := fingerprint.Sum([]byte("a record"))
	now := time.Now().UTC()
	rs, err := receipt.NewSigner(priv).Sign(receipt.Facts{Fingerprint: fp, Institution: "Lab", ReceivedAt: now, Deadline: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	with := &Attest{Fingerprint: fp, Receipt: &rs[0]}
	without := &Attest{Fingerprint: fp}
	for _, tc := range []struct {
		name   string
		f      *Attest
		key    ed25519.PublicKey
		any    bool
		report bool
		state  State
	}{
		{"no receipt, no key", without, nil, false, false, ""},
		{"no receipt, a key", without, pub, false, true, StateUndecided},
		{"the pinned key", with, pub, false, true, StateOK},
		{"another key", with, otherPub, false, true, StateFailed},
		{"another key, any issuer", with, otherPub, true, true, StateFailed},
		{"no key", with, nil, false, true, StateUndecided},
		{"no key, any issuer", with, nil, true, true, StateOK},
	} {
		c, ok := receiptCheck(tc.f, tc.key, tc.any)
		if ok != tc.report || (ok && c.State != tc.state) || (ok && c.Detail == "") {
			t.Errorf("%s: reported %v, %+v; want %v, state %q", tc.name, ok, c, tc.report, tc.state)
		}
	}
}
