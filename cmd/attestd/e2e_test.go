package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/attestfile"
)

// The end-to-end tests run the real binary: serve --dev on random ports,
// then stamp → upgrade --wait → verify as a user would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary; skipped with -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "attestd-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "attestd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running attestd process whose JSON log lines are scanned.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	out   bytes.Buffer
	done  chan struct{}
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv starts attestd with extra environment variables.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": sc.Text()}
			}
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			p.mu.Lock()
			for _, l := range p.lines {
				t.Logf("%s: %v", filepath.Base(p.cmd.Path), l)
			}
			p.mu.Unlock()
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// waitLog waits for a log line with msg and returns it.
func (p *proc) waitLog(t *testing.T, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, l := range p.lines {
			if l["msg"] == msg {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.done:
			if l, ok := p.findLog(msg, time.Time{}); ok { // logged just before exiting
				return l
			}
			t.Fatalf("process exited before logging %q", msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %q log line within %s", msg, timeout)
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// service is a running serve --dev.
type service struct {
	*proc
	url, rpc, apiKey, dataDir string
}

func serveDev(t *testing.T, dataDir string, extra ...string) *service {
	t.Helper()
	args := append([]string{"serve", "--dev", "--data-dir", dataDir, "--listen", "127.0.0.1:0",
		"--chain-listen", "127.0.0.1:0", "--log-format", "json", "--chain-poll", "200ms"}, extra...)
	p := start(t, args...)
	chain := p.waitLog(t, "embedded dev chain running", 60*time.Second)
	serving := p.waitLog(t, "attestd serving", 60*time.Second)
	key, err := os.ReadFile(filepath.Join(dataDir, "dev-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	return &service{proc: p, url: serving["url"].(string), rpc: chain["rpc"].(string), apiKey: strings.TrimSpace(string(key)), dataDir: dataDir}
}

// run runs the CLI against s and returns its combined output and exit code.
func (s *service) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return s.runEnv(t, nil, args...)
}

// runEnv is run with extra environment variables (pins, for verify).
func (s *service) runEnv(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	return runCLI(t, append([]string{"ATTESTD_SERVER=" + s.url, "ATTESTD_API_KEY=" + s.apiKey, "ATTESTD_RPC=" + s.rpc}, env...), args...)
}

// runCLI runs the binary with env added to a clean copy of the process's
// (no ATTESTD_ pins leak in from outside) and returns its combined output
// and exit code.
func runCLI(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "ATTESTD_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// pins are the ATTESTD_ANCHORER and ATTESTD_RECEIPT_KEY settings s
// publishes (attestd info --export), as environment entries.
func (s *service) pins(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, line := range strings.Split(strings.TrimSpace(s.mustRun(t, "info", "--export")), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		if !ok || !strings.HasPrefix(kv, "ATTESTD_") {
			t.Fatalf("info --export line %q", line)
		}
		env = append(env, kv)
	}
	return env
}

func (s *service) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, code := s.run(t, args...)
	if code != 0 {
		t.Fatalf("attestd %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s := serveDev(t, filepath.Join(dir, "data"), "--batch-interval", "300ms")

	doc := filepath.Join(dir, "lab-result.txt")
	writeFile(t, doc, "HbA1c 6.1 %\n")
	json := filepath.Join(dir, "observation.json")
	writeFile(t, json, `{"resourceType": "Observation", "status": "final", "valueQuantity": {"value": 6.1, "unit": "%"}}`)

	s.mustRun(t, "stamp", doc)
	s.mustRun(t, "stamp", "--canon", "jcs", json)
	if out, code := s.run(t, "stamp", doc); code != exitError || !strings.Contains(out, "exists") {
		t.Fatalf("stamping over an existing .attest: exit %d\n%s", code, out)
	}
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc, json+".attest")

	// Nothing pinned: UNDECIDED (3), saying how to pin.
	out, code := s.run(t, "verify", doc)
	if code != exitUndecided || !strings.Contains(out, "UNDECIDED") || !strings.Contains(out, "--anchorer") ||
		!strings.Contains(out, "--receipt-key") || strings.Contains(out, "VALID:") {
		t.Fatalf("verify without pins: exit %d, want 3 (UNDECIDED) naming --anchorer and --receipt-key:\n%s", code, out)
	}
	// The README's walkthrough: the pins from attestd info --export, by eval.
	export := s.mustRun(t, "info", "--export")
	m := regexp.MustCompile(`^export ATTESTD_ANCHORER=(0x[0-9a-fA-F]{40})\nexport ATTESTD_RECEIPT_KEY=([A-Za-z0-9+/]{43}=)\n$`).FindStringSubmatch(export)
	if m == nil {
		t.Fatalf("info --export:\n%s", export)
	}
	anchorer, pub := m[1], m[2]
	info := s.mustRun(t, "info")
	if !strings.Contains(info, `"anchorer": "`+anchorer+`"`) || !strings.Contains(info, `"public_key": "`+pub+`"`) {
		t.Fatalf("info --export printed %s, %s; info says:\n%s", anchorer, pub, info)
	}
	sh := exec.Command("sh", "-c", `eval "$("$0" info --export)" && "$0" verify "$1"`, binary(t), doc)
	sh.Env = append(os.Environ(), "ATTESTD_SERVER="+s.url, "ATTESTD_RPC="+s.rpc)
	if o, err := sh.CombinedOutput(); err != nil || !strings.Contains(string(o), "VALID: ") || !strings.Contains(string(o), "ok         receipt") {
		t.Fatalf("eval \"$(attestd info --export)\" && attestd verify: %v\n%s", err, o)
	}
	pins := []string{"ATTESTD_ANCHORER=" + anchorer, "ATTESTD_RECEIPT_KEY=" + pub}
	verifyPinned := func(args ...string) (string, int) {
		t.Helper()
		return s.runEnv(t, pins, append([]string{"verify"}, args...)...)
	}
	mustVerify := func(args ...string) string {
		t.Helper()
		out, code := verifyPinned(args...)
		if code != 0 || !strings.Contains(out, "VALID: ") {
			t.Fatalf("attestd verify %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	mustVerify(doc)
	// The same pins as flags.
	s.mustRun(t, "verify", "--anchorer", anchorer, "--receipt-key", pub, doc)
	if out, code := verifyPinned("--json", doc); code != 0 || !strings.Contains(out, `"verdict": "valid"`) || !strings.Contains(out, `"state": "ok"`) {
		t.Fatalf("verify --json: exit %d\n%s", code, out)
	}

	// The JSON record verifies after re-formatting (canonical form), not after a content change.
	writeFile(t, json, "{\n  \"valueQuantity\": {\"unit\": \"%\", \"value\": 6.1},\n  \"status\": \"final\",\n  \"resourceType\": \"Observation\"\n}\n")
	mustVerify(json)

	t.Run("endpoints and policy", func(t *testing.T) { testVerifyEndpoints(t, s, pins, doc) })
	t.Run("receipt key", func(t *testing.T) {
		// Anchorer pinned, receipt present, no receipt key: not VALID.
		out, code := s.run(t, "verify", "--anchorer", anchorer, doc)
		if code != exitUndecided || !strings.Contains(out, "UNDECIDED  receipt") {
			t.Fatalf("no receipt key: exit %d, want 3 with the receipt undecided:\n%s", code, out)
		}
		out, code = s.run(t, "verify", "--anchorer", anchorer, "--any-issuer", doc)
		if code != 0 || !strings.Contains(out, "VALID: ") {
			t.Fatalf("no receipt key, --any-issuer: exit %d, want 0:\n%s", code, out)
		}
		// Another key: the receipt is false evidence.
		other := base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize))
		out, code = s.run(t, "verify", "--anchorer", anchorer, "--receipt-key", other, doc)
		if code != exitInvalid || !strings.Contains(out, "FAILED     receipt") || !strings.Contains(out, "INVALID") {
			t.Fatalf("wrong receipt key: exit %d, want 1 naming the receipt:\n%s", code, out)
		}
	})
	t.Run("no proof yet", func(t *testing.T) {
		early := filepath.Join(dir, "early.txt")
		writeFile(t, early, "not upgraded yet\n")
		s.mustRun(t, "stamp", early)
		out, code := verifyPinned(early)
		if code != exitUndecided || !strings.Contains(out, "UNDECIDED") || !strings.Contains(out, "attestd upgrade") {
			t.Fatalf("verify before upgrade: exit %d, want 3 saying to upgrade:\n%s", code, out)
		}
	})
	t.Run("endpoint unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String()
		l.Close() // nothing listens there now
		out, code := verifyPinned("--rpc", closed, doc)
		if code != exitUndecided || !strings.Contains(out, "UNDECIDED") || !strings.Contains(out, "UNDECIDED  anchor[1337].rpc") || strings.Contains(out, "INVALID") {
			t.Fatalf("endpoint down: exit %d, want 3 (UNDECIDED, not INVALID):\n%s", code, out)
		}
	})
	t.Run("changed document", func(t *testing.T) {
		changed := filepath.Join(dir, "changed.txt")
		writeFile(t, changed, "HbA1c 7.1 %\n")
		out, code := verifyPinned("--proof", doc+".attest", changed)
		if code != exitInvalid || !strings.Contains(out, "FAILED     fingerprint") {
			t.Fatalf("exit %d, want 1 naming the fingerprint check:\n%s", code, out)
		}
	})
	t.Run("tampered attest file", func(t *testing.T) {
		f, err := attestfile.Read(doc + ".attest")
		if err != nil {
			t.Fatal(err)
		}
		f.Proof.Root[0] ^= 1
		bad := filepath.Join(dir, "tampered.attest")
		if err := attestfile.Write(bad, f, 0); err != nil {
			t.Fatal(err)
		}
		// The receipt is for the original: the fingerprint check is what
		// matters here.
		out, code := verifyPinned("--proof", bad, doc)
		if code != exitInvalid || !strings.Contains(out, "FAILED     merkle_path") {
			t.Fatalf("exit %d, want 1 naming merkle_path:\n%s", code, out)
		}
	})
	t.Run("wrong chain", func(t *testing.T) {
		// Another dev chain: same chain ID, but the anchor tx is not on it.
		other := start(t, "devchain", "--data-dir", filepath.Join(dir, "other"), "--listen", "127.0.0.1:0", "--log-format", "json")
		started := other.waitLog(t, "dev chain started", 60*time.Second)
		// With the chain evidence, the other chain is asked only for the
		// anchor's block, which it does not have.
		out, code := verifyPinned("--rpc", started["rpc"].(string), doc)
		if code != exitInvalid || !strings.Contains(out, "FAILED     anchor[1337].canonical") {
			t.Fatalf("exit %d, want 1 naming anchor[1337].canonical:\n%s", code, out)
		}
		other.stop(t)
	})
	t.Run("usage errors exit 2", func(t *testing.T) {
		if _, code := s.run(t, "verify", filepath.Join(dir, "missing.txt")); code != exitError {
			t.Fatalf("missing file: exit %d, want 2", code)
		}
		if _, code := s.run(t, "verify"); code != exitError {
			t.Fatalf("no argument: exit %d, want 2", code)
		}
	})
	s.stop(t)
}

// TestShutdownSealsAndRestartResumes: SIGTERM seals what is pending (the
// batch interval is far away), and a restart on the same data dir
// anchors it without a second transaction.
func TestShutdownSealsAndRestartResumes(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := serveDev(t, data, "--batch-interval", "1h")
	doc := filepath.Join(dir, "report.pdf")
	writeFile(t, doc, strings.Repeat("discharge summary ", 1000))
	s.mustRun(t, "stamp", doc)
	if out, code := s.run(t, "upgrade", doc); code != exitInvalid || !strings.Contains(out, "pending") {
		t.Fatalf("upgrade before sealing: exit %d\n%s", code, out)
	}
	s.stop(t)
	s.waitLog(t, "batch sealed", time.Second)

	s2 := serveDev(t, data, "--batch-interval", "1h")
	s2.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)
	out := s2.mustRun(t, "verify", "--any-issuer", doc)
	if !strings.Contains(out, "VALID (existence only)") {
		t.Fatalf("verify:\n%s", out)
	}
	// Exactly one anchor transaction was ever signed for batch 1.
	n := 0
	for _, p := range []*service{s, s2} {
		p.mu.Lock()
		for _, l := range p.lines {
			if l["msg"] == "anchor signed" {
				n++
			}
		}
		p.mu.Unlock()
	}
	if n != 1 {
		t.Fatalf("%d anchor transactions signed, want 1", n)
	}
	s2.stop(t)
}
