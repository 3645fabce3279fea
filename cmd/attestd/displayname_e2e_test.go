package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/trust"
)

// TestDisplayNameReceipt: keys add with an accented display name; a
// submission's receipt names it, verifies, and verify's VALID line names
// it; the public status of the fingerprint does not. A display name with
// a newline or a control character is refused.
func TestDisplayNameReceipt(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "api-keys")
	const name = "Hôpital Saint-Louis"
	for _, bad := range []string{"Hôpital\nSaint-Louis", "Hôpital\x1b[2J", "Hôpital\u202eSaint"} {
		if out, code := runCLI(t, nil, "keys", "add", "hopital-saint-louis", "--display", bad, "--file", keys); code != exitError || !strings.Contains(out, "invalid display name") {
			t.Fatalf("keys add --display %q: exit %d\n%s", bad, code, out)
		}
	}
	out, code := runCLI(t, nil, "keys", "add", "hopital-saint-louis", "--display", name, "--file", keys)
	if code != 0 {
		t.Fatalf("keys add: exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	apiKey := lines[len(lines)-1]
	if out, _ := runCLI(t, nil, "keys", "list", "--file", keys); !strings.Contains(out, name) || strings.Contains(out, apiKey) {
		t.Fatalf("keys list:\n%s", out)
	}

	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// serveDev reads the dev key file; with --api-keys-file the server
	// does not, so it holds the institution's key for the runs.
	writeFile(t, filepath.Join(data, "dev-api-key"), apiKey+"\n")
	s := serveDev(t, data, "--api-keys-file", keys, "--batch-interval", "300ms")
	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "compte rendu\n")
	s.mustRun(t, "stamp", doc) // stamp checks the receipt's signature
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Receipt == nil || f.Receipt.Institution != name {
		t.Fatalf("receipt %+v, want one naming %q", f.Receipt, name)
	}
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)
	out, code = s.runEnv(t, []string{"ATTESTD_TRUST=" + filepath.Join(data, trust.DevFile)}, "verify", doc)
	if code != 0 || !strings.Contains(out, "VALID: attested ") || !strings.Contains(out, "submitted by "+name+"\n") {
		t.Fatalf("verify: exit %d, want VALID naming %q:\n%s", code, name, out)
	}
	resp, err := http.Get(s.url + "/v1/fingerprints/" + f.Fingerprint.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "pital") || strings.Contains(string(body), "hopital") {
		t.Fatalf("public status: %d %s", resp.StatusCode, body)
	}
}
