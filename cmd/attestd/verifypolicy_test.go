package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/proof"
)

// lyingProxy is a JSON-RPC proxy on 127.0.0.1 in front of upstream that
// rewrites one field of the answers to one method: field of the result
// of method gets value.
func lyingProxy(t *testing.T, upstream, method, field, value string) string {
	t.Helper()
	return lyingProxyWhile(t, upstream, method, field, value, nil)
}

// lyingProxyWhile is lyingProxy that lies only while lie is set (always
// when lie is nil).
func lyingProxyWhile(t *testing.T, upstream, method, field, value string, lie *atomic.Bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := http.Post(upstream, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var req struct {
			Method string `json:"method"`
		}
		if (lie == nil || lie.Load()) && json.Unmarshal(body, &req) == nil && req.Method == method {
			var msg map[string]any
			if err := json.Unmarshal(out, &msg); err == nil {
				if res, ok := msg["result"].(map[string]any); ok {
					res[field] = value
					out, _ = json.Marshal(msg)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// runSplit runs the binary like runCLI but returns stdout and stderr
// apart.
func runSplit(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "ATTESTD_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// testVerifyEndpoints: verify's endpoints and policy against the dev
// service s (chain 1337), doc stamped and upgraded, pins its published
// anchorer and receipt key. Each case checks the exit status, that the
// verdict is stdout's first line, and the checks named.
func testVerifyEndpoints(t *testing.T, s *service, pins []string, doc string) {
	const badHash = "0x00000000000000000000000000000000000000000000000000000000000000aa"
	receiptLiar := lyingProxy(t, s.rpc, "eth_getTransactionReceipt", "blockHash", badHash)
	headerLiar := lyingProxy(t, s.rpc, "eth_getBlockByNumber", "extraData", "0x6c6965")
	env := append([]string{}, pins...)
	// The same proof in format 1 (no chain evidence), for the cases where
	// the verifier must read the transaction and its receipt: with the
	// evidence it reads only the anchor block's hash and the head.
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if err != nil || f.Proof == nil || f.Proof.Version != proof.Version || len(f.Proof.Anchors[0].Evidence) == 0 {
		t.Fatalf("the .attest holds no format 2 proof with evidence: %v", err)
	}
	f.Proof.Version = proof.VersionV1
	for i := range f.Proof.Anchors {
		f.Proof.Anchors[i].Evidence, f.Proof.Anchors[i].NoEvidence = nil, ""
	}
	v1 := doc + ".v1.attest"
	if err := attestfile.Write(v1, f, 0o600); err != nil {
		t.Fatal(err)
	}
	fmt1 := []string{"--proof", v1}
	for _, tc := range []struct {
		name    string
		env     []string
		args    []string
		code    int
		verdict string   // stdout's first line starts with it
		want    []string // in stdout
	}{
		{"two endpoints that agree", nil, []string{"--rpc", s.rpc, "--rpc", s.rpc}, 0, "VALID: ", []string{"ok         anchor[1337].endpoints_agree"}},
		{"ATTESTD_RPC with two endpoints", []string{"ATTESTD_RPC=" + s.rpc + "," + s.rpc}, nil, 0, "VALID: ", []string{"ok         anchor[1337].endpoints_agree"}},
		{"format 1: an endpoint lying about the receipt", nil, append([]string{"--rpc", s.rpc, "--rpc", receiptLiar}, fmt1...), exitUndecided, "UNDECIDED: the chain servers you gave disagree",
			[]string{"UNDECIDED  anchor[1337].endpoints_agree", "disagree about the receipt", badHash}},
		{"an endpoint lying about the block hash", nil, []string{"--rpc", headerLiar, "--rpc", s.rpc}, exitUndecided, "UNDECIDED: ",
			[]string{"UNDECIDED  anchor[1337].endpoints_agree", "disagree about block"}},
		{"format 1: an endpoint lying about the block hash", nil, append([]string{"--rpc", headerLiar, "--rpc", s.rpc}, fmt1...), exitUndecided, "UNDECIDED: ",
			[]string{"UNDECIDED  anchor[1337].endpoints_agree", "disagree about block"}},
		{"format 1: the lying endpoint alone", nil, append([]string{"--rpc", receiptLiar}, fmt1...), exitInvalid, "INVALID: ", []string{"FAILED     anchor[1337].tx"}},
		{"format 2: the receipt is not asked, so a lie about it does not matter", nil, []string{"--rpc", receiptLiar}, 0, "VALID: ", []string{"(from the chain evidence)"}},
		{"format 2: an endpoint alone lying about the block hash", nil, []string{"--rpc", headerLiar}, exitInvalid, "INVALID: ", []string{"FAILED     anchor[1337].canonical"}},
		{"--require all", nil, []string{"--rpc", s.rpc, "--require", "all"}, 0, "VALID: ", nil},
		{"--require any", nil, []string{"--rpc", s.rpc, "--require", "any"}, 0, "VALID: ", []string{"ok         policy"}},
		{"--require 1337", nil, []string{"--rpc", s.rpc, "--require", "1337"}, 0, "VALID: ", nil},
		{"--require a chain without an endpoint", nil, []string{"--rpc", s.rpc, "--require", "1337,1338"}, exitUndecided, "UNDECIDED: ", []string{"UNDECIDED  anchor[1338].tx"}},
		{"one of two endpoints down", nil, []string{"--rpc", s.rpc, "--rpc", "http://127.0.0.1:1"}, exitUndecided, "UNDECIDED: ", []string{"UNDECIDED  rpc"}},
		{"--require nonsense", nil, []string{"--rpc", s.rpc, "--require", "some"}, exitError, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runSplit(t, append(append([]string{"ATTESTD_RPC=" + s.rpc}, env...), tc.env...), append(append([]string{"verify"}, tc.args...), doc)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s\n%s", code, tc.code, out, errOut)
			}
			if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, tc.verdict) || (tc.verdict == "" && out != "") {
				t.Errorf("first line %q, want %q…:\n%s", first, tc.verdict, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// --json keeps its structure: a verdict, each check with its state.
	out, _, code := runSplit(t, append([]string{"ATTESTD_RPC=" + s.rpc}, env...), "verify", "--json", "--rpc", s.rpc, "--rpc", receiptLiar, "--proof", v1, doc)
	var res struct {
		Verdict string `json:"verdict"`
		Checks  []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitUndecided || res.Verdict != "undecided" {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	found := false
	for _, c := range res.Checks {
		found = found || (c.Name == "anchor[1337].endpoints_agree" && c.State == "undecided")
	}
	if !found {
		t.Errorf("--json has no undecided anchor[1337].endpoints_agree:\n%s", out)
	}
}
