package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// issuerMap is a trust list: chain and anchoring address → issuer, sink.
type issuerMap map[uint64]map[common.Address]struct {
	name string
	sink common.Address
}

func (m issuerMap) AnchoringIssuer(id uint64, sender common.Address) (string, common.Address, bool) {
	e, ok := m[id][sender]
	return e.name, e.sink, ok
}

func oneIssuer(id uint64, anchorer, sink common.Address, name string) issuerMap {
	return issuerMap{id: {anchorer: {name, sink}}}
}

// TestVerifyTrustList: with a trust list, the sender must be an issuer's
// anchoring address for the chain and the recipient that issuer's sink;
// the result names the issuer, and AnyIssuer or a pin for another address
// does not get around it.
func TestVerifyTrustList(t *testing.T) {
	fx := sharedFixture(t)
	ctx := context.Background()
	b := fx.valid[len(fx.valid)-1].bundle
	fp := b.Fingerprint
	sender, recipient := "anchor[1337]."+CheckSender, "anchor[1337]."+CheckRecipient
	known := oneIssuer(simChainID, anchorAddr, anchorAddr, "Taipei Attest")

	r := Verify(ctx, b, &fp, fx.env.chains(), Policy{Issuers: known})
	wantVerdict(t, r, nil, nil)
	if r.Issuer != "Taipei Attest" || r.ExistenceOnly {
		t.Errorf("issuer %q, existence only %v", r.Issuer, r.ExistenceOnly)
	}
	want := allChecks(true)
	want = append(want[:len(want)-3], append([]string{recipient}, want[len(want)-3:]...)...) // recipient after sender
	if got := checkNames(r); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("checks %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name   string
		p      Policy
		bundle string // a fx.wrong bundle, or "" for b
		failed string
		detail string
	}{
		{"unknown issuer", Policy{Issuers: oneIssuer(simChainID, otherAddr, otherAddr, "Other")}, "", sender, "not an issuer in your trust list"},
		{"known on another chain only", Policy{Issuers: oneIssuer(5, anchorAddr, anchorAddr, "Taipei Attest")}, "", sender, "not an issuer in your trust list"},
		{"unknown issuer, any issuer", Policy{Issuers: issuerMap{}, AnyIssuer: true}, "", sender, "not an issuer in your trust list"},
		{"unknown issuer, pinned", Policy{Issuers: issuerMap{}, Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}, "", sender, "not an issuer in your trust list"},
		{"wrong sink", Policy{Issuers: oneIssuer(simChainID, anchorAddr, otherAddr, "Taipei Attest")}, "", recipient, "sent to " + anchorAddr.Hex()},
		{"another account's replay", Policy{Issuers: known}, "payload from another account", sender, "not an issuer in your trust list"},
		{"another batch's payload", Policy{Issuers: known}, "payload with another root", "anchor[1337]." + CheckPayload, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bb := b
			if tc.bundle != "" {
				bb = fx.wrong[tc.bundle]
			}
			r := Verify(ctx, bb, nil, fx.env.chains(), tc.p)
			wantFailed(t, r, tc.failed)
			if r.Issuer != "" {
				t.Errorf("an invalid result names issuer %q", r.Issuer)
			}
			for _, c := range r.Checks {
				if c.Name == tc.failed && !strings.Contains(c.Detail, tc.detail) {
					t.Errorf("%s: %q lacks %q", c.Name, c.Detail, tc.detail)
				}
			}
		})
	}
}
