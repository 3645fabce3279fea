package main

import (
	"context"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/checkpoint"
	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/trust"
)

// trap is a 127.0.0.1 listener that nothing may connect to: verify
// --offline is pointed at it (--rpc, ATTESTD_RPC, ATTESTD_SERVER) to show
// it makes no connection at all.
type trap struct {
	l    net.Listener
	seen chan string // the remote address of each connection accepted
}

func newTrap(t *testing.T) *trap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &trap{l: l, seen: make(chan string, 100)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed
			}
			tr.seen <- c.RemoteAddr().String()
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return tr
}

func (tr *trap) url() string { return "http://" + tr.l.Addr().String() }

// check fails t if anything connected to the trap since the last check
// (after the command what). It connects itself and waits until that
// connection is accepted: connections are accepted in the order they
// were made, so any made before it has been seen by then.
func (tr *trap) check(t *testing.T, what string) {
	t.Helper()
	c, err := net.Dial("tcp", tr.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mine := c.LocalAddr().String()
	var others []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case a := <-tr.seen:
			if a != mine {
				others = append(others, a)
				continue
			}
			if len(others) > 0 {
				t.Fatalf("%s: %d connection(s) to the --rpc endpoint (from %v), want none offline", what, len(others), others)
			}
			return
		case <-timeout:
			t.Fatalf("%s: the trap did not accept its own connection within 30s", what)
		}
	}
}

// TestOfflineEndToEnd: the real binary, no network. serve --dev anchors a
// document at 3 confirmations (blocks on top are mined by anchoring more
// documents: the dev chain mines on demand); upgrade --wait fetches the
// proof with its chain evidence; attestd checkpoint records the anchor's
// block; then the service and its chain are stopped, and verify --offline
// decides from the .attest file alone: VALID with any block of the
// evidence trusted (counting the confirmations up to it) or with the
// checkpoint, naming the trust list's issuer; INVALID with a wrong hash;
// and UNDECIDED without a trusted hash, naming the block to confirm. The
// record's status comes from the issuer's status file (status-export):
// without it UNDECIDED, with --no-status not asked. No verify makes a
// connection, though --rpc, ATTESTD_RPC and ATTESTD_SERVER name a
// listener.
func TestOfflineEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := serveDev(t, data, "--batch-interval", "300ms", "--confirmations", "3")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chain, err := ethclient.DialContext(ctx, s.rpc)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	head := func() uint64 {
		t.Helper()
		n, err := chain.BlockNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "blood count, 2026-12-07\n")
	last := head()
	s.mustRun(t, "stamp", doc)

	// upgrade --wait returns once the anchor is confirmed (3 blocks) and
	// its evidence collected. Meanwhile each new block (an anchor) gets
	// another document stamped, whose anchor is the next block.
	type result struct {
		out  []byte
		code int
	}
	done := make(chan result, 1)
	up := exec.CommandContext(ctx, binary(t), "upgrade", "--wait", "--timeout", "90s", doc)
	up.Env = append(cleanEnv(), "ATTESTD_SERVER="+s.url, "ATTESTD_API_KEY="+s.apiKey, "ATTESTD_RPC="+s.rpc)
	go func() {
		out, err := up.CombinedOutput()
		code := -1
		if up.ProcessState != nil {
			code = up.ProcessState.ExitCode()
		} else {
			out = fmt.Appendf(out, "%v", err)
		}
		done <- result{out, code}
	}()
	fillers := 0
	var res result
	for waiting := true; waiting; {
		select {
		case res = <-done:
			waiting = false
		case <-time.After(50 * time.Millisecond):
			if n := head(); n > last {
				last = n
				fillers++
				f := filepath.Join(dir, fmt.Sprintf("filler-%d.txt", fillers))
				writeFile(t, f, fmt.Sprintf("filler %d\n", fillers))
				s.mustRun(t, "stamp", f)
			}
		case <-ctx.Done():
			t.Fatal("upgrade --wait did not return")
		}
	}
	if res.code != 0 {
		t.Fatalf("upgrade --wait: exit %d\n%s", res.code, res.out)
	}

	// The .attest file's evidence: 3 blocks, the real chain's.
	af, err := attestfile.Read(doc + ".attest")
	if err != nil {
		t.Fatal(err)
	}
	a, ok := af.Proof.Anchor(1337)
	if !ok || len(a.Evidence) == 0 {
		t.Fatalf("the proof has no evidence for chain 1337: %+v", af.Proof.Anchors)
	}
	ev, err := a.ParsedEvidence()
	if err != nil {
		t.Fatal(err)
	}
	facts, err := evidence.Open(ev)
	if err != nil {
		t.Fatal(err)
	}
	if facts.Confirmations() != 3 || facts.BlockNumber != a.BlockNumber {
		t.Fatalf("evidence of block %d with %d confirmations; anchor in %d, want 3", facts.BlockNumber, facts.Confirmations(), a.BlockNumber)
	}
	hashes := map[uint64]common.Hash{}
	for n := facts.BlockNumber; n <= facts.TipNumber; n++ {
		h, err := chain.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := facts.HashAt(n); e != h.Hash() {
			t.Fatalf("block %d: the evidence says %s, the chain %s", n, e.Hex(), h.Hash().Hex())
		}
		hashes[n] = h.Hash()
	}

	cp := filepath.Join(dir, "cp.json")
	if out, code := runCLI(t, nil, "checkpoint", "--rpc", s.rpc, doc+".attest", "--out", cp); code != 0 {
		t.Fatalf("checkpoint: exit %d\n%s", code, out)
	}
	// The issuer's status file (no correction or withdrawal), for the
	// record's status offline.
	status := filepath.Join(dir, "status.json")
	s.mustRun(t, "status-export", "--out", status)
	chain.Close()
	s.stop(t) // the service and its embedded chain

	tr := newTrap(t)
	env := []string{"ATTESTD_TRUST=" + filepath.Join(data, trust.DevFile), "ATTESTD_RPC=" + tr.url(), "ATTESTD_SERVER=" + tr.url()}
	verifyOffline := func(wantCode int, args ...string) string {
		t.Helper()
		args = append(append([]string{"verify", "--offline", "--rpc", tr.url(), "--status", status}, args...), doc)
		out, code := runCLI(t, env, args...)
		tr.check(t, strings.Join(args, " "))
		if code != wantCode {
			t.Fatalf("attestd %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, out)
		}
		return out
	}
	issuer := fmt.Sprintf("by %s (%s)", trust.DevName, trust.DevJurisdiction)
	valid := func(out string, conf uint64) {
		t.Helper()
		if !strings.HasPrefix(out, "VALID: attested ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], issuer) {
			t.Fatalf("not VALID naming %q:\n%s", issuer, out)
		}
		if want := fmt.Sprintf("%d confirmation(s) up to your trusted block", conf); !strings.Contains(out, want) {
			t.Fatalf("output does not say %q:\n%s", want, out)
		}
		if !strings.Contains(out, "ok         record_status") || !strings.Contains(out, "lists no correction or withdrawal of this record as of") {
			t.Fatalf("the record's status is not the status file's:\n%s", out)
		}
	}

	for n := facts.BlockNumber; n <= facts.TipNumber; n++ {
		valid(verifyOffline(0, "--trusted-block", fmt.Sprintf("1337:%s", hashes[n].Hex())), n-facts.BlockNumber+1)
	}
	valid(verifyOffline(0, "--trusted-block", fmt.Sprintf("1337:%d:%s", facts.TipNumber, hashes[facts.TipNumber].Hex())), 3)
	// The checkpoint holds the anchor's block and the head when it was made:
	// the head may still be inside the evidence (fillers stop with the
	// upgrade), and the highest trusted block it holds counts.
	cpf, err := checkpoint.Load(cp)
	if err != nil {
		t.Fatal(err)
	}
	cpConf := uint64(0)
	for _, c := range cpf.Chains {
		for _, b := range c.Blocks {
			if c.ChainID == 1337 && b.Number >= facts.BlockNumber && b.Number <= facts.TipNumber {
				cpConf = max(cpConf, b.Number-facts.BlockNumber+1)
			}
		}
	}
	if cpConf == 0 {
		t.Fatalf("the checkpoint holds no block of the evidence (%d…%d): %+v", facts.BlockNumber, facts.TipNumber, cpf.Chains)
	}
	valid(verifyOffline(0, "--checkpoint", cp), cpConf)
	// Without the status file nothing says whether the record was since
	// withdrawn: UNDECIDED, saying what to give; --no-status checks the
	// attestation alone.
	out, code := runCLI(t, env, "verify", "--offline", "--rpc", tr.url(), "--checkpoint", cp, doc)
	tr.check(t, "verify --offline without --status")
	if code != exitUndecided || !strings.Contains(out, "UNDECIDED  record_status") || !strings.Contains(out, "--status FILE") {
		t.Fatalf("verify --offline without --status: exit %d\n%s", code, out)
	}
	out, code = runCLI(t, env, "verify", "--offline", "--rpc", tr.url(), "--checkpoint", cp, "--no-status", doc)
	tr.check(t, "verify --offline --no-status")
	if code != 0 || !strings.Contains(out, "was not checked: --no-status") {
		t.Fatalf("verify --offline --no-status: exit %d\n%s", code, out)
	}
	if out := verifyOffline(0, "--checkpoint", cp, "--json"); !strings.Contains(out, `"verdict": "valid"`) {
		t.Fatalf("--json:\n%s", out)
	}
	// Three confirmations required: the anchor's block is not enough, the tip is.
	if out := verifyOffline(exitUndecided, "--min-confirmations", "3", "--trusted-block", "1337:"+hashes[facts.BlockNumber].Hex()); !strings.Contains(out, "UNDECIDED  anchor[1337].confirmations") {
		t.Fatalf("3 confirmations required, the anchor block trusted:\n%s", out)
	}
	valid(verifyOffline(0, "--min-confirmations", "3", "--trusted-block", "1337:"+hashes[facts.TipNumber].Hex()), 3)

	// A hash of no block of the evidence: INVALID.
	if out := verifyOffline(exitInvalid, "--trusted-block", "1337:0x"+strings.Repeat("ab", 32)); !strings.Contains(out, "FAILED     anchor[1337].canonical") {
		t.Fatalf("wrong trusted hash:\n%s", out)
	}
	// Nothing trusted: UNDECIDED, saying which block to confirm and how.
	out = verifyOffline(exitUndecided)
	want := fmt.Sprintf("chain 1337, block %d, hash %s: compare it with a block explorer, a node, or a published checkpoint you trust", facts.TipNumber, hashes[facts.TipNumber].Hex())
	if !strings.Contains(out, want) || !strings.HasPrefix(out, "UNDECIDED: offline") {
		t.Fatalf("verify --offline alone does not say %q:\n%s", want, out)
	}
	t.Logf("anchor in block %d, evidence to %d, %d filler document(s)", facts.BlockNumber, facts.TipNumber, fillers)
}

// cleanEnv is the process's environment without ATTESTD_ settings.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "ATTESTD_") {
			env = append(env, e)
		}
	}
	return env
}
