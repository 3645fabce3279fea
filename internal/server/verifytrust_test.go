package server_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/trust"
)

// TestVerifyTrustAndReceipt: POST /v1/verify with the caller's trust list
// decides who attested it (the issuer is named, an unlisted anchorer is
// invalid), and a receipt sent with the bundle is checked against the
// list's keys or, without a list, the server's own keys.
func TestVerifyTrustAndReceipt(t *testing.T) {
	f := newFixture(t, server.Config{})
	list := fps(t, 2)
	rc := f.submit(keyA, list...).Receipts[0]
	f.seal()
	f.confirm()
	st, _ := f.status(list[0])
	if st.Status != "confirmed" || st.Proof == nil {
		t.Fatalf("status %+v", st)
	}
	ring, err := receipt.LoadKeyring(f.rkFile)
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(f.key.PublicKey)
	entry := func(name string, anchorer common.Address, pub ed25519.PublicKey, validFrom time.Time) trust.Entry {
		return trust.Entry{Name: name, Jurisdiction: "TW", ReceiptKeys: []trust.Key{{PublicKey: pub, ValidFrom: validFrom}},
			Chains: []trust.Chain{{ChainID: chainID, Anchorer: anchorer, Sink: anchorer}}}
	}
	raw := func(es ...trust.Entry) *api.TrustList {
		l := &trust.List{Version: trust.Version}
		for _, e := range es {
			if err := l.Add(e); err != nil {
				t.Fatal(err)
			}
		}
		b, err := l.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		tl := api.TrustList(b)
		return &tl
	}
	serverKey := ring.Keys()[0]
	otherSeed := sha256.Sum256([]byte("another issuer"))
	otherPub := ed25519.NewKeyFromSeed(otherSeed[:]).Public().(ed25519.PublicKey)
	otherAddr := common.HexToAddress("0x1111111111111111111111111111111111111111")
	listed := raw(entry("Taipei General", from, serverKey.Public(), serverKey.ValidFrom))
	unlisted := raw(entry("Elsewhere", otherAddr, otherPub, serverKey.ValidFrom))
	lateKey := raw(entry("Taipei General", from, serverKey.Public(), rc.ReceivedAt.Add(time.Hour).Truncate(time.Second)))
	// A true receipt, validly signed, but of the batch's other fingerprint.
	other := rc.Facts()
	other.Fingerprint = mustFP(t, list[1])
	signed, err := f.signer.Sign(other)
	if err != nil {
		t.Fatal(err)
	}
	wrongReceipt := signed[0]

	for _, tc := range []struct {
		name    string
		trust   *api.TrustList
		rcpt    *receipt.Receipt
		verdict api.VerifyResultVerdict
		check   string // the check that decides it; "" when valid
		issuer  string
	}{
		{"listed issuer", listed, nil, api.VerifyResultVerdictValid, "", "Taipei General"},
		{"listed issuer, its receipt", listed, &rc, api.VerifyResultVerdictValid, "", "Taipei General"},
		{"anchorer not in the list", unlisted, nil, api.VerifyResultVerdictInvalid, "anchor[1337].sender", ""},
		{"receipt dated before the listed key's validity", lateKey, &rc, api.VerifyResultVerdictInvalid, "receipt", ""},
		{"receipt of another fingerprint", listed, &wrongReceipt, api.VerifyResultVerdictInvalid, "receipt", ""},
		{"no list: receipt of another fingerprint", nil, &wrongReceipt, api.VerifyResultVerdictInvalid, "receipt", ""},
		{"no list: the server's own key", nil, &rc, api.VerifyResultVerdictValid, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, body := f.verify(api.VerifyRequest{Bundle: cloneBundle(t, *st.Proof), Trust: tc.trust, Receipt: tc.rcpt})
			if out.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s: %s", out.Verdict, tc.verdict, body)
			}
			if (out.Issuer == nil) != (tc.issuer == "") || out.Issuer != nil && (out.Issuer.Name != tc.issuer || out.Issuer.Jurisdiction != "TW") {
				t.Fatalf("issuer %+v, want %q: %s", out.Issuer, tc.issuer, body)
			}
			noInstitution(t, "the verify result", body)
			if tc.rcpt != nil && !strings.Contains(string(body), `"name":"receipt"`) {
				t.Fatalf("no receipt check: %s", body)
			}
			if tc.check == "" {
				return
			}
			for _, c := range out.Checks {
				if c.Name == tc.check && c.State == api.VerifyCheckStateFailed {
					return
				}
			}
			t.Fatalf("no failed check %s: %s", tc.check, body)
		})
	}

	// A receipt signed by a key that is not the server's: failed.
	forged, err := receipt.NewSigner(ed25519.NewKeyFromSeed(otherSeed[:])).Sign(rc.Facts())
	if err != nil {
		t.Fatal(err)
	}
	out, body := f.verify(api.VerifyRequest{Bundle: cloneBundle(t, *st.Proof), Receipt: &forged[0]})
	if out.Verdict != api.VerifyResultVerdictInvalid || !strings.Contains(string(body), "not one of this server's receipt keys") {
		t.Fatalf("a receipt of another key: %s", body)
	}

	// A malformed or oversized trust list is a 400 naming the problem.
	for _, bad := range []struct{ name, trust, want string }{
		{"duplicate member", `{"version":1,"version":1,"issuers":[]}`, "version"},
		{"case variant", `{"version":1,"Issuers":[]}`, "Issuers"},
		{"bad address", `{"version":1,"issuers":[{"name":"x","jurisdiction":"TW","receipt_keys":[{"public_key":"` + strings.Repeat("A", 43) + `=","valid_from":"2026-01-01T00:00:00Z"}],"chains":[{"chain_id":1,"anchorer":"0x12","sink":"0x12"}]}]}`, "not an address"},
		{"too large", `{"version":1,"issuers":[],"x":"` + strings.Repeat("a", server.MaxVerifyTrustBytes) + `"}`, "at most"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			b, _ := json.Marshal(st.Proof)
			req := `{"bundle":` + string(b) + `,"trust":` + bad.trust + `}`
			resp, rb := f.do("POST", "/v1/verify", http.Header{"Content-Type": {"application/json"}}, strings.NewReader(req))
			detail := checkProblem(t, resp, rb, http.StatusBadRequest, "/v1/verify")
			if !strings.Contains(detail, bad.want) {
				t.Fatalf("detail %q does not say %q", detail, bad.want)
			}
		})
	}
}
