package main

import (
	"context"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/crashpoint"
)

// TestCrashConsistency kills the real binary with SIGKILL under a bounded
// load, at every crash point (after the store acknowledged a submission,
// after a seal committed, after an anchor tx was signed and persisted,
// after it was broadcast, after it was recorded as mined) and at random
// moments, restarting it on the same data dir each time. Afterwards every
// fingerprint that got a 202 is confirmed in exactly one batch, and no
// batch has two anchor transactions on the chain (which outlives the
// crashes: it is a separate `attestd devchain`).
//
// ATTESTD_CRASH_ROUNDS (default 1) repeats the schedule: make test-long
// sets it higher.
func TestCrashConsistency(t *testing.T) {
	binary(t)
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("ATTESTD_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	dir := t.TempDir()
	chainDir := filepath.Join(dir, "chain")
	chain := start(t, "devchain", "--data-dir", chainDir, "--listen", "127.0.0.1:0", "--log-format", "json")
	rpc := chain.waitLog(t, "dev chain started", 60*time.Second)["rpc"].(string)
	chainKey := filepath.Join(chainDir, "dev-key")
	key, err := app.LoadHexKey(chainKey)
	if err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "crash test")
	if err != nil {
		t.Fatal(err)
	}
	serveArgs := []string{"serve", "--data-dir", filepath.Join(dir, "data"),
		"--chain-rpc", rpc, "--chain-key-file", chainKey, "--chain-id", strconv.Itoa(devChainID),
		"--api-keys-file", keysFile, "--listen", "127.0.0.1:0",
		"--batch-interval", "200ms", "--confirmations", "1", "--chain-poll", "50ms",
		"--rate-limit", "0", "--log-format", "json"}

	points := []string{crashpoint.Acknowledged, crashpoint.Sealed, crashpoint.AnchorSigned,
		crashpoint.AnchorBroadcast, crashpoint.AnchorMined, "random"}
	all := &load{acked: map[string]ack{}, failures: map[string]int{}}
	for round := range rounds {
		for _, point := range points {
			var env []string
			if point != "random" {
				// Not always the first time: later hits land mid-load.
				env = []string{"ATTESTD_CRASH_AT=" + point + ":" + strconv.Itoa(1+mrand.IntN(3))}
			}
			p := startEnv(t, env, serveArgs...)
			url, up := waitServingOrKilled(t, p)
			if !up {
				// Killed while recovering (e.g. re-broadcasting at start-up): a
				// crash point too, with no new load.
				t.Logf("round %d, killed at %s during recovery, before serving", round, point)
				continue
			}
			l := &load{urls: []string{url}, apiKey: apiKey, workers: 4, budget: 600, maxBatch: 20,
				pace: 40 * time.Millisecond, maxTime: 15 * time.Second}
			ctx, cancel := context.WithCancel(context.Background())
			loadDone := make(chan struct{})
			go func() { l.run(ctx); close(loadDone) }()
			if point == "random" {
				time.Sleep(time.Duration(200+mrand.IntN(1300)) * time.Millisecond)
				p.cmd.Process.Signal(syscall.SIGKILL)
			}
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				cancel()
				t.Fatalf("round %d: the crash point %q was never reached", round, point)
			}
			p.cmd.Wait()
			if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("round %d, %s: the process ended with %v, not SIGKILL", round, point, p.cmd.ProcessState)
			}
			cancel()
			<-loadDone
			t.Logf("round %d, killed at %s: %s", round, point, l.summary())
			all.mu.Lock()
			l.mu.Lock()
			all.attempted = append(all.attempted, l.attempted...)
			for fp, a := range l.acked {
				all.acked[fp] = a
			}
			all.requests += l.requests
			l.mu.Unlock()
			all.mu.Unlock()
		}
	}
	if all.ackedCount() == 0 {
		t.Fatal("no fingerprint was acknowledged in any round: the test checked nothing")
	}

	final := start(t, serveArgs...)
	url := final.waitLog(t, "attestd serving", 60*time.Second)["url"].(string)
	c := &cluster{rpc: rpc, anchorer: crypto.PubkeyToAddress(key.PublicKey)}
	checkBatchesAndChain(t, c, all, []*replica{{proc: final, id: "final", url: url}})
	final.stop(t)
}

// waitServingOrKilled waits until p serves (its URL, true) or dies of
// SIGKILL first ("", false).
func waitServingOrKilled(t *testing.T, p *proc) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if l, ok := p.findLog("attestd serving", time.Time{}); ok {
			return l["url"].(string), true
		}
		select {
		case <-p.done:
			if l, ok := p.findLog("attestd serving", time.Time{}); ok {
				return l["url"].(string), true
			}
			p.cmd.Wait()
			if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the process ended with %v before serving", p.cmd.ProcessState)
			}
			return "", false
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("not serving within 60s")
	return "", false
}
