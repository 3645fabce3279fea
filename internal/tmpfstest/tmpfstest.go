// Package tmpfstest gives tests a small file system of their own, to run
// it full: a size-limited tmpfs mounted on a temporary directory.
//
// Mounting needs root (or CAP_SYS_ADMIN). Where it is impossible, Mount
// skips the test with a message saying so — unless the environment has
// CI=true, where it is a failure: CI must run the full-disk tests.
package tmpfstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// unmounts it when t ends (after the cleanups registered later, such as
// closing a store on it).
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("tmpfstest: cannot mount a tmpfs on %s (%v: %s); run as root (or with CAP_SYS_ADMIN) to run the full-disk tests", dir, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("tmpfstest: umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file at path until the file system has no space left, and
// returns the file's size. Remove the file to free the space again.
func Fill(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("filling %s: %v", filepath.Dir(path), err)
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	return n
}
