package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/proof"
)

// TestEvidenceUnsupportedChain: a chain whose endpoint names block hashes
// go-ethereum does not compute from the headers it returns (as chains
// with header fields of their own do; here a proxy rewrites the "hash"
// field) is detected at start: /v1/info says evidence false for it, its
// anchors say no_evidence "unsupported", upgrade --wait does not wait for
// evidence that will never come, online verify still decides, and offline
// verify is undecided saying why.
func TestEvidenceUnsupportedChain(t *testing.T) {
	dir := t.TempDir()
	rpc, keyFile := devChainProc(t, filepath.Join(dir, "chain"), 1337)
	proxyURL := lyingProxy(t, rpc, "eth_getBlockByNumber", "hash", "0x"+strings.Repeat("ab", 32))

	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, "serve", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--api-keys-file", keysFile,
		"--log-format", "json", "--chain-poll", "100ms", "--batch-interval", "200ms",
		"--chain-rpc", proxyURL, "--chain-key-file", keyFile, "--confirmations", "1")
	p.waitLog(t, "go-ethereum does not reproduce this chain's block hashes; its anchors are served without chain evidence", 60*time.Second)
	serving := p.waitLog(t, "attestd serving", 60*time.Second)
	s := &service{proc: p, url: serving["url"].(string), rpc: rpc, apiKey: apiKey}

	info := s.mustRun(t, "info")
	if !strings.Contains(info, `"evidence": false`) {
		t.Fatalf("/v1/info does not say evidence false:\n%s", info)
	}
	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "ECG normal\n")
	s.mustRun(t, "stamp", doc)
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if err != nil || f.Proof == nil || len(f.Proof.Anchors) != 1 {
		t.Fatalf("%+v %v", f, err)
	}
	if a := f.Proof.Anchors[0]; a.NoEvidence != proof.NoEvidenceUnsupported || a.Evidence != nil || f.Proof.Version != proof.Version {
		t.Fatalf("anchor: no_evidence %q, evidence %d bytes, version %d; want unsupported, none, %d", a.NoEvidence, len(a.Evidence), f.Proof.Version, proof.Version)
	}
	if out, code := s.run(t, "verify", "--any-issuer", doc); code != 0 {
		t.Fatalf("online verify: exit %d\n%s", code, out)
	}
	out, code := s.run(t, "verify", "--offline", "--any-issuer", doc)
	if code != exitUndecided || !strings.Contains(out, "the issuer cannot collect it on this chain") {
		t.Fatalf("offline verify: exit %d\n%s\nwant 3, saying the issuer cannot collect evidence on the chain", code, out)
	}
}
