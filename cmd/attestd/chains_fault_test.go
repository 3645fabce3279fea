package main

import (
	"bytes"
	"context"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/proof"
)

// faultProxy stands between attestd and a chain's JSON-RPC endpoint on
// 127.0.0.1: passing everything, failing everything (the chain is down),
// or passing until an eth_sendRawTransaction has gone through and then
// failing everything (the anchor is broadcast, its receipt never read).
type faultProxy struct {
	*httptest.Server
	mode atomic.Int32 // proxyPass, proxyDown, proxyFailAfterSend
	sent chan struct{}
	once atomic.Bool
}

const (
	proxyPass = iota
	proxyDown
	proxyFailAfterSend
)

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &faultProxy{sent: make(chan struct{})}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		mode := p.mode.Load()
		if mode == proxyDown || mode == proxyFailAfterSend && p.once.Load() {
			http.Error(w, "the chain is down (test proxy)", http.StatusServiceUnavailable)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
		if mode == proxyFailAfterSend && bytes.Contains(body, []byte("eth_sendRawTransaction")) && p.once.CompareAndSwap(false, true) {
			close(p.sent)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

// devChainProc runs `attestd devchain` with chainID and returns its RPC URL
// and anchoring account's key file.
func devChainProc(t *testing.T, dir string, chainID uint64) (rpc, keyFile string) {
	t.Helper()
	p := start(t, "devchain", "--data-dir", dir, "--listen", "127.0.0.1:0", "--chain-id", strconv.FormatUint(chainID, 10), "--log-format", "json")
	l := p.waitLog(t, "dev chain started", 60*time.Second)
	if id, _ := l["chain_id"].(float64); uint64(id) != chainID {
		t.Fatalf("devchain --chain-id %d started chain %v", chainID, l["chain_id"])
	}
	return l["rpc"].(string), filepath.Join(dir, devchain.KeyFile)
}

// anchorsBy scans every block of the chain at rpc for ATST anchor
// transactions sent by from and counts them per batch id.
func anchorsBy(t *testing.T, rpc string, from common.Address) map[uint64]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := ethclient.Dial(rpc)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	head, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := cl.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer := types.LatestSignerForChainID(id)
	got := map[uint64]int{}
	for n := uint64(0); n <= head; n++ {
		b, err := cl.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range b.Transactions() {
			sender, err := types.Sender(signer, tx)
			if err != nil || sender != from {
				continue
			}
			if p, err := proof.DecodePayload(tx.Data()); err == nil {
				got[p.BatchID]++
			}
		}
	}
	return got
}

// TestChainsIndependent: attestd anchoring on two dev chains (1337, 1338;
// separate processes), 1338 behind a fault-injecting proxy. While 1338 is
// down a batch is confirmed on 1337 (upgrade --wait --wait-for any
// returns and says 1338 is behind; --wait for all does not); when 1338
// comes back with the anchor broadcast but its receipt unread, attestd is
// restarted mid-way, and resumes 1338's in-flight anchor; every batch ends
// up anchored exactly once on each chain (both chains' blocks scanned for
// ATST payloads from the anchoring accounts).
func TestChainsIndependent(t *testing.T) {
	dir := t.TempDir()
	rpcA, keyA := devChainProc(t, filepath.Join(dir, "chain-a"), 1337)
	rpcB, keyB := devChainProc(t, filepath.Join(dir, "chain-b"), 1338)
	proxy := newFaultProxy(t, rpcB)
	proxy.mode.Store(proxyDown)

	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	serve := func() *service {
		p := start(t, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--api-keys-file", keysFile,
			"--log-format", "json", "--chain-poll", "100ms", "--batch-interval", "200ms",
			"--chain", "id=1337,rpc="+rpcA+",key-file="+keyA+",confirmations=1,name=a",
			"--chain", "id=1338,rpc="+proxy.URL+",key-file="+keyB+",confirmations=1,name=b")
		serving := p.waitLog(t, "attestd serving", 60*time.Second)
		return &service{proc: p, url: serving["url"].(string), rpc: rpcA, apiKey: apiKey, dataDir: data}
	}
	s := serve()

	doc1 := filepath.Join(dir, "one.txt")
	writeFile(t, doc1, "one\n")
	s.mustRun(t, "stamp", doc1)
	out := s.mustRun(t, "upgrade", "--wait", "--wait-for", "any", "--timeout", "60s", doc1)
	if !strings.Contains(out, "confirmed on 1337; 1338 sealed") {
		t.Fatalf("upgrade --wait-for any with 1338 down:\n%s\nwant it to say 1337 confirmed, 1338 behind", out)
	}
	if out, code := s.run(t, "upgrade", "--wait", "--timeout", "1s", doc1); code != exitInvalid || !strings.Contains(out, "not confirmed within") {
		t.Fatalf("upgrade --wait (all) with 1338 down: exit %d\n%s\nwant 1, not confirmed", code, out)
	}
	if f, err := attestfile.Read(attestfile.PathFor(doc1)); err != nil || f.Proof == nil || len(f.Proof.Anchors) != 1 || f.Proof.Anchors[0].ChainID != 1337 {
		t.Fatalf("the .attest with 1338 down: %+v %v, want 1337's anchor alone", f, err)
	}

	// 1338 comes back, but only until its anchor is broadcast; attestd is
	// restarted with the anchor in flight.
	proxy.mode.Store(proxyFailAfterSend)
	select {
	case <-proxy.sent:
	case <-time.After(60 * time.Second):
		t.Fatal("no anchor broadcast on 1338 within 60s of its coming back")
	}
	s.stop(t)
	proxy.mode.Store(proxyPass)
	s = serve()
	doc2 := filepath.Join(dir, "two.txt")
	writeFile(t, doc2, "two\n")
	s.mustRun(t, "stamp", doc2)
	out = s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc1, doc2)
	if strings.Count(out, "confirmed (confirmed on 1337, 1338)") != 2 {
		t.Fatalf("upgrade --wait after 1338 came back:\n%s", out)
	}
	batches := map[uint64]bool{}
	for _, doc := range []string{doc1, doc2} {
		f, err := attestfile.Read(attestfile.PathFor(doc))
		if err != nil || f.Proof == nil || len(f.Proof.Anchors) != 2 {
			t.Fatalf("%s: %+v %v, want anchors on both chains", doc, f, err)
		}
		batches[f.Proof.BatchID] = true
	}
	s.stop(t)

	for _, c := range []struct {
		rpc, keyFile string
	}{{rpcA, keyA}, {rpcB, keyB}} {
		key, err := app.LoadHexKey(c.keyFile)
		if err != nil {
			t.Fatal(err)
		}
		got := anchorsBy(t, c.rpc, crypto.PubkeyToAddress(key.PublicKey))
		for id, n := range got {
			if n != 1 {
				t.Errorf("%s: batch %d anchored %d times", c.rpc, id, n)
			}
		}
		for id := range batches {
			if got[id] != 1 {
				t.Errorf("%s: batch %d anchored %d times, want once", c.rpc, id, got[id])
			}
		}
	}
}
