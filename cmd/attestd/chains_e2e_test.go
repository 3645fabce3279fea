package main

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/attestfile"
)

// TestDevChainsEndToEnd: serve --dev --dev-chains 2 runs two embedded dev
// chains (1337 and 1338, each its own node and funded key); a stamped
// document's upgrade --wait returns once the batch is confirmed on both,
// and its .attest carries an anchor on each, a mined transaction on that
// chain from that chain's own account.
func TestDevChainsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := serveDev(t, data, "--dev-chains", "2", "--batch-interval", "300ms")
	rpcs := map[uint64]string{}
	s.mu.Lock()
	for _, l := range s.lines {
		if l["msg"] == "embedded dev chain running" {
			rpcs[uint64(l["chain_id"].(float64))] = l["rpc"].(string)
		}
	}
	s.mu.Unlock()
	if len(rpcs) != 2 || rpcs[1337] == "" || rpcs[1338] == "" || rpcs[1337] == rpcs[1338] {
		t.Fatalf("dev chains running: %v, want 1337 and 1338 on their own endpoints", rpcs)
	}

	doc := filepath.Join(dir, "discharge.txt")
	writeFile(t, doc, "discharged 2026-12-04\n")
	s.mustRun(t, "stamp", doc)
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Proof == nil || len(f.Proof.Anchors) != 2 {
		t.Fatalf("the .attest's proof %+v, want an anchor on each chain", f.Proof)
	}
	var ids []uint64
	for _, a := range f.Proof.Anchors {
		ids = append(ids, a.ChainID)
		cl, err := ethclient.Dial(rpcs[a.ChainID])
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := cl.TransactionReceipt(ctx, a.TxHash)
		if err != nil || r.Status != types.ReceiptStatusSuccessful || r.BlockHash != a.BlockHash {
			t.Fatalf("chain %d: anchor %s: %v %+v", a.ChainID, a.TxHash.Hex(), err, r)
		}
		tx, _, err := cl.TransactionByHash(ctx, a.TxHash)
		if err != nil {
			t.Fatal(err)
		}
		if from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx); err != nil || from != a.Anchorer || tx.ChainId().Uint64() != a.ChainID {
			t.Fatalf("chain %d: tx from %s (chain %v), want the anchorer %s", a.ChainID, from.Hex(), tx.ChainId(), a.Anchorer.Hex())
		}
		cancel()
		cl.Close()
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{1337, 1338}) {
		t.Fatalf("anchors on chains %v, want 1337 and 1338", ids)
	}
	if f.Proof.Anchors[0].Anchorer == f.Proof.Anchors[1].Anchorer {
		t.Fatalf("both chains anchored by %s: each dev chain has its own funded key", f.Proof.Anchors[0].Anchorer.Hex())
	}
	s.stop(t)
}
