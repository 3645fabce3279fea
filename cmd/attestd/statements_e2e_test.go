package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/trust"
)

// TestStatementsEndToEnd: the real binary against serve --dev with two
// institutions. A stamps a record; B — even after submitting the same
// fingerprint — may neither withdraw nor supersede it (403, exit 1,
// nothing recorded). A supersedes it (a new version stamped, the link
// recorded, a rerun the same statement) and verify says SUPERSEDED by the
// new fingerprint (exit 4) once the statement is anchored, then A
// withdraws it and verify says WITHDRAWN (exit 5); verify -r shows both.
// status-export saves the signed status file, and offline — no connection
// at all — verify --status says the same from it; a status file with any
// byte changed, signed by a key the trust list does not hold, too old or
// dated in the future is refused (exit 2). No public answer names either
// institution.
func TestStatementsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "api-keys")
	addKey := func(id, display string) string {
		t.Helper()
		out, code := runCLI(t, nil, "keys", "add", id, "--display", display, "--file", keys)
		if code != 0 {
			t.Fatalf("keys add %s: exit %d\n%s", id, code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	const nameA, nameB = "Hospital Alpha", "Clinic Beta"
	keyA, keyB, keyC := addKey("hospital-alpha", nameA), addKey("clinic-beta", nameB), addKey("lab-gamma", "Lab Gamma")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(data, "dev-api-key"), keyA+"\n") // serveDev's runs are A's
	s := serveDev(t, data, "--api-keys-file", keys, "--batch-interval", "300ms", "--status-refresh", "-1ns")
	list := filepath.Join(data, trust.DevFile)
	asA := []string{"ATTESTD_TRUST=" + list}
	asB := []string{"ATTESTD_TRUST=" + list, "ATTESTD_API_KEY=" + keyB}

	doc, fixed := filepath.Join(dir, "result.txt"), filepath.Join(dir, "result-corrected.txt")
	writeFile(t, doc, "HbA1c 6.1 %\n")
	writeFile(t, fixed, "HbA1c 6.4 %\n")
	s.mustRun(t, "stamp", doc)
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if err != nil {
		t.Fatal(err)
	}
	verifyDoc := func(path string, args ...string) (string, int) {
		t.Helper()
		return s.runEnv(t, asA, append(append([]string{"verify"}, args...), path)...)
	}
	if out, code := verifyDoc(doc); code != 0 || !strings.Contains(out, "ok         record_status") {
		t.Fatalf("verify before any statement: exit %d\n%s", code, out)
	}

	// B submits A's fingerprint (it may: it knows it), and still may not
	// make a statement about A's record.
	req, _ := http.NewRequest("POST", s.url+"/v1/fingerprints", strings.NewReader(`{"fingerprints":["`+f.Fingerprint.String()+`"]}`))
	req.Header.Set("Authorization", "Bearer "+keyB)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("B submits A's fingerprint: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	bDir := t.TempDir() // B's own files, away from A's
	for _, args := range [][]string{
		{"withdraw", attestfile.PathFor(doc), "--reason", "other"},
		{"supersede", attestfile.PathFor(doc), filepath.Join(bDir, "b-version.txt")},
	} {
		if len(args) == 3 {
			writeFile(t, args[2], "B's version\n")
		}
		out, code := s.runEnv(t, asB, args...)
		if code != exitInvalid || !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "first submitted by another institution") || strings.Contains(out, nameA) {
			t.Fatalf("B: attestd %s: exit %d, want 1 with the 403 naming no one\n%s", strings.Join(args, " "), code, out)
		}
	}
	if st := publicStatus(t, s, f.Fingerprint.String()); st["superseded_by"] != nil || st["withdrawn"] != nil {
		t.Fatalf("B's refused statements were recorded: %v", st)
	}
	// An institution that never submitted the record is stopped before
	// its new version is stamped.
	cDoc := filepath.Join(bDir, "c-version.txt")
	writeFile(t, cDoc, "C's version\n")
	if out, code := s.runEnv(t, append(asB, "ATTESTD_API_KEY="+keyC), "supersede", attestfile.PathFor(doc), cDoc); code != exitInvalid || !strings.Contains(out, "nothing was stamped") {
		t.Fatalf("C supersedes A's record: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(attestfile.PathFor(cDoc)); !os.IsNotExist(err) {
		t.Fatalf("C's new version was stamped: %v", err)
	}
	// Usage errors.
	for _, args := range [][]string{
		{"withdraw", attestfile.PathFor(doc)},                           // no reason
		{"withdraw", attestfile.PathFor(doc), "--reason", "mistake"},    // an unknown reason
		{"withdraw", doc, "--reason", "other"},                          // the document, not its .attest
		{"supersede", attestfile.PathFor(doc), attestfile.PathFor(doc)}, // a .attest as the new version
	} {
		if out, code := s.run(t, args...); code != exitError {
			t.Fatalf("attestd %s: exit %d, want 2\n%s", strings.Join(args, " "), code, out)
		}
	}

	// A supersedes its record: the new version is stamped and linked.
	out := s.mustRun(t, "supersede", attestfile.PathFor(doc), fixed)
	nf, err := attestfile.Read(attestfile.PathFor(fixed))
	if err != nil || nf.Receipt == nil {
		t.Fatalf("the new version has no .attest with a receipt: %v\n%s", err, out)
	}
	repl := nf.Fingerprint.String()
	if !strings.Contains(out, "SUPERSEDED: ") || !strings.Contains(out, repl) {
		t.Fatalf("supersede:\n%s", out)
	}
	// Run again: stamped already, the same statement (idempotent).
	var again struct {
		Fingerprint string          `json:"fingerprint"`
		Statement   string          `json:"statement"`
		Receipt     receipt.Receipt `json:"receipt"`
	}
	mustJSONOut(t, s.mustRun(t, "supersede", "--json", attestfile.PathFor(doc), fixed), &again)
	if st := publicStatus(t, s, f.Fingerprint.String()); len(st["superseded_by"].([]any)) != 1 {
		t.Fatalf("a rerun of supersede recorded a second statement: %v", st["superseded_by"])
	}
	if firstFP := st0(t, s, f.Fingerprint.String(), "superseded_by"); again.Fingerprint != firstFP || again.Receipt.Institution != nameA {
		t.Fatalf("the rerun's statement %s (receipt naming %q), the first %s", again.Fingerprint, again.Receipt.Institution, firstFP)
	}
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", fixed)

	// verify: UNDECIDED while the statement is not anchored, then SUPERSEDED.
	out, code := pollVerify(t, func() (string, int) { return verifyDoc(doc) })
	if code != exitSuperseded || !strings.HasPrefix(out, "SUPERSEDED by "+repl+" on ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "submitted by "+nameA) {
		t.Fatalf("verify after the supersede: exit %d, want 4\n%s", code, out)
	}
	out, code = verifyDoc(doc, "--json")
	var res struct {
		Verdict      string `json:"verdict"`
		Valid        bool   `json:"valid"`
		RecordStatus struct {
			State       string `json:"state"`
			Replacement string `json:"replacement"`
		} `json:"record_status"`
	}
	mustJSONOut(t, out, &res)
	if code != exitSuperseded || res.Verdict != "superseded" || res.Valid || res.RecordStatus.State != "superseded" || res.RecordStatus.Replacement != repl {
		t.Fatalf("verify --json: exit %d %+v", code, res)
	}
	if out, code := verifyDoc(fixed); code != 0 {
		t.Fatalf("the new version: exit %d\n%s", code, out)
	}

	// A withdraws it: WITHDRAWN, whatever the supersede says.
	s.mustRun(t, "withdraw", attestfile.PathFor(doc), "--reason", "entered-in-error")
	out, code = pollVerify(t, func() (string, int) {
		out, code := verifyDoc(doc)
		if code == exitSuperseded { // the withdrawal is not anchored yet
			code = exitUndecided
		}
		return out, code
	})
	if code != exitWithdrawn || !strings.HasPrefix(out, "WITHDRAWN on ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "(entered-in-error)") {
		t.Fatalf("verify after the withdrawal: exit %d, want 5\n%s", code, out)
	}
	out, code = s.runEnv(t, asA, "verify", "-r", dir)
	if code != exitWithdrawn || !strings.Contains(out, "WITHDRAWN  "+doc+"  on ") || !strings.Contains(out, "VALID      "+fixed) || !strings.Contains(out, "1 WITHDRAWN") {
		t.Fatalf("verify -r: exit %d, want 5\n%s", code, out)
	}
	// Without a server to ask (none answers there), it is not known: never VALID.
	if out, code := verifyDoc(doc, "--server", "http://127.0.0.1:1"); code != exitUndecided || !strings.Contains(out, "UNDECIDED  record_status") {
		t.Fatalf("verify with an unreachable status server: exit %d\n%s", code, out)
	}
	if out, code := verifyDoc(doc, "--no-status"); code != 0 || !strings.Contains(out, "not checked: --no-status") {
		t.Fatalf("verify --no-status: exit %d\n%s", code, out)
	}

	// No public answer names either institution.
	for _, p := range []string{"/v1/fingerprints/" + f.Fingerprint.String(), "/v1/status"} {
		body := httpGet(t, s.url+p)
		for _, n := range []string{nameA, nameB, "hospital-alpha", "clinic-beta"} {
			if strings.Contains(string(body), n) {
				t.Fatalf("GET %s names %q: %s", p, n, body)
			}
		}
	}

	// Offline, from the status file.
	status := filepath.Join(dir, "status.json")
	s.mustRun(t, "status-export", "--out", status)
	cp := filepath.Join(dir, "cp.json")
	if out, code := runCLI(t, nil, "checkpoint", "--rpc", s.rpc, "--out", cp, attestfile.PathFor(doc), attestfile.PathFor(fixed)); code != 0 {
		t.Fatalf("checkpoint: exit %d\n%s", code, out)
	}
	tr := newTrap(t)
	env := []string{"ATTESTD_TRUST=" + list, "ATTESTD_RPC=" + tr.url(), "ATTESTD_SERVER=" + tr.url()}
	offline := func(path string, args ...string) (string, int) {
		t.Helper()
		args = append(append([]string{"verify", "--offline", "--checkpoint", cp}, args...), path)
		out, code := runCLI(t, env, args...)
		tr.check(t, strings.Join(args, " "))
		return out, code
	}
	if out, code := offline(doc, "--status", status); code != exitWithdrawn || !strings.HasPrefix(out, "WITHDRAWN on ") || !strings.Contains(out, "listed as attested in the status file") {
		t.Fatalf("offline with the status file: exit %d, want 5\n%s", code, out)
	}
	if out, code := offline(fixed, "--status", status); code != 0 || !strings.Contains(out, "lists no correction or withdrawal of this record as of") {
		t.Fatalf("offline, the new version: exit %d\n%s", code, out)
	}
	if out, code := offline(doc); code != exitUndecided || !strings.Contains(out, "--status FILE") {
		t.Fatalf("offline without the status file: exit %d, want 3\n%s", code, out)
	}

	// Refused status files (exit 2): stale, another key, future, any byte changed.
	if out, code := offline(doc, "--status", status, "--status-max-age", "1ns"); code != exitError || !strings.Contains(out, "too old") {
		t.Fatalf("a stale status file: exit %d, want 2\n%s", code, out)
	}
	good, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := statement.ParseStatusFile(good)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := receipt.LoadKeyring(filepath.Join(data, "receipt-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	signed := func(name string, at time.Time, priv ed25519.PrivateKey) string {
		t.Helper()
		f, err := statement.Sign(at, sf.Statements, priv)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.Marshal()
		path := filepath.Join(dir, name)
		writeFile(t, path, string(b))
		return path
	}
	key, _ := ring.At(time.Now())
	_, other, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path, want string
	}{
		{"dated in the future", signed("future.json", time.Now().Add(time.Hour), key.Private), "dated in the future"},
		{"signed by a key the list does not hold", signed("other.json", time.Now(), other), "no receipt key in your trust list"},
	} {
		if out, code := offline(doc, "--status", c.path); code != exitError || !strings.Contains(out, c.want) {
			t.Fatalf("%s: exit %d, want 2 saying %q\n%s", c.name, code, c.want, out)
		}
	}
	// The issuer's own key, now: accepted (the refusals above are the dates and keys).
	if _, code := offline(doc, "--status", signed("now.json", time.Now(), key.Private)); code != exitWithdrawn {
		t.Fatalf("a status file re-signed now with the issuer's key: exit %d, want 5", code)
	}
	// Every byte of the exported file changed: refused, by the very code
	// verify --status runs (in-process: one run of the binary a byte would
	// take minutes); and a sample through the binary.
	l, err := trust.Load(list)
	if err != nil {
		t.Fatal(err)
	}
	mutated := filepath.Join(dir, "mutated.json")
	for i := range good {
		for _, d := range []byte{0x01, 0x20, 0x80} {
			m := bytes.Clone(good)
			m[i] ^= d
			writeFile(t, mutated, string(m))
			if _, err := loadStatusFile(mutated, l, nil, time.Now(), statement.DefaultMaxAge); err == nil {
				t.Fatalf("byte %d (%q) xor %#02x of the status file: accepted", i, good[i], d)
			}
		}
		if i%97 == 0 || good[i] == '=' {
			m := bytes.Clone(good)
			m[i] ^= 0x01
			writeFile(t, mutated, string(m))
			if out, code := offline(doc, "--status", mutated); code != exitError || !strings.Contains(out, "is refused") {
				t.Fatalf("byte %d of the status file changed: exit %d, want 2\n%s", i, code, out)
			}
		}
	}
	// Without a trust list or a pinned key nothing says whose it is.
	if out, code := runCLI(t, []string{"ATTESTD_RPC=" + tr.url()}, "verify", "--offline", "--any-issuer", "--status", status, doc); code != exitError || !strings.Contains(out, "--trust") {
		t.Fatalf("--status without a trust list: exit %d\n%s", code, out)
	}
}

// pollVerify runs verify until it is no longer UNDECIDED (a statement is
// anchored within the batch interval and the chain's confirmations), at
// most a minute.
func pollVerify(t *testing.T, run func() (string, int)) (string, int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, code := run()
		if code != exitUndecided || time.Now().After(deadline) {
			return out, code
		}
		time.Sleep(200 * time.Millisecond) // polling the service's anchoring, with the deadline above
	}
}

// publicStatus is GET /v1/fingerprints/{fp}, decoded.
func publicStatus(t *testing.T, s *service, fp string) map[string]any {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(httpGet(t, s.url+"/v1/fingerprints/"+fp), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// st0 is the fingerprint of the first statement in list of fp's status.
func st0(t *testing.T, s *service, fp, list string) string {
	t.Helper()
	l, ok := publicStatus(t, s, fp)[list].([]any)
	if !ok || len(l) == 0 {
		t.Fatalf("no %s in the status of %s", list, fp)
	}
	return l[0].(map[string]any)["fingerprint"].(string)
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, body)
	}
	return body
}

// mustJSONOut decodes the JSON a command printed on stdout (runCLI's
// output is stdout and stderr: stderr's lines come before it).
func mustJSONOut(t *testing.T, out string, v any) {
	t.Helper()
	js := out
	if i := strings.Index(out, "\n{"); i >= 0 && !strings.HasPrefix(out, "{") {
		js = out[i+1:]
	}
	if err := json.Unmarshal([]byte(js), v); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, out)
	}
}
