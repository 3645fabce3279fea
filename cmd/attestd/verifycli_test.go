package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/receipt"
)

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
		fmt.Sprintf("  %d  SUPERSEDED", exitSuperseded),
		fmt.Sprintf("  %d  WITHDRAWN", exitWithdrawn),
		"--require", "cross-checked", "endpoints_agree", "--status", "--no-status", "record_status",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("verify --help lacks %q", want)
		}
	}
}

// TestRotatedServerEntry: the trust entry of a server that rotated its
// receipt key lists both keys with the periods /v1/info gives (the legacy
// key without a published start from --valid-from), and the export pins
// the key signing now.
func TestRotatedServerEntry(t *testing.T) {
	oldKey, curKey := bytes.Repeat([]byte{1}, ed25519.PublicKeySize), bytes.Repeat([]byte{2}, ed25519.PublicKeySize)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	a := "0x8a9f3c2b1d4e5f60718293a4b5c6d7e8f9012345"
	info := &api.Info{
		Chains:      []api.ChainInfo{{ChainID: 1337, Anchorer: a, Sink: a}},
		ReceiptKeys: []api.ReceiptKey{{PublicKey: oldKey, ValidUntil: &at}, {PublicKey: curKey, ValidFrom: &at}},
	}
	legacyFrom := at.Add(-30 * 24 * time.Hour)
	e, err := trustEntry(info, "Taipei General", "TW", "", legacyFrom)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.ReceiptKeys) != 2 ||
		!bytes.Equal(e.ReceiptKeys[0].PublicKey, oldKey) || !e.ReceiptKeys[0].ValidFrom.Equal(legacyFrom) || e.ReceiptKeys[0].ValidUntil == nil || !e.ReceiptKeys[0].ValidUntil.Equal(at) ||
		!bytes.Equal(e.ReceiptKeys[1].PublicKey, curKey) || !e.ReceiptKeys[1].ValidFrom.Equal(at) || e.ReceiptKeys[1].ValidUntil != nil {
		t.Fatalf("entry keys: %+v", e.ReceiptKeys)
	}
	out, err := exportLines(info)
	if err != nil || !strings.Contains(out, "ATTESTD_RECEIPT_KEY="+base64.StdEncoding.EncodeToString(curKey)+"\n") {
		t.Fatalf("export pins %q, %v; want the key signing now", out, err)
	}
}

// TestReceiptKeysRotateNotice: rotate refuses a start that leaves running
// servers no time to re-read the file, and adds a key otherwise.
func TestReceiptKeysRotateNotice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipt-key.pem")
	run := func(args ...string) (string, error) {
		cmd := newReceiptKeysCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--file", path))
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := run("init"); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("init: %q, %v", out, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("init wrote %v, %v; want mode 0600", fi, err)
	}
	if _, err := run("init"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("init over an existing file: %v", err)
	}
	soon := time.Now().Add(10 * time.Second).UTC().Format(time.RFC3339)
	if _, err := run("rotate", "--at", soon); err == nil || !strings.Contains(err.Error(), "re-read the key file") {
		t.Fatalf("rotate 10 s ahead: %v", err)
	}
	if out, err := run("rotate"); err != nil || !strings.Contains(out, "added receipt key") {
		t.Fatalf("rotate: %q, %v", out, err)
	}
	out, err := run("list")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, "(open-ended)") {
		t.Fatalf("list after a rotation: %q, %v", out, err)
	}
	ring, err := receipt.LoadKeyring(path)
	if err != nil || len(ring.Keys()) != 2 || ring.Keys()[1].ValidFrom.Sub(time.Now()) < 23*time.Hour {
		t.Fatalf("after rotate: %v, %v", ring, err)
	}
}

// TestVerifyStatusFlags: the record-status flags that contradict each
// other, or a status file nothing can check, are usage errors, refused
// before anything is read.
func TestVerifyStatusFlags(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "doc.txt")
	if err := os.WriteFile(doc, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-status", "--status", "s.json"}, "--no-status"},
		{[]string{"--no-status", "--server", "http://127.0.0.1:1"}, "--no-status"},
		{[]string{"--offline", "--server", "http://127.0.0.1:1"}, "--server is asked online"},
		{[]string{"--status", "s.json", "--server", "http://127.0.0.1:1"}, "give one"},
		{[]string{"--offline", "--any-issuer", "--status", filepath.Join(dir, "missing.json")}, "--status"},
	} {
		var out bytes.Buffer
		root := newRoot(&out, &out)
		root.SetArgs(append(append([]string{"verify"}, c.args...), doc))
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("verify %v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
}
