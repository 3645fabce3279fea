package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/devchain"
)

// TestBackupRestore: serve --backup-dir writes copies while it runs; a
// copy put in place of the store files brings the service back as it was
// at that copy: what was stamped before it is proved and verifies, what
// was stamped after it is unknown. The batch sealed by the second stamp
// (both stamps, anchored after the copy and confirmed before the stop) is
// not sealed again under its number: the chain holds each batch ID once.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	data, backups := filepath.Join(dir, "data"), filepath.Join(dir, "backups")
	// Batch 1 is sealed when the second fingerprint comes (after the copy)
	// and its anchor confirmed before the service stops, so the restored
	// service finds it on chain whatever the timing.
	s := serveDev(t, data, "--batch-interval", "1h", "--max-batch-size", "2", "--backup-dir", backups, "--backup-every", "200ms", "--backup-keep", "3")

	stamp := func(s *service, name string) (doc, fp string) {
		t.Helper()
		doc = filepath.Join(dir, name)
		writeFile(t, doc, "report "+name)
		out := s.mustRun(t, "stamp", doc)
		return doc, strings.Fields(out)[0]
	}
	before, fpBefore := stamp(s, "before.txt")
	// A copy that starts after the stamp's 202, taken out of the backup
	// directory at once: at one copy per 200 ms keeping 3, the service
	// prunes it 600 ms later (a copy pruned before it was read is skipped
	// for a newer one).
	stamped := time.Now()
	saved := filepath.Join(dir, "saved")
	save := func(copyDir string) bool {
		os.RemoveAll(saved)
		err := os.CopyFS(saved, os.DirFS(copyDir))
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
		if err != nil {
			t.Fatalf("the copy %s: %v", copyDir, err)
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for got := false; !got; {
		if time.Now().After(deadline) {
			t.Fatal("no backup within 30 s at one per 200 ms")
		}
		var copies []string
		s.mu.Lock()
		for _, l := range s.lines {
			if l["msg"] != "backup written" {
				continue
			}
			if at, err := time.Parse(time.RFC3339Nano, l["time"].(string)); err == nil && at.After(stamped.Add(time.Second)) {
				copies = append(copies, l["path"].(string))
			}
		}
		s.mu.Unlock()
		for i := len(copies) - 1; i >= 0 && !got; i-- { // the newest first
			got = save(copies[i])
		}
		time.Sleep(50 * time.Millisecond)
	}
	after, fpAfter := stamp(s, "after.txt")
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", after)
	s.stop(t)
	if ents, _ := os.ReadDir(backups); len(ents) > 3 {
		t.Fatalf("%d backups kept, want at most 3", len(ents))
	}

	// Restore as the README says: the store's files moved aside, the
	// copy's put in their place.
	damaged := filepath.Join(dir, "damaged")
	if err := os.Mkdir(damaged, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"attestd.db", "attestd.db.log", "attestd.db.idx"} {
		if err := os.Rename(filepath.Join(data, name), filepath.Join(damaged, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(data, os.DirFS(saved)); err != nil {
		t.Fatal(err)
	}
	r := serveDev(t, data, "--batch-interval", "1s")
	for fp, want := range map[string]int{fpBefore: http.StatusOK, fpAfter: http.StatusNotFound} {
		resp, err := http.Get(r.url + "/v1/fingerprints/" + fp)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s on the restored service: %d, want %d", fp, resp.StatusCode, want)
		}
	}
	r.mustRun(t, "upgrade", "--wait", "--timeout", "60s", before)
	// Pinned to what the restored service publishes: its keys came back too.
	if out, code := r.runEnv(t, r.pins(t), "verify", before); code != 0 || !strings.Contains(out, "VALID: ") {
		t.Fatalf("verify after the restore: exit %d\n%s", code, out)
	}
	key, err := app.LoadHexKey(filepath.Join(data, devchain.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	got := anchorsBy(t, r.rpc, crypto.PubkeyToAddress(key.PublicKey))
	if len(got) != 2 || got[1] != 1 || got[2] != 1 {
		t.Fatalf("anchors per batch ID on chain after the restore: %v, want batch 1 (before and after, anchored before the first stop) and 2 (the restored pending stamp) once each", got)
	}
	r.stop(t)
}

// TestBackupNeedsEmbeddedStore: --backup-dir with Redis is refused at
// start, with the reason.
func TestBackupNeedsEmbeddedStore(t *testing.T) {
	p := start(t, "serve", "--dev", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--chain-listen", "127.0.0.1:0",
		"--store", "redis://127.0.0.1:1/0", "--backup-dir", t.TempDir())
	err := p.cmd.Wait()
	<-p.done
	if err == nil {
		t.Fatal("serve --store redis://… --backup-dir started")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if msg, _ := l["msg"].(string); strings.Contains(msg, "--backup-dir: backups are for the embedded store") {
			return
		}
	}
	t.Fatalf("no reason given: %v", p.lines)
}
