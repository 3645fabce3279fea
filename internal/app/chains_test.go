package app

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/batch"
)

// simChain is a simulated chain with its own chain ID and a funded key,
// whose client mines a block as soon as a transaction arrives (as the dev
// chain does) and can be taken down.
type simChain struct {
	simulated.Client
	sim  *simulated.Backend
	key  *ecdsa.PrivateKey
	down atomic.Bool
}

var errDown = errors.New("test: the endpoint is down")

func newSimChain(t *testing.T, id int64) *simChain {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	alloc := types.GenesisAlloc{crypto.PubkeyToAddress(key.PublicKey): {Balance: new(big.Int).Lsh(big.NewInt(1), 100)}}
	sim := simulated.NewBackend(alloc, func(_ *node.Config, e *ethconfig.Config) {
		c := *e.Genesis.Config
		c.ChainID = big.NewInt(id)
		e.Genesis.Config = &c
	})
	t.Cleanup(func() { sim.Close() })
	return &simChain{Client: sim.Client(), sim: sim, key: key}
}

func (c *simChain) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if c.down.Load() {
		return errDown
	}
	if err := c.Client.SendTransaction(ctx, tx); err != nil {
		return err
	}
	c.sim.Commit()
	return nil
}

func (c *simChain) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	if c.down.Load() {
		return nil, errDown
	}
	return c.Client.HeaderByNumber(ctx, n)
}

// TestTwoChains runs the service with two chains configured through
// Config.Chains: a batch is anchored and confirmed on both, the proof
// served for a fingerprint carries both anchors (each a transaction on its
// own chain from its own anchoring account), /v1/info lists both, and
// when one chain's endpoint fails /readyz names that chain alone.
func TestTwoChains(t *testing.T) {
	dir := t.TempDir()
	a, b := newSimChain(t, 1337), newSimChain(t, 1338)
	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	chainCfg := func(c *simChain) ChainConfig {
		return ChainConfig{Client: c, Anchor: anchor.Config{Key: c.key, Confirmations: 1, PollInterval: 20 * time.Millisecond}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	url, done := start(t, ctx, Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", APIKeysFile: keysFile,
		Chains: []ChainConfig{chainCfg(a), chainCfg(b)},
		Batch:  batch.Config{Interval: 50 * time.Millisecond},
		Log:    slog.New(slog.DiscardHandler),
	})
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	var info struct {
		Chains []struct {
			ChainID  uint64 `json:"chain_id"`
			Anchorer string `json:"anchorer"`
		} `json:"chains"`
	}
	get("/v1/info", &info)
	if len(info.Chains) != 2 || info.Chains[0].ChainID != 1337 || info.Chains[1].ChainID != 1338 {
		t.Fatalf("/v1/info chains %+v, want 1337 and 1338", info.Chains)
	}

	fp := strings.Repeat("ef", 32)
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/fingerprints", strings.NewReader(`{"fingerprints":["`+fp+`"]}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}

	type anchorJSON struct {
		ChainID  uint64 `json:"chain_id"`
		TxHash   string `json:"tx_hash"`
		Anchorer string `json:"anchorer"`
	}
	var st struct {
		Status string `json:"status"`
		Chains []struct {
			ChainID uint64 `json:"chain_id"`
			Status  string `json:"status"`
			TxHash  string `json:"tx_hash"`
		} `json:"chains"`
		Proof *struct {
			Anchors []anchorJSON `json:"anchors"`
		} `json:"proof"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for get("/v1/fingerprints/"+fp, &st); st.Status != "confirmed"; get("/v1/fingerprints/"+fp, &st) {
		if time.Now().After(deadline) {
			t.Fatalf("not confirmed on both chains in time: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Proof == nil || len(st.Proof.Anchors) != 2 {
		t.Fatalf("confirmed with proof %+v, want an anchor on each chain", st.Proof)
	}
	if len(st.Chains) != 2 || st.Chains[0].ChainID != 1337 || st.Chains[1].ChainID != 1338 ||
		st.Chains[0].Status != "confirmed" || st.Chains[1].Status != "confirmed" {
		t.Fatalf("confirmed with chains %+v, want 1337 and 1338 both confirmed", st.Chains)
	}
	anchors := slices.Clone(st.Proof.Anchors)
	slices.SortFunc(anchors, func(x, y anchorJSON) int { return int(x.ChainID) - int(y.ChainID) })
	for i, c := range []*simChain{a, b} {
		got := anchors[i]
		if want := uint64(1337 + i); got.ChainID != want {
			t.Fatalf("anchor %d on chain %d, want %d", i, got.ChainID, want)
		}
		if want := crypto.PubkeyToAddress(c.key.PublicKey); !strings.EqualFold(got.Anchorer, want.Hex()) {
			t.Errorf("chain %d anchored by %s, want its own account %s", got.ChainID, got.Anchorer, want.Hex())
		}
		r, err := c.Client.TransactionReceipt(context.Background(), common.HexToHash(got.TxHash))
		if err != nil || r.Status != types.ReceiptStatusSuccessful {
			t.Errorf("chain %d: anchor tx %s: %v %+v", got.ChainID, got.TxHash, err, r)
		}
	}

	// Chain 1338's endpoint fails: the service stays ready, degraded,
	// and names that chain, not the other.
	b.down.Store(true)
	var ready struct {
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}
	deadline = time.Now().Add(30 * time.Second)
	for get("/readyz", &ready); ready.Status != "degraded"; get("/readyz", &ready) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never degraded with chain 1338 down: %+v", ready)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := strings.Join(ready.Reasons, "|"); !strings.Contains(r, "chain 1338") || strings.Contains(r, "chain 1337") {
		t.Fatalf("/readyz reasons %q, want chain 1338 alone", ready.Reasons)
	}
}

// TestChainAddedLater: a service anchoring on 1337 confirms batch 1; it is
// restarted with 1338 added from batch 2 (ChainConfig.Anchor.FirstBatch).
// Batch 1 stays confirmed and lists 1337 alone; batch 2 is anchored on
// both; 1338 never carries an anchor of batch 1.
func TestChainAddedLater(t *testing.T) {
	dir := t.TempDir()
	a, b := newSimChain(t, 1337), newSimChain(t, 1338)
	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	chainCfg := func(c *simChain, first uint64) ChainConfig {
		return ChainConfig{Client: c, Anchor: anchor.Config{Key: c.key, Confirmations: 1, PollInterval: 20 * time.Millisecond, FirstBatch: first}}
	}
	type status struct {
		Status  string `json:"status"`
		BatchID uint64 `json:"batch_id"`
		Chains  []struct {
			ChainID uint64 `json:"chain_id"`
			Status  string `json:"status"`
		} `json:"chains"`
	}
	get := func(url, fp string) status {
		t.Helper()
		resp, err := http.Get(url + "/v1/fingerprints/" + fp)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	run := func(chains []ChainConfig, fp string) (string, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		url, done := start(t, ctx, Config{
			DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", APIKeysFile: keysFile,
			Chains: chains, Batch: batch.Config{Interval: 50 * time.Millisecond}, Log: slog.New(slog.DiscardHandler),
		})
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/fingerprints", strings.NewReader(`{"fingerprints":["`+fp+`"]}`))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		deadline := time.Now().Add(30 * time.Second)
		for st := get(url, fp); st.Status != "confirmed"; st = get(url, fp) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not confirmed: %+v", fp, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return url, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	fp1, fp2 := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	_, stop := run([]ChainConfig{chainCfg(a, 0)}, fp1)
	stop()
	url, stop := run([]ChainConfig{chainCfg(a, 0), chainCfg(b, 2)}, fp2)
	defer stop()
	if st := get(url, fp1); st.BatchID != 1 || st.Status != "confirmed" || len(st.Chains) != 1 || st.Chains[0].ChainID != 1337 {
		t.Fatalf("batch 1 after 1338 was added from batch 2: %+v, want confirmed on 1337 alone", st)
	}
	if st := get(url, fp2); st.BatchID != 2 || len(st.Chains) != 2 || st.Chains[1].ChainID != 1338 || st.Chains[1].Status != "confirmed" {
		t.Fatalf("batch 2: %+v, want confirmed on 1337 and 1338", st)
	}
	if n, err := b.Client.NonceAt(context.Background(), crypto.PubkeyToAddress(b.key.PublicKey), nil); err != nil || n != 1 {
		t.Fatalf("1338's anchoring account sent %d transactions (%v), want 1: batch 2's", n, err)
	}
}
