package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/receipt"
)

// TestVerifyImpostor is finding 1 of the security review: on the issuer's
// chain another funded account anchors a root of its own choosing (a
// one-leaf tree over a forged document's fingerprint) in its own ATST
// transaction, with a bundle and a receipt of its own making that name it.
// Everything in that .attest is internally consistent and really on the
// chain; only the pins tell it from the issuer's.
func TestVerifyImpostor(t *testing.T) {
	binary(t) // skipped with -short; built before the chain starts
	dir := t.TempDir()
	chain, err := devchain.Start(devchain.Config{DataDir: filepath.Join(dir, "chain"), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	ec := chain.Client()
	// The dev chain's funded account is the issuer's anchoring account.
	issuer := chain.Address()

	impKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	imp := crypto.PubkeyToAddress(impKey.PublicKey)
	// The issuer's account funds the impostor (anyone can get ether).
	sendAndWait(t, ec, chain.Key(), imp, new(big.Int).Lsh(big.NewInt(1), 60), nil)
	waitFunded(t, ec, imp)

	// The impostor anchors a one-leaf batch of its own in its own ATST
	// transaction, and writes a .attest naming itself, with a receipt
	// signed by a key of its own.
	doc := filepath.Join(dir, "forged-discharge-summary.txt")
	_, impPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	impSigner := receipt.NewSigner(impPriv)
	now := time.Now().UTC().Truncate(time.Second)
	anchoredDoc(t, ec, chain.ChainID().Uint64(), impKey, imp, doc, "Patient fit to fly. Signed, nobody.\n", impSigner, "Impostor-Clinic", now)
	impReceiptKey := base64.StdEncoding.EncodeToString(impSigner.PublicKey())
	_, issuerPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	issuerReceiptKey := base64.StdEncoding.EncodeToString(issuerPriv.Public().(ed25519.PublicKey))
	env := []string{"ATTESTD_RPC=" + chain.RPCURL()}
	sender := fmt.Sprintf("anchor[%d].sender", chain.ChainID())
	notValid := []string{"\nVALID"} // a verdict line starting VALID ("INVALID" contains "VALID")

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want []string // in the output
		not  []string // not in the output
	}{
		// What the README walkthrough did before: no pins. Not VALID.
		{"no pins", nil, nil, exitUndecided,
			[]string{"UNDECIDED", "UNDECIDED  " + sender, "--anchorer", "attestd info", "UNDECIDED  receipt"}, notValid},
		// The issuer's published address pinned: the impostor is caught.
		{"issuer pinned", nil, []string{"--anchorer", issuer.Hex()}, exitInvalid,
			[]string{"INVALID", "FAILED     " + sender, issuer.Hex()}, notValid},
		{"issuer pinned by the environment", []string{"ATTESTD_ANCHORER=" + issuer.Hex(), "ATTESTD_RECEIPT_KEY=" + issuerReceiptKey}, nil, exitInvalid,
			[]string{"INVALID", "FAILED     " + sender, "FAILED     receipt"}, notValid},
		// Explicitly any issuer: VALID, saying it proves existence only.
		{"any issuer", nil, []string{"--any-issuer"}, 0,
			[]string{"VALID (existence only)", "does not show who attested it"}, nil},
		// The baseline: pinned to the impostor's own address and key, the
		// evidence does hold — so the failures above are the pins' doing.
		{"pinned to the impostor itself", nil, []string{"--anchorer", imp.Hex(), "--receipt-key", impReceiptKey}, 0,
			[]string{"VALID: ", "ok         " + sender, "ok         receipt"}, []string{"existence only"}},
		{"right anchorer, no receipt key", nil, []string{"--anchorer", imp.Hex()}, exitUndecided,
			[]string{"UNDECIDED", "UNDECIDED  receipt", "--receipt-key"}, notValid},
		{"right anchorer, wrong receipt key", nil, []string{"--anchorer", imp.Hex(), "--receipt-key", issuerReceiptKey}, exitInvalid,
			[]string{"INVALID", "FAILED     receipt"}, notValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The impostor's .attest names no attestd server: a record status is
			// not what this test is about (--no-status; see TestStatementsEndToEnd).
			out, code := runCLI(t, append(append([]string{}, env...), tc.env...), append(append([]string{"verify", "--no-status"}, tc.args...), doc)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
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

// sendAndWait sends value and data from key to to on ec and waits for the
// transaction's receipt (the dev chain mines when a transaction arrives).
func sendAndWait(t *testing.T, ec *ethclient.Client, key *ecdsa.PrivateKey, to common.Address, value *big.Int, data []byte) *types.Receipt {
	t.Helper()
	ctx := context.Background()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := ec.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tip := big.NewInt(1_000_000_000)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID: id, Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas: 100_000, To: &to, Value: value, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc, err := ec.TransactionReceipt(ctx, tx.Hash())
		if err == nil {
			if rc.Status != types.ReceiptStatusSuccessful {
				t.Fatalf("tx %s failed", tx.Hash().Hex())
			}
			return rc
		}
		if time.Now().After(deadline) {
			t.Fatalf("tx %s not mined within 30s: %v", tx.Hash().Hex(), err)
		}
		time.Sleep(20 * time.Millisecond) // polling for the mined receipt
	}
}
