package tmpfstest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMountImpossible: where mount fails (here a mount that always
// fails, first in PATH), Mount skips the test saying why — and with
// CI=true fails it instead.
func TestMountImpossible(t *testing.T) {
	if os.Getenv("TMPFSTEST_HELPER") == "1" {
		Mount(t, 1<<20)
		t.Log("mounted")
		return
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "mount"), []byte("#!/bin/sh\necho 'mount: permission denied' >&2\nexit 32\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMountImpossible$", "-test.v")
		cmd.Env = append(os.Environ(), "TMPFSTEST_HELPER=1", "CI="+ci, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case ci == "" && (err != nil || !strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "cannot mount a tmpfs")):
			t.Errorf("CI unset: %v, want a skip saying why:\n%s", err, out)
		case ci == "true" && (!errors.As(err, &exit) || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "CI=true, so this is a failure")):
			t.Errorf("CI=true: %v, want a failure saying why:\n%s", err, out)
		}
	}
}

// TestMountAndFill: where mounting works, Mount gives a file system of
// the size asked for, and Fill fills it.
func TestMountAndFill(t *testing.T) {
	dir := Mount(t, 1<<20)
	n := Fill(t, filepath.Join(dir, "filler"))
	if n < 900<<10 || n > 1<<20 {
		t.Fatalf("filled %d bytes of a 1 MiB tmpfs", n)
	}
	if err := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 8192), 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing to the full tmpfs: %v, want ENOSPC", err)
	}
}
