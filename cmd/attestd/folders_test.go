package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/attestfile"
)

// TestStampFolderResumable: a tree of 5,000 files in nested folders is
// stamped with -r, killed (SIGKILL) at random moments several times and
// run again until it finishes; then every file has exactly one .attest
// with a receipt, no journal is left, and the server holds exactly 5,000
// fingerprints (the sizes of its batches add up to it: no document was
// submitted under a second fingerprint). Then upgrade -r --wait and
// verify -r (a table, VALID for every file).
func TestStampFolderResumable(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := serveDev(t, data, "--batch-interval", "300ms")
	root := filepath.Join(dir, "records")
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("ward-%d", i%10), fmt.Sprintf("%d", i%7), fmt.Sprintf("record-%05d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, fmt.Sprintf("record %d\n", i))
	}
	if err := os.Symlink(filepath.Join(root, "ward-0", "0", "record-00000.txt"), filepath.Join(root, "link.txt")); err != nil {
		t.Fatal(err)
	}

	env := []string{"ATTESTD_SERVER=" + s.url, "ATTESTD_API_KEY=" + s.apiKey}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	// Four runs killed at random moments of four phases: while walking and
	// hashing, once the first journals are written (around a submission),
	// and twice while .attest files are being written.
	before := []func() bool{
		func() bool { return false },
		func() bool { return countSuffix(t, root, pendingExt) > 0 },
		func() bool { return countSuffix(t, root, attestfile.Ext) >= rng.IntN(n/4)+1 },
		func() bool { return countSuffix(t, root, attestfile.Ext) >= n/2+rng.IntN(n/4) },
	}
	for k, ready := range before {
		cmd := exec.Command(binary(t), "stamp", "-r", root)
		cmd.Env = append(cleanEnv(), env...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		kill := time.After(time.Duration(rng.IntN(300)) * time.Millisecond)
		if k > 0 {
			kill = nil
		}
	wait:
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
			select {
			case <-exited:
				break wait
			case <-kill:
				break wait
			case <-time.After(2 * time.Millisecond): // polling the tree for the phase
				if k > 0 && ready() {
					break wait
				}
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		t.Logf("run %d killed: %d .attest files, %d journals", k+1, countSuffix(t, root, attestfile.Ext), countSuffix(t, root, pendingExt))
	}
	out, code := runCLI(t, env, "stamp", "-r", "--json", root)
	var sum struct {
		Stamped, Failed int
		Symlinks        int `json:"skipped_symlinks"`
		Already         int `json:"already_stamped"`
	}
	if i := strings.LastIndex(out, "{"); i >= 0 {
		json.Unmarshal([]byte(out[i:]), &sum)
	}
	if code != 0 || sum.Stamped+sum.Already != n || sum.Failed != 0 || sum.Symlinks != 1 || !strings.Contains(out, "skipped 1 symbolic link") {
		t.Fatalf("the last stamp -r: exit %d, %+v\n%s", code, sum, out)
	}
	if got := countSuffix(t, root, attestfile.Ext); got != n {
		t.Fatalf("%d .attest files for %d documents", got, n)
	}
	if got := countSuffix(t, root, pendingExt); got != 0 {
		t.Fatalf("%d journals left", got)
	}
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("ward-%d", i%10), fmt.Sprintf("%d", i%7), fmt.Sprintf("record-%05d.txt", i))
		if f, err := attestfile.Read(attestfile.PathFor(p)); err != nil || f.Receipt == nil {
			t.Fatalf("%s: %v, receipt %v", p, err, err == nil && f.Receipt != nil)
		}
	}
	// Once everything is sealed, the batches hold exactly n fingerprints.
	sealed := 0
	for deadline := time.Now().Add(60 * time.Second); ; {
		sealed = 0
		for id := 1; ; id++ {
			resp, err := http.Get(fmt.Sprintf("%s/v1/batches/%d", s.url, id))
			if err != nil {
				t.Fatal(err)
			}
			var b struct{ Size int }
			json.NewDecoder(resp.Body).Decode(&b)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				break
			}
			sealed += b.Size
		}
		if sealed >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling for the sealer
	}
	if sealed != n {
		t.Fatalf("the server sealed %d fingerprints for %d documents", sealed, n)
	}

	out = s.mustRun(t, "upgrade", "-r", "--wait", "--timeout", "120s", root)
	if !strings.Contains(out, fmt.Sprintf("%s of %s file(s) upgraded, 0 not yet", thousands(n), thousands(n))) {
		t.Fatalf("upgrade -r:\n%s", out[max(0, len(out)-2000):])
	}
	out, code = s.runEnv(t, []string{"ATTESTD_TRUST=" + filepath.Join(data, "trust.json")}, "verify", "-r", root)
	if code != 0 || strings.Count(out, "\nVALID ")+boolInt(strings.HasPrefix(out, "VALID ")) != n {
		t.Fatalf("verify -r: exit %d\n%s", code, out[max(0, len(out)-2000):])
	}
	// One changed document: the table names it, and the exit status is 1.
	changed := filepath.Join(root, "ward-3", "3", "record-00003.txt")
	writeFile(t, changed, "record 3, edited\n")
	out, code = s.runEnv(t, []string{"ATTESTD_TRUST=" + filepath.Join(data, "trust.json")}, "verify", "-r", filepath.Join(root, "ward-3"))
	if code != exitInvalid || !strings.Contains(out, "INVALID    "+changed+"  fingerprint") {
		t.Fatalf("verify -r with a changed document: exit %d\n%s", code, out[max(0, len(out)-2000):])
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// countSuffix counts the files under root whose names end in suffix.
func countSuffix(t *testing.T, root, suffix string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			n++
		}
		return nil
	})
	return n
}
