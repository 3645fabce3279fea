package main

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/verify"
)

// TestReceiptCheck: the receipt check's state for each combination of
// receipt, pinned key and --any-issuer.
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
	with := &attestfile.File{Fingerprint: fp, Receipt: &rs[0]}
	without := &attestfile.File{Fingerprint: fp}
	for _, tc := range []struct {
		name   string
		f      *attestfile.File
		key    ed25519.PublicKey
		any    bool
		report bool
		state  verify.State
	}{
		{"no receipt, no key", without, nil, false, false, ""},
		{"no receipt, a key", without, pub, false, true, verify.StateUndecided},
		{"the pinned key", with, pub, false, true, verify.StateOK},
		{"another key", with, otherPub, false, true, verify.StateFailed},
		{"another key, any issuer", with, otherPub, true, true, verify.StateFailed},
		{"no key", with, nil, false, true, verify.StateUndecided},
		{"no key, any issuer", with, nil, true, true, verify.StateOK},
	} {
		c, ok := receiptCheck(tc.f, tc.key, tc.any)
		if ok != tc.report || (ok && c.State != tc.state) || (ok && c.Detail == "") {
			t.Errorf("%s: reported %v, %+v; want %v, state %q", tc.name, ok, c, tc.report, tc.state)
		}
	}
}

// TestExportLines: one anchoring address shared by the chains is exported;
// chains with different ones are refused rather than one picked.
func TestExportLines(t *testing.T) {
	key := make([]byte, ed25519.PublicKeySize)
	key[0] = 0xfb // base64 "+" and "/" are safe for eval
	a, b := "0x8a9f3c2b1d4e5f60718293a4b5c6d7e8f9012345", "0x1111111111111111111111111111111111111111"
	info := &api.Info{
		Chains:      []api.ChainInfo{{ChainID: 1, Anchorer: a}, {ChainID: 5, Anchorer: strings.ToUpper(a[:2]) + a[2:]}},
		ReceiptKeys: []api.ReceiptKey{{PublicKey: key}},
	}
	out, err := exportLines(info)
	if err != nil || out != "export ATTESTD_ANCHORER="+common.HexToAddress(a).Hex()+"\nexport ATTESTD_RECEIPT_KEY=+w"+strings.Repeat("A", 41)+"=\n" {
		t.Fatalf("%q, %v", out, err)
	}
	info.Chains[1].Anchorer = b
	if _, err := exportLines(info); err == nil {
		t.Fatal("chains with different anchoring addresses exported")
	}
	info.Chains = nil
	if _, err := exportLines(info); err == nil {
		t.Fatal("nothing to pin, exported")
	}
}

// TestVerifyHelpExitCodes: verify --help lists each exit status with the
// value main exits with.
func TestVerifyHelpExitCodes(t *testing.T) {
	help := newVerifyCmd().Long
	for _, want := range []string{
		"  0  VALID",
		fmt.Sprintf("  %d  INVALID", exitInvalid),
		fmt.Sprintf("  %d  usage error", exitError),
		fmt.Sprintf("  %d  UNDECIDED", exitUndecided),
		"--require", "cross-checked", "endpoints_agree",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("verify --help lacks %q", want)
		}
	}
}
