package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/attestfile"
)

// TestServeVerifyRPC: serve --verify-rpc adds an endpoint that POST
// /v1/verify cross-checks with the anchoring one. While it agrees the
// proof is valid; once it lies about the block hash at the anchor's
// height the answer is undecided with endpoints_agree named, never valid
// and never invalid. An endpoint of a chain the server does not anchor
// on stops serve at start.
func TestServeVerifyRPC(t *testing.T) {
	// The dev chain's port is chosen here so the proxy can stand in
	// front of it before serve asks the proxy its chain id.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	chainAddr := ln.Addr().String()
	ln.Close()
	var lie atomic.Bool
	// It rewrites extraData of block answers: another header, another hash.
	proxyURL := lyingProxyWhile(t, "http://"+chainAddr, "eth_getBlockByNumber", "extraData", "0x6c6965", &lie)

	dir := t.TempDir()
	s := serveDev(t, filepath.Join(dir, "data"), "--chain-listen", chainAddr, "--verify-rpc", proxyURL, "--batch-interval", "300ms")
	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "ECG normal sinus rhythm\n")
	s.mustRun(t, "stamp", doc)
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if err != nil || f.Proof == nil {
		t.Fatalf("no proof: %v", err)
	}
	post := func() (int, map[string]any, string) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"bundle": f.Proof})
		resp, err := http.Post(s.url+"/v1/verify", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(body, &out)
		return resp.StatusCode, out, string(body)
	}
	if code, out, body := post(); code != 200 || out["verdict"] != "valid" {
		t.Fatalf("two agreeing endpoints: %d %s", code, body)
	}
	lie.Store(true)
	// The server caches chain reads per anchor briefly (verify.NewCachedChain):
	// ask until the reads are fresh, and never see valid or invalid meanwhile
	// from a fresh read.
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, out, body := post()
		if code == 200 && out["verdict"] == "undecided" {
			if !strings.Contains(body, `"name":"anchor[1337].endpoints_agree"`) || !strings.Contains(body, `"state":"undecided"`) {
				t.Fatalf("undecided without endpoints_agree: %s", body)
			}
			break
		}
		if code != 200 || out["verdict"] != "valid" || time.Now().After(deadline) {
			t.Fatalf("one endpoint lying about the block hash: %d %s; want 200, undecided, endpoints_agree", code, body)
		}
		time.Sleep(250 * time.Millisecond) // polling past the cache's lifetime
	}
	s.stop(t)

	// An endpoint of another chain: serve refuses to start, naming it.
	otherRPC, _ := devChainProc(t, filepath.Join(dir, "other"), 1338)
	out2, code2 := runCLI(t, nil, "serve", "--dev", "--data-dir", filepath.Join(dir, "third"), "--listen", "127.0.0.1:0",
		"--chain-listen", "127.0.0.1:0", "--verify-rpc", otherRPC)
	if code2 == 0 || !strings.Contains(out2, "serves chain 1338, which this server does not anchor on") {
		t.Fatalf("serve with a verify endpoint of another chain: exit %d\n%s", code2, out2)
	}
}
