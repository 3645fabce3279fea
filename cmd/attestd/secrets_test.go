package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAttestFileMode: a .attest holds the blinding nonce, so stamp writes
// it readable by its owner only unless told otherwise, and upgrade keeps
// whatever mode the file has.
func TestAttestFileMode(t *testing.T) {
	dir := t.TempDir()
	s := serveDev(t, filepath.Join(dir, "data"), "--batch-interval", "300ms")
	private, shared := filepath.Join(dir, "private.txt"), filepath.Join(dir, "shared.txt")
	writeFile(t, private, "HbA1c 6.1 %\n")
	writeFile(t, shared, "HbA1c 6.2 %\n")
	s.mustRun(t, "stamp", private)
	s.mustRun(t, "stamp", "--mode", "0644", shared)
	if out, code := s.run(t, "stamp", "--mode", "0044", filepath.Join(dir, "x")); code != exitError || !strings.Contains(out, "--mode") {
		t.Fatalf("a mode the owner cannot read: exit %d\n%s", code, out)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p + ".attest")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(private); m != 0o600 {
		t.Fatalf("stamp wrote %s.attest with mode %o, want 0600", private, m)
	}
	if m := mode(shared); m != 0o644 {
		t.Fatalf("stamp --mode 0644 wrote mode %o", m)
	}
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", private, shared)
	if m, n := mode(private), mode(shared); m != 0o600 || n != 0o644 {
		t.Fatalf("after upgrade: modes %o and %o, want 0600 and 0644", m, n)
	}
}

// TestSecretsOffTheCommandLine: a secret passed as a flag works but draws a
// warning that names the alternative and never the secret; the file and
// environment forms draw none.
func TestSecretsOffTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	s := serveDev(t, filepath.Join(dir, "data"), "--batch-interval", "1h")
	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "discharge summary\n")

	// --api-key: accepted, with a warning, the key not echoed.
	cmd := exec.Command(binary(t), "stamp", "--api-key", s.apiKey, doc)
	cmd.Env = append(os.Environ(), "ATTESTD_SERVER="+s.url, "ATTESTD_API_KEY=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stamp --api-key: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "visible to other users") || !strings.Contains(string(out), "--api-key-file") {
		t.Fatalf("stamp --api-key gave no warning:\n%s", out)
	}
	if strings.Contains(string(out), s.apiKey) {
		t.Fatal("the warning shows the API key")
	}
	// --api-key-file: no warning.
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(s.apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc2 := filepath.Join(dir, "report2.txt")
	writeFile(t, doc2, "second report\n")
	cmd = exec.Command(binary(t), "stamp", "--api-key-file", keyFile, doc2)
	cmd.Env = append(os.Environ(), "ATTESTD_SERVER="+s.url, "ATTESTD_API_KEY=")
	if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "warning") {
		t.Fatalf("stamp --api-key-file: %v\n%s", err, out)
	}

	// serve with credentials in --store and --chain-rpc: warned, never shown.
	const pw, key = "s3cret-redis-pw", "prov1der-key-9f8e"
	cmd = exec.Command(binary(t), "serve", "--data-dir", filepath.Join(dir, "other"), "--listen", "127.0.0.1:0",
		"--store", "redis://:"+pw+"@127.0.0.1:1/0", "--chain-rpc", "http://127.0.0.1:1/v3/"+key, "--chain-id", "1337",
		"--chain-key-file", filepath.Join(dir, "missing-key"), "--api-keys-file", filepath.Join(dir, "missing-keys"))
	cmd.Env = append(os.Environ(), "ATTESTD_STORE=", "ATTESTD_CHAIN_RPC=")
	cmd.WaitDelay = 30 * time.Second
	out, err = cmd.CombinedOutput()
	if err == nil {
		t.Fatal("serve against an unreachable Redis started")
	}
	for _, want := range []string{"--store URL on the command line", "--chain-rpc URL on the command line"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve gave no warning %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), pw) || strings.Contains(string(out), key) {
		t.Errorf("serve printed a credential:\n%s", out)
	}
}

func TestURLHoldsSecret(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:8545":         false,
		"http://127.0.0.1:8545/":        false,
		"redis://127.0.0.1:6379":        false,
		"https://rpc.example/v3/KEY":    true,
		"https://rpc.example/?apikey=K": true,
		"redis://:pw@127.0.0.1:6379/0":  true,
		"redis://user@127.0.0.1:6379":   true,
		"redis://127.0.0.1:6379/0":      false, // a database number
		"http://[::1]:namedport/%zz":    true,  // unparsable: assume the worst
		"":                              false,
	} {
		if got := urlHoldsSecret(raw); got != want {
			t.Errorf("urlHoldsSecret(%q) = %v, want %v", raw, got, want)
		}
	}
}

// TestSecretFileBounded: a secret path naming something endless is refused,
// not read forever.
func TestSecretFileBounded(t *testing.T) {
	if _, err := readSmallFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("/dev/zero: %v", err)
	}
	for _, v := range []string{"id=1,rpc-file=/dev/zero,key-file=k", "id=1,rpc=http://127.0.0.1:9,keystore=k,password-file=/dev/zero"} {
		if _, err := (chainSpec{from: "--chain #1", raw: v, cmdLine: true}).chainConfig(""); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("%s: %v", v, err)
		}
	}
}
