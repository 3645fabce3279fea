package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// parseServe parses args with serve's flags, then applies the config file
// at path, and returns the resulting value of each flag.
func parseServe(t *testing.T, path string, args ...string) (map[string]string, error) {
	t.Helper()
	cmd := newServeCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	err := applyConfigFile(cmd.Flags(), path)
	got := map[string]string{}
	for _, name := range []string{"store", "batch-interval", "max-batch-size", "dev", "rate-limit", "listen", "confirmations", "max-fee"} {
		got[name] = cmd.Flags().Lookup(name).Value.String()
	}
	return got, err
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "attestd.yaml")
	writeFile(t, path, `# attestd settings
store: redis://redis.internal:6379/0
batch-interval: 1m30s
max-batch-size: 250000
dev: false
rate-limit: 12.5
listen: "127.0.0.1:9000"
max-fee: 80
`)
	got, err := parseServe(t, path, "--listen", "127.0.0.1:8443", "--max-batch-size=7")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"store": "redis://redis.internal:6379/0", "batch-interval": "1m30s", "dev": "false", "rate-limit": "12.5", "max-fee": "80",
		// the command line wins
		"listen": "127.0.0.1:8443", "max-batch-size": "7",
		// not in the file: the default
		"confirmations": newServeCmd().Flags().Lookup("confirmations").DefValue,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	// A setting from the file counts as given: serve's --dev default of 1
	// confirmation yields to it as it does to the flag.
	writeFile(t, path, "dev: true\nconfirmations: 3\n")
	cmd := newServeCmd()
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(cmd.Flags(), path); err != nil {
		t.Fatal(err)
	}
	if !cmd.Flags().Changed("confirmations") || cmd.Flags().Lookup("confirmations").Value.String() != "3" {
		t.Errorf("confirmations from the file: changed %v, value %s", cmd.Flags().Changed("confirmations"), cmd.Flags().Lookup("confirmations").Value)
	}

	// An empty file changes nothing.
	writeFile(t, path, "# nothing yet\n")
	if got, err := parseServe(t, path); err != nil || got["batch-interval"] != newServeCmd().Flags().Lookup("batch-interval").DefValue {
		t.Errorf("empty file: %v, %v", got, err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"unknown setting", "batch-interval: 1m\nbatch-intervall: 2m\n", "line 2: batch-intervall: no such setting"},
		{"bad value", "max-batch-size: lots\n", "line 1: max-batch-size: invalid argument"},
		{"bad duration", "\n\nbatch-interval: 5 minutes\n", "line 3: batch-interval"},
		{"twice", "store: a\nstore: b\n", "line 2: store: given twice"},
		{"twice, quoted", "store: a\n\"store\": b\n", "line 2: store: given twice"},
		{"twice, flow", "{store: a, listen: x, store: b}\n", "line 1: store: given twice"},
		{"case variant", "store: a\nStore: b\n", "line 2: Store: no such setting"},
		{"second document", "store: a\n---\nstore: b\n", "line 3: a second YAML document"},
		{"second document, other key", "store: a\n---\nlisten: x\n", "line 3: a second YAML document"},
		{"alias", "store: &s a\nlisten: *s\n", "line 2: listen: want a single value"},
		{"merge key", "<<: {store: b}\nstore: a\n", "line 1: <<: no such setting"},
		{"list", "listen:\n  - a\n  - b\n", "line 1: listen: want a single value"},
		{"no value", "store:\n", "line 1: store: want a single value"},
		{"nested config", "config: other.yaml\n", "cannot name another"},
		{"help", "help: true\n", "no such setting"},
		{"not a mapping", "- store: a\n", "want a mapping"},
		{"not YAML", "store: [a\n", "--config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			writeFile(t, path, tc.content)
			_, err := parseServe(t, path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and containing %q", err, path, tc.want)
			}
		})
	}
	if _, err := parseServe(t, filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
}

// TestServeConfigFile runs the binary: serve takes its settings from
// --config (as /v1/info reports them), and refuses a bad file before it
// starts anything.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "attestd.yaml")
	writeFile(t, path, "batch-interval: 7s\nmax-batch-size: 3\nrate-limit: 0\n")
	s := serveDev(t, filepath.Join(dir, "data"), "--config", path)
	info := s.mustRun(t, "info")
	for _, want := range []string{`"batch_interval_seconds": 7,`, `"max_batch_size": 3,`} {
		if !strings.Contains(info, want) {
			t.Errorf("info does not show %s from the config file:\n%s", want, info)
		}
	}
	s.stop(t)

	writeFile(t, path, "batch-interval: 7s\nmax-batch-sise: 3\n")
	cmd := exec.Command(binary(t), "serve", "--dev", "--data-dir", filepath.Join(dir, "data2"), "--config", path,
		"--listen", "127.0.0.1:0", "--chain-listen", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), path+": line 2: max-batch-sise: no such setting") {
		t.Errorf("serve with a misspelt setting: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data2")); !os.IsNotExist(err) {
		t.Errorf("serve with a bad config file created its data dir (%v)", err)
	}
}
