package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/proof"
)

// TestRestoredStoreSkipsAnchoredBatchIDs: batches 1 … 5 are anchored and
// confirmed; the store is put back to a copy made after batch 3 (a
// restored backup) and the service restarted: it finds batches 4 and 5
// on chain, adopts them, seals the next batch as 6 (not 4), logs it and
// counts it in attestd_batch_ids_skipped_total; on chain no batch ID has
// two roots.
func TestRestoredStoreSkipsAnchoredBatchIDs(t *testing.T) {
	dir := t.TempDir()
	c := newSimChain(t, 1337)
	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	type status struct {
		Status  string `json:"status"`
		BatchID uint64 `json:"batch_id"`
	}
	get := func(url, path string) (int, string) {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// stamp submits fp and waits until it is confirmed; it returns its batch.
	stamp := func(url, fp string) uint64 {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/fingerprints", strings.NewReader(`{"fingerprints":["`+fp+`"]}`))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var st status
			if code, body := get(url, "/v1/fingerprints/"+fp); code == http.StatusOK {
				if err := json.Unmarshal([]byte(body), &st); err != nil {
					t.Fatal(err)
				}
			}
			if st.Status == "confirmed" {
				return st.BatchID
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not confirmed: %+v", fp, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	logs := new(syncBuffer)
	run := func() (string, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		url, done := start(t, ctx, Config{
			DataDir: data, Listen: "127.0.0.1:0", APIKeysFile: keysFile,
			Chains: []ChainConfig{{Client: c, Anchor: anchor.Config{Key: c.key, Confirmations: 1, PollInterval: 20 * time.Millisecond}}},
			Batch:  batch.Config{Interval: 50 * time.Millisecond},
			Log:    slog.New(slog.NewJSONHandler(logs, nil)),
		})
		return url, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	fp := func(i int) string { return strings.Repeat(string("0123456789"[i])+"f", 32) }

	url, stop := run()
	for i := 1; i <= 3; i++ {
		if id := stamp(url, fp(i)); id != uint64(i) {
			t.Fatalf("fingerprint %d in batch %d", i, id)
		}
	}
	stop()
	backup := filepath.Join(dir, "backup")
	copyStore(t, data, backup)
	url, stop = run()
	for i := 4; i <= 5; i++ {
		if id := stamp(url, fp(i)); id != uint64(i) {
			t.Fatalf("fingerprint %d in batch %d", i, id)
		}
	}
	stop()
	copyStore(t, backup, data) // the restore

	logs = new(syncBuffer) // before run: the old services stopped
	url, stop = run()
	defer stop()
	if id := stamp(url, fp(6)); id != 6 {
		t.Fatalf("after the restore the next batch is %d, want 6 (4 and 5 are on chain)", id)
	}
	if code, _ := get(url, "/v1/fingerprints/"+fp(4)); code != http.StatusNotFound {
		t.Errorf("fingerprint 4 after the restore: %d, want 404 (the store lost it)", code)
	}
	if !strings.Contains(logs.String(), "missing from the store (restored from a backup?)") || !strings.Contains(logs.String(), `"batch_ids":[4,5]`) {
		t.Errorf("no log line about batches 4 and 5:\n%s", logs.String())
	}
	_, metrics := get(url, "/metrics")
	for _, want := range []string{"\nattestd_batch_ids_skipped_total 2\n", "\nattestd_chain_batch_id_highest{chain=\"1337\"} 5\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	roots := chainRoots(t, c)
	for id := uint64(1); id <= 6; id++ {
		if len(roots[id]) != 1 {
			t.Errorf("batch %d anchored on chain with %d roots, want 1", id, len(roots[id]))
		}
	}
}

// copyStore copies the embedded store's files (attestd.db*) from one
// directory to another, replacing them.
func copyStore(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(from, StoreFile+"*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no store files in %s: %v", from, err)
	}
	for _, n := range names {
		dst := filepath.Join(to, filepath.Base(n))
		if err := os.RemoveAll(dst); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(n); err == nil && st.IsDir() { // the index's runs
			if err := os.CopyFS(dst, os.DirFS(n)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// chainRoots scans every block of c for ATST payloads sent by its
// anchoring account: the roots seen for each batch ID.
func chainRoots(t *testing.T, c *simChain) map[uint64]map[[32]byte]bool {
	t.Helper()
	ctx := context.Background()
	from := crypto.PubkeyToAddress(c.key.PublicKey)
	head, err := c.Client.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := c.Client.ChainID(ctx)
	signer := types.LatestSignerForChainID(id)
	roots := map[uint64]map[[32]byte]bool{}
	for n := uint64(0); n <= head; n++ {
		b, err := c.Client.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range b.Transactions() {
			if s, err := types.Sender(signer, tx); err != nil || s != from {
				continue
			}
			if p, err := proof.DecodePayload(tx.Data()); err == nil {
				if roots[p.BatchID] == nil {
					roots[p.BatchID] = map[[32]byte]bool{}
				}
				roots[p.BatchID][p.Root] = true
			}
		}
	}
	return roots
}
