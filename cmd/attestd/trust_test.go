package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/trust"
)

// anchoredDoc writes doc and its .attest: a one-leaf batch anchored by key
// in a transaction to `to`, with a receipt signed by signer for
// institution, dated received. The bundle names key's address.
func anchoredDoc(t *testing.T, ec *ethclient.Client, chainID uint64, key *ecdsa.PrivateKey, to common.Address, doc, content string, signer *receipt.Signer, institution string, received time.Time) {
	t.Helper()
	writeFile(t, doc, content)
	nonce, err := fingerprint.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	fp, _, err := fingerprint.HashDocument(doc, fingerprint.CanonNone, &nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	root, path := oneLeafTree(t, fp)
	payload := proof.Payload{BatchID: 7, Size: 1, Root: root}
	rc := sendAndWait(t, ec, key, to, new(big.Int), payload.Encode())
	rcpts, err := signer.Sign(receipt.Facts{Fingerprint: fp, Institution: institution, ReceivedAt: received, Deadline: received.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	err = attestfile.Write(attestfile.PathFor(doc), &attestfile.File{
		Version: attestfile.Version, Fingerprint: fp, Canonicalization: fingerprint.CanonNone,
		Blinding: &attestfile.Blinding{Scheme: fingerprint.BlindDomain, Nonce: nonce},
		Receipt:  &rcpts[0],
		Proof: &proof.Bundle{
			Version: proof.VersionV1, Fingerprint: fp, BatchID: 7, Index: 0, Size: 1, Root: root, Path: path,
			Anchors: []proof.Anchor{{ChainID: chainID, TxHash: rc.TxHash, BlockNumber: rc.BlockNumber.Uint64(),
				BlockHash: rc.BlockHash, Anchorer: crypto.PubkeyToAddress(key.PublicKey)}},
		},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
}

// oneLeafTree returns the root and fp's path of the one-leaf batch of fp.
func oneLeafTree(t *testing.T, fp fingerprint.Fingerprint) (proof.Hash, []proof.Hash) {
	t.Helper()
	tree, err := merkle.Build([]fingerprint.Fingerprint{fp})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := tree.Proof(0)
	if err != nil {
		t.Fatal(err)
	}
	path := make([]proof.Hash, len(nodes))
	for i, n := range nodes {
		path[i] = n
	}
	return tree.Root, path
}

func newSigner(t *testing.T) *receipt.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return receipt.NewSigner(priv)
}

// TestVerifyTrust is verify --trust (items 3 and 4 of issue #13) on a dev
// chain: an issuer that rotated its receipt key and anchors to a sink, an
// impostor that replays the issuer's batch from its own account, and a
// transaction of the issuer's sent elsewhere than its sink.
func TestVerifyTrust(t *testing.T) {
	binary(t) // skipped with -short; built before the chain starts
	dir := t.TempDir()
	chain, err := devchain.Start(devchain.Config{DataDir: filepath.Join(dir, "chain"), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	ec := chain.Client()
	id := chain.ChainID().Uint64()
	issuerKey := chain.Key()
	sink := common.HexToAddress("0x5151515151515151515151515151515151515151")
	impKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	imp := crypto.PubkeyToAddress(impKey.PublicKey)
	sendAndWait(t, ec, issuerKey, imp, new(big.Int).Lsh(big.NewInt(1), 60), nil)
	waitFunded(t, ec, imp)

	// The issuer's receipt keys: old valid for a day until yesterday,
	// current since then.
	now := time.Now().UTC().Truncate(time.Second)
	rotated := now.Add(-24 * time.Hour)
	oldKey, curKey, impSigner := newSigner(t), newSigner(t), newSigner(t)
	list := &trust.List{Version: trust.Version}
	if err := list.Add(trust.Entry{Name: "Taipei Attest", Jurisdiction: "TW", Contact: "ops@example.tw",
		ReceiptKeys: []trust.Key{
			{PublicKey: oldKey.PublicKey(), ValidFrom: rotated.Add(-24 * time.Hour), ValidUntil: &rotated},
			{PublicKey: curKey.PublicKey(), ValidFrom: rotated},
		},
		Chains: []trust.Chain{{ChainID: id, Anchorer: chain.Address(), Sink: sink}},
	}); err != nil {
		t.Fatal(err)
	}
	trusted := filepath.Join(dir, "trust.json")
	if err := list.Save(trusted); err != nil {
		t.Fatal(err)
	}
	// A list that knows another issuer only.
	other := &trust.List{Version: trust.Version}
	if err := other.Add(trust.Entry{Name: "Elsewhere", Jurisdiction: "XX", ReceiptKeys: []trust.Key{{PublicKey: impSigner.PublicKey(), ValidFrom: rotated}},
		Chains: []trust.Chain{{ChainID: id, Anchorer: common.HexToAddress("0x6161616161616161616161616161616161616161"), Sink: sink}}}); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "other.json")
	if err := other.Save(unknown); err != nil {
		t.Fatal(err)
	}

	// A list with both: the impostor as an issuer of its own.
	if err := list.Add(trust.Entry{Name: "Impostor Attest", Jurisdiction: "ZZ", ReceiptKeys: []trust.Key{{PublicKey: impSigner.PublicKey(), ValidFrom: rotated}},
		Chains: []trust.Chain{{ChainID: id, Anchorer: imp, Sink: sink}}}); err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "both.json")
	if err := list.Save(both); err != nil {
		t.Fatal(err)
	}

	doc := func(name string) string { return filepath.Join(dir, name) }
	anchoredDoc(t, ec, id, issuerKey, sink, doc("current.txt"), "lab result 1\n", curKey, "Taipei-General", now.Add(-time.Hour))
	anchoredDoc(t, ec, id, issuerKey, sink, doc("old.txt"), "lab result 2\n", oldKey, "Taipei-General", rotated.Add(-time.Hour))
	anchoredDoc(t, ec, id, issuerKey, sink, doc("old-key-late.txt"), "lab result 3\n", oldKey, "Taipei-General", now.Add(-time.Hour))
	anchoredDoc(t, ec, id, issuerKey, sink, doc("current-key-early.txt"), "lab result 4\n", curKey, "Taipei-General", rotated.Add(-time.Hour))
	anchoredDoc(t, ec, id, issuerKey, chain.Address(), doc("wrong-sink.txt"), "lab result 5\n", curKey, "Taipei-General", now.Add(-time.Hour))
	// The impostor anchors from its own account, to the issuer's sink,
	// with a receipt of its own (not a key in the list) …
	anchoredDoc(t, ec, id, impKey, sink, doc("forged.txt"), "Patient fit to fly.\n", impSigner, "Impostor-Clinic", now.Add(-time.Hour))
	// … or with a receipt under the issuer's current key it got for
	// another document: the anchor still is not the issuer's.
	anchoredDoc(t, ec, id, impKey, sink, doc("forged2.txt"), "Patient fit to fly, again.\n", curKey, "Taipei-General", now.Add(-time.Hour))

	env := []string{"ATTESTD_RPC=" + chain.RPCURL()}
	name := func(check string) string { return fmt.Sprintf("anchor[%d].%s", id, check) }
	notValid := []string{"\nVALID"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		doc  string
		code int
		want []string
		not  []string
	}{
		{"known issuer", nil, []string{"--trust", trusted}, "current.txt", 0,
			[]string{"VALID: attested ", " UTC by Taipei Attest (TW), submitted by Taipei-General\n", "ok         " + name("sender"), "ok         " + name("recipient"), "ok         receipt"}, []string{"existence only"}},
		{"known issuer, by the environment", []string{"ATTESTD_TRUST=" + trusted}, nil, "current.txt", 0,
			[]string{"VALID: attested ", "by Taipei Attest (TW), submitted by Taipei-General"}, nil},
		{"rotated key: old receipt within its validity", nil, []string{"--trust", trusted}, "old.txt", 0,
			[]string{"VALID: attested ", "by Taipei Attest (TW)", "ok         receipt"}, nil},
		{"rotated key: old key after its validity", nil, []string{"--trust", trusted}, "old-key-late.txt", exitInvalid,
			[]string{"INVALID", "FAILED     receipt", "outside the validity"}, notValid},
		{"current key before its validity", nil, []string{"--trust", trusted}, "current-key-early.txt", exitInvalid,
			[]string{"INVALID", "FAILED     receipt", "outside the validity"}, notValid},
		{"wrong sink", nil, []string{"--trust", trusted}, "wrong-sink.txt", exitInvalid,
			[]string{"INVALID", "FAILED     " + name("recipient"), "sent to " + chain.Address().Hex()}, notValid},
		{"impostor's replay", nil, []string{"--trust", trusted}, "forged.txt", exitInvalid,
			[]string{"INVALID", "FAILED     " + name("sender"), "not an issuer in your trust list", "FAILED     receipt"}, notValid},
		{"impostor's replay with the issuer's receipt", []string{"ATTESTD_TRUST=" + trusted}, nil, "forged2.txt", exitInvalid,
			[]string{"INVALID", "FAILED     " + name("sender"), "not an issuer in your trust list"}, notValid},
		// Baseline: listed, the impostor is an issuer like any other —
		// the list decides, and the verdict names who it is.
		{"impostor listed", nil, []string{"--trust", both}, "forged.txt", 0,
			[]string{"VALID: attested ", "by Impostor Attest (ZZ), submitted by Impostor-Clinic"}, []string{"Taipei Attest"}},
		{"one issuer's receipt on another's anchor", nil, []string{"--trust", both}, "forged2.txt", exitInvalid,
			[]string{"INVALID", "ok         " + name("sender"), "FAILED     receipt", `signed by "Taipei Attest", but the anchor is "Impostor Attest"'s`}, notValid},
		{"unknown issuer", nil, []string{"--trust", unknown}, "current.txt", exitInvalid,
			[]string{"INVALID", "FAILED     " + name("sender"), "not an issuer in your trust list", "FAILED     receipt"}, notValid},
		{"any issuer overrides the list", []string{"ATTESTD_TRUST=" + unknown}, []string{"--any-issuer"}, "forged.txt", 0,
			[]string{"VALID (existence only)", "does not show who attested it"}, []string{"Taipei Attest", "Elsewhere"}},
		{"trust and a pin", nil, []string{"--trust", trusted, "--anchorer", chain.Address().Hex()}, "current.txt", exitError,
			[]string{"not both"}, notValid},
		{"unreadable list", nil, []string{"--trust", doc("current.txt")}, "current.txt", exitError,
			[]string{"--trust", "invalid trust list"}, notValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// These .attest files name no attestd server: a record status is not
			// what this test is about (--no-status; see TestStatementsEndToEnd).
			out, code := runCLI(t, append(append([]string{}, env...), tc.env...), append(append([]string{"verify", "--no-status"}, tc.args...), doc(tc.doc))...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains("\n"+out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains("\n"+out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestWalkthroughTrustList is the README's one-minute walkthrough with the
// dev trust list that serve --dev writes, and a list made with
// info --trust-entry | trust add: the real binary throughout.
func TestWalkthroughTrustList(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "attestd-data")
	s := serveDev(t, data, "--batch-interval", "300ms")
	doc := filepath.Join(dir, "lab-result.txt")
	writeFile(t, doc, "HbA1c 6.1 %\n")
	s.mustRun(t, "stamp", doc)
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)

	devList := filepath.Join(data, trust.DevFile)
	devVALID := " UTC by " + trust.DevName + " (" + trust.DevJurisdiction + "), submitted by dev\n"
	for _, env := range [][]string{nil, {"ATTESTD_TRUST=" + devList}} {
		args := []string{"verify", doc}
		if env == nil {
			args = []string{"verify", "--trust", devList, doc}
		}
		out, code := s.runEnv(t, env, args...)
		if code != 0 || !strings.Contains(out, "VALID: attested ") || !strings.Contains(out, devVALID) {
			t.Fatalf("%v %v: exit %d, want VALID naming the dev issuer:\n%s", env, args, code, out)
		}
	}

	// A verifier's own list, from the server's entry.
	list := filepath.Join(dir, "trust.json")
	sh := exec.Command("sh", "-c", `"$0" info --trust-entry --name "Taipei Attest" --jurisdiction TW --contact ops@example.tw --valid-from 2026-01-01T00:00:00Z | "$0" trust add --file "$1" -`, binary(t), list)
	sh.Env = append(os.Environ(), "ATTESTD_SERVER="+s.url)
	if o, err := sh.CombinedOutput(); err != nil || !strings.Contains(string(o), `added "Taipei Attest"`) {
		t.Fatalf("info --trust-entry | trust add: %v\n%s", err, o)
	}
	// The key's published start (/v1/info valid_from) wins over
	// --valid-from, which is only for a key made before rotation existed.
	ring, err := receipt.LoadKeyring(filepath.Join(data, "receipt-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if out := s.mustRun(t, "trust", "list", "--file", list); !strings.Contains(out, "Taipei Attest") || !strings.Contains(out, "chain 1337") ||
		!strings.Contains(out, "from "+ring.Keys()[0].ValidFrom.Format(time.RFC3339)+" open-ended") {
		t.Fatalf("trust list:\n%s", out)
	}
	out, code := s.run(t, "verify", "--trust", list, doc)
	if code != 0 || !strings.Contains(out, "by Taipei Attest (TW), submitted by dev\n") {
		t.Fatalf("verify --trust (own list): exit %d\n%s", code, out)
	}
	// The same entry again is refused, the file unchanged.
	entry := s.mustRun(t, "info", "--trust-entry", "--name", "taipei ATTEST", "--jurisdiction", "TW", "--valid-from", "2026-01-01T00:00:00Z")
	entryFile := filepath.Join(dir, "entry.json")
	writeFile(t, entryFile, entry)
	if out, code := s.run(t, "trust", "add", "--file", list, entryFile); code != exitError || !strings.Contains(out, "already in the list") {
		t.Fatalf("trust add of a duplicate: exit %d\n%s", code, out)
	}
	if out, code := s.run(t, "info", "--trust-entry"); code != exitError || !strings.Contains(out, "--name") {
		t.Fatalf("info --trust-entry without --name: exit %d\n%s", code, out)
	}
	// Removed from the list, the issuer is unknown: INVALID (1).
	s.mustRun(t, "trust", "remove", "--file", list, "Taipei Attest")
	out, code = s.run(t, "verify", "--trust", list, doc)
	if code != exitInvalid || !strings.Contains(out, "not an issuer in your trust list") || strings.Contains("\n"+out, "\nVALID") {
		t.Fatalf("verify after trust remove: exit %d, want 1:\n%s", code, out)
	}
	// --any-issuer: existence only, exit 0.
	out, code = s.runEnv(t, []string{"ATTESTD_TRUST=" + list}, "verify", "--any-issuer", doc)
	if code != 0 || !strings.Contains(out, "VALID (existence only)") {
		t.Fatalf("verify --any-issuer: exit %d\n%s", code, out)
	}
}

// waitFunded waits until the transaction pool sees a balance at addr: the
// receipt of the funding transaction can be visible before the pool's
// state is (TestVerifyImpostor failed so under load, "insufficient funds").
func waitFunded(t *testing.T, ec *ethclient.Client, addr common.Address) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		bal, err := ec.PendingBalanceAt(context.Background(), addr)
		if err == nil && bal.Sign() > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not funded after 30s: %v, %v", addr.Hex(), bal, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for the pool's state
	}
}
