package main

import (
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
)

// TestEndpointCredentialsNotPrinted runs the binary with endpoint URLs
// that carry credentials in the user info, the path and the query, on a
// loopback port nothing listens on, and looks for them in what it prints
// when it fails: serve's fatal start-up error (the chain endpoint, from
// --chain-rpc or ATTESTD_CHAIN_RPC, is asked for its chain ID) and a client
// command's error (info's server URL).
func TestEndpointCredentialsNotPrinted(t *testing.T) {
	bin := binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const user, path, query = "USERPW7", "PATHKEY7", "QUERYKEY7"
	endpoint := "http://user:" + user + "@" + addr + "/v3/" + path + "?apikey=" + query

	dir := t.TempDir()
	key, _ := crypto.GenerateKey()
	keyFile := filepath.Join(dir, "chain-key")
	writeFile(t, keyFile, hex.EncodeToString(crypto.FromECDSA(key)))
	keysFile := filepath.Join(dir, "api-keys")
	if out, err := exec.Command(bin, "keys", "add", "hospital-a", "--file", keysFile).CombinedOutput(); err != nil {
		t.Fatalf("keys add: %v\n%s", err, out)
	}

	serve := []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--log-format", "json",
		"--chain-key-file", keyFile, "--api-keys-file", keysFile}
	for _, c := range []struct {
		name string
		args []string
		env  string
	}{
		{"serve", append(serve, "--chain-rpc", endpoint), ""},
		// The endpoint from the environment, out of ps: it is used (the
		// error names it) and shown redacted as well.
		{"serve with ATTESTD_CHAIN_RPC", serve, endpoint},
		{"info", []string{"info", "--server", endpoint}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Env = append(os.Environ(), "ATTESTD_SERVER=", "ATTESTD_RPC=", "ATTESTD_CHAIN_RPC="+c.env)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitError {
				t.Fatalf("want exit %d, got %v:\n%s", exitError, err, out)
			}
			for _, s := range []string{user, path, query, "user:"} {
				if strings.Contains(string(out), s) {
					t.Errorf("the output shows %q:\n%s", s, out)
				}
			}
			last := strings.TrimSpace(string(out))
			last = last[strings.LastIndexByte(last, '\n')+1:]
			if !strings.HasPrefix(last, "attestd: ") || !strings.Contains(last, "http://"+addr+"/…") {
				t.Errorf("the error does not name the endpoint as http://%s/…: %s", addr, last)
			}
		})
	}
}

// TestVerifyDoesNotPrintEndpointCredentials: verify against an endpoint
// that is down, whose URL holds keys in user info, path and query, is
// UNDECIDED and names the endpoint by scheme and host only.
func TestVerifyDoesNotPrintEndpointCredentials(t *testing.T) {
	bin := binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const user, pathKey, query = "USERPW8", "PATHKEY8", "QUERYKEY8"
	endpoint := "http://user:" + user + "@" + addr + "/v3/" + pathKey + "?apikey=" + query

	dir := t.TempDir()
	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "lab result: negative\n")
	fp, _, err := fingerprint.HashDocument(doc, fingerprint.CanonNone, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	root, path := oneLeafTree(t, fp)
	b := &proof.Bundle{
		Version: proof.VersionV1, Fingerprint: fp, BatchID: 1, Index: 0, Size: 1, Root: root, Path: path,
		Anchors: []proof.Anchor{{ChainID: 1337, TxHash: common.Hash{1}, BlockNumber: 1, BlockHash: common.Hash{2}, Anchorer: common.Address{3}}},
	}
	if err := attestfile.Write(attestfile.PathFor(doc), &attestfile.File{Version: attestfile.Version, Fingerprint: fp, Canonicalization: fingerprint.CanonNone, Proof: b}, 0); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "verify", doc, "--rpc", endpoint, "--any-issuer")
	cmd.Env = append(os.Environ(), "ATTESTD_RPC=", "ATTESTD_ANCHORER=", "ATTESTD_RECEIPT_KEY=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("want exit 3 (undecided), got %v:\n%s", err, out)
	}
	for _, s := range []string{user, pathKey, query, "user:"} {
		if strings.Contains(string(out), s) {
			t.Errorf("verify shows %q:\n%s", s, out)
		}
	}
	if !strings.Contains(string(out), "http://"+addr) {
		t.Errorf("verify does not name the endpoint as http://%s:\n%s", addr, out)
	}
}
