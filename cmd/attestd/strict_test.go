package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/strictjson/jsonref"
)

// TestVerifyRefusesAmbiguousAttest runs the binary: a .attest holding a
// "proof" and a "PROOF" (encoding/json would take the second, other
// parsers the first) is unreadable input: verify exits 2 and says why,
// before it asks any chain.
func TestVerifyRefusesAmbiguousAttest(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "lab result: negative\n")
	fp, _, err := fingerprint.HashDocument(doc, fingerprint.CanonNone, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle := func(root byte) *proof.Bundle {
		return &proof.Bundle{
			Version: proof.VersionV1, Fingerprint: fp, BatchID: 1, Index: 0, Size: 1, Root: proof.Hash{root},
			Anchors: []proof.Anchor{{ChainID: 1337, TxHash: common.Hash{1}, BlockNumber: 1, BlockHash: common.Hash{2}, Anchorer: common.Address{3}}},
		}
	}
	good := filepath.Join(dir, "good.attest")
	if err := attestfile.Write(good, &attestfile.File{Version: attestfile.Version, Fingerprint: fp, Canonicalization: fingerprint.CanonNone, Proof: bundle(7)}, 0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.attest")
	if err := attestfile.Write(other, &attestfile.File{Version: attestfile.Version, Fingerprint: fp, Canonicalization: fingerprint.CanonNone, Proof: bundle(8)}, 0); err != nil {
		t.Fatal(err)
	}
	otherData, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	// The second proof, as the other file holds it, added under "PROOF".
	_, otherProof, _ := strings.Cut(string(otherData), `"proof": `)
	otherProof = strings.TrimSuffix(strings.TrimSpace(otherProof), "}")
	bad := filepath.Join(dir, "ambiguous.attest")
	writeFile(t, bad, strings.TrimSuffix(strings.TrimSpace(string(data)), "}")+`, "PROOF": `+otherProof+"}\n")
	if err := jsonref.Check([]byte(mustRead(t, bad)), true); err == nil {
		t.Fatalf("the test's file is not ambiguous:\n%s", mustRead(t, bad))
	}

	cmd := exec.Command(binary(t), "verify", "--proof", bad, "--rpc", "http://127.0.0.1:1", "--anchorer", common.Address{3}.Hex(), doc)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Fatalf("verify of an ambiguous .attest: %v, want exit %d\n%s", err, exitError, out)
	}
	for _, want := range []string{bad, "invalid .attest file", `"proof"`, `"PROOF"`, "differ only in case"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("verify's output does not contain %s:\n%s", want, out)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServeConfigRefusesAmbiguousFile runs the binary: a config file with
// a setting given twice, or a second YAML document (which yaml.Unmarshal
// would ignore and other YAML readers take), stops serve before it
// starts anything, naming the file and line.
func TestServeConfigRefusesAmbiguousFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"twice", "batch-interval: 7s\nbatch-interval: 1h\n", ": line 2: batch-interval: given twice"},
		{"second document", "batch-interval: 7s\n---\nbatch-interval: 1h\n", ": line 3: a second YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			writeFile(t, path, tc.content)
			data := filepath.Join(dir, "data-"+strings.ReplaceAll(tc.name, " ", "-"))
			// A serve that accepts the file would run until killed.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary(t), "serve", "--dev", "--data-dir", data, "--config", path,
				"--listen", "127.0.0.1:0", "--chain-listen", "127.0.0.1:0")
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("serve accepted %s and ran:\n%s", tc.name, out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitError || !strings.Contains(string(out), path+tc.want) {
				t.Errorf("serve with %s: %v, want exit %d and %q\n%s", tc.name, err, exitError, path+tc.want, out)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("serve with a refused config file created its data dir (%v)", err)
			}
		})
	}
}

// TestConfigFileEndMarkers: a document end or an empty second document
// (a trailing "---", a comment) holds no settings and is accepted.
func TestConfigFileEndMarkers(t *testing.T) {
	dir := t.TempDir()
	for i, content := range []string{"store: x\n...\n", "store: x\n---\n", "store: x\n---\n# nothing more\n"} {
		path := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
		writeFile(t, path, content)
		got, err := parseServe(t, path)
		if err != nil || got["store"] != "x" {
			t.Errorf("%q: store %q, %v", content, got["store"], err)
		}
	}
}

// TestClientRefusesAmbiguousResponses: a server response with a member
// twice (encoding/json, which the generated client decodes with, would
// take the last) is an error naming it; unknown fields are not, so a newer
// server may add some. The binary goes through package client, whose own
// TestStrictAnswers has more cases.
func TestClientRefusesAmbiguousResponses(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	info := `{"version":"v1","proof_format":1,"batch_interval_seconds":60,"max_batch_size":10,"chains":[],` +
		`"receipt_keys":[{"algorithm":"ed25519","key_id":"k1","public_key":"` + key + `"}]`
	for _, tc := range []struct{ name, body, want string }{
		{"fine", info + `}`, ""},
		{"unknown field", info + `,"added_later":true}`, ""},
		{"receipt_keys twice", info + `,"receipt_keys":[]}`, `duplicate member "receipt_keys"`},
		{"RECEIPT_KEYS", info + `,"RECEIPT_KEYS":[]}`, `"receipt_keys" and "RECEIPT_KEYS"`},
		{"key_id twice", strings.Replace(info, `"key_id":"k1"`, `"key_id":"k1","key_id":"k2"`, 1) + `}`, `duplicate member "key_id" at /receipt_keys/0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
				t.Fatalf("test server at %s, want 127.0.0.1", ts.URL)
			}
			out, code := runCLI(t, nil, "info", "--server", ts.URL)
			if tc.want == "" {
				if code != 0 || !strings.Contains(out, `"key_id": "k1"`) {
					t.Fatalf("info: exit %d\n%s", code, out)
				}
				return
			}
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("info: exit %d; want a failure containing %s\n%s", code, tc.want, out)
			}
		})
	}
}

// TestUpgradeChecksTheServersProof runs the binary against a server whose
// proof is well-formed JSON of the right shape but not a bundle that
// proof.Parse would accept (version 3, batch 0, an index outside the
// tree, all-zero root) or is for another fingerprint: upgrade refuses it
// and leaves the .attest without a proof; a good one is stored.
func TestUpgradeChecksTheServersProof(t *testing.T) {
	dir := t.TempDir()
	fp := fingerprint.Sum([]byte("TestUpgradeChecksTheServersProof"))
	good := proof.Bundle{
		Version: proof.VersionV1, Fingerprint: fp, BatchID: 1, Index: 0, Size: 1, Root: proof.Hash{7}, Path: []proof.Hash{{8}},
		Anchors: []proof.Anchor{{ChainID: 1337, TxHash: common.Hash{1}, BlockNumber: 1, BlockHash: common.Hash{2}, Anchorer: common.Address{3}}},
	}
	for _, tc := range []struct {
		name string
		mod  func(b *proof.Bundle)
		want string // in the output; "" = stored
	}{
		{"good", func(*proof.Bundle) {}, ""},
		{"version 3", func(b *proof.Bundle) { b.Version = 3 }, "unsupported version 3"},
		{"version 2 without evidence", func(b *proof.Bundle) { b.Version = 2 }, "carries its chain evidence or says why not"},
		{"batch 0", func(b *proof.Bundle) { b.BatchID = 0 }, "batch_id must be at least 1"},
		{"index outside", func(b *proof.Bundle) { b.Index = 1 }, "outside a tree of size 1"},
		{"all-zero root", func(b *proof.Bundle) { b.Root = proof.Hash{} }, "all-zero"},
		{"another fingerprint", func(b *proof.Bundle) { b.Fingerprint = fingerprint.Sum([]byte("other")) }, "a proof for another fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := good
			b.Anchors = slices.Clone(good.Anchors)
			tc.mod(&b)
			body, err := json.Marshal(map[string]any{"fingerprint": fp.String(), "status": "confirmed", "batch_id": 1, "proof": b})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write(body)
			}))
			defer ts.Close()
			if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
				t.Fatalf("test server at %s, want 127.0.0.1", ts.URL)
			}
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+attestfile.Ext)
			if err := attestfile.Write(path, &attestfile.File{Version: attestfile.Version, Fingerprint: fp, Canonicalization: fingerprint.CanonNone}, 0); err != nil {
				t.Fatal(err)
			}
			out, code := runCLI(t, nil, "upgrade", "--server", ts.URL, path)
			f, err := attestfile.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if code != 0 || f.Proof == nil || f.Proof.Root != good.Root {
					t.Fatalf("upgrade: exit %d, proof %+v\n%s", code, f.Proof, out)
				}
				return
			}
			if code == 0 || !strings.Contains(out, tc.want) || f.Proof != nil {
				t.Fatalf("upgrade: exit %d, proof stored %v; want a failure saying %q\n%s", code, f.Proof != nil, tc.want, out)
			}
		})
	}
}

// TestUpgradeWaitDeadline: upgrade --wait with files of which the first is
// not confirmed by --timeout: the files after it are still asked once each,
// a final proof among them stored and counted done, and the exit status
// says how many are not confirmed. The server is a fake that answers
// "anchored" for the first fingerprint and "confirmed" (proof format 1:
// nothing more to come) for the second.
func TestUpgradeWaitDeadline(t *testing.T) {
	dir := t.TempDir()
	slow, done := fingerprint.Sum([]byte("slow")), fingerprint.Sum([]byte("done"))
	bundle := func(fp fingerprint.Fingerprint) proof.Bundle {
		return proof.Bundle{Version: proof.VersionV1, Fingerprint: fp, BatchID: 1, Index: 0, Size: 1, Root: proof.Hash{7}, Path: []proof.Hash{{8}},
			Anchors: []proof.Anchor{{ChainID: 1337, TxHash: common.Hash{1}, BlockNumber: 1, BlockHash: common.Hash{2}, Anchorer: common.Address{3}}}}
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := map[string]any{"fingerprint": done.String(), "status": "confirmed", "batch_id": 1, "proof": bundle(done)}
		if strings.HasSuffix(r.URL.Path, slow.String()) {
			st = map[string]any{"fingerprint": slow.String(), "status": "anchored", "batch_id": 1, "proof": bundle(slow)}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	}))
	defer ts.Close()
	if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", ts.URL)
	}
	var paths []string
	for _, fp := range []fingerprint.Fingerprint{slow, done} {
		p := filepath.Join(dir, fp.String()[:8]+attestfile.Ext)
		if err := attestfile.Write(p, &attestfile.File{Version: attestfile.Version, Fingerprint: fp, Canonicalization: fingerprint.CanonNone}, 0); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, code := runCLI(t, nil, "upgrade", "--server", ts.URL, "--wait", "--timeout", "1s", "--poll", "100ms", paths[0], paths[1])
	if code != exitInvalid || !strings.Contains(out, "1 file(s) not confirmed within 1s") || !strings.Contains(out, paths[1]+": confirmed, proof stored") {
		t.Fatalf("upgrade --wait --timeout 1s: exit %d\n%s\nwant 1, the second confirmed and stored, the first not confirmed", code, out)
	}
	for _, p := range paths {
		if f, err := attestfile.Read(p); err != nil || f.Proof == nil {
			t.Fatalf("%s: %v, proof stored %v; want the proof there is stored", p, err, err == nil && f.Proof != nil)
		}
	}
}
