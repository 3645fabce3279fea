package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestDistReproducible: make dist, run twice on two copies of the source
// tree at different paths (and with different temporary directories), gives
// byte-identical binaries: the same SHA256SUMS. It has the six platforms'
// files, sha256sum -c accepts it, and the binary for this machine prints
// the version and commit it was stamped with.
//
// Both runs share the go command's build cache (a cold cache per run would
// compile go-ethereum for six platforms twice): each run links every
// binary anew, and -trimpath keeps the copies' paths out of them.
func TestDistReproducible(t *testing.T) {
	root := releaseTests(t)
	files := strings.Split(strings.TrimRight(run(t, root, nil, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"), "\x00"), "\x00")
	tmp := t.TempDir()
	var sums [2][]byte
	var dists [2]string
	for i, sub := range []string{"a", "b/a/much/longer/path/to/the/source"} {
		src := filepath.Join(tmp, sub, "attestd")
		copyFiles(t, root, src, files)
		dists[i] = filepath.Join(tmp, "dist"+string(rune('0'+i)))
		tmpdir := filepath.Join(tmp, "tmp"+string(rune('0'+i)))
		if err := os.MkdirAll(tmpdir, 0o755); err != nil {
			t.Fatal(err)
		}
		// No .git in the copies: VERSION and COMMIT as a release gives them.
		run(t, src, []string{"TMPDIR=" + tmpdir}, "make", "dist", "DIST="+dists[i], "VERSION=v"+testVersion, "COMMIT="+testCommit)
		var err error
		if sums[i], err = os.ReadFile(filepath.Join(dists[i], "SHA256SUMS")); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatalf("two builds of the same source differ:\n%s\n%s", sums[0], sums[1])
	}

	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums[0])), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's format", line)
		}
		names = append(names, name)
	}
	var want []string
	for _, p := range []string{"darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64", "windows-amd64.exe", "windows-arm64.exe"} {
		want = append(want, "attestd-v"+testVersion+"-"+p)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("SHA256SUMS names\n%q\nwant\n%q", names, want)
	}
	run(t, dists[0], nil, "sha256sum", "--check", "--strict", "SHA256SUMS")

	native := filepath.Join(dists[0], "attestd-v"+testVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	out, err := exec.Command(native, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", native, err, out)
	}
	for _, w := range []string{"attestd v" + testVersion + "\n", "commit " + testCommit + "\n"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("attestd version printed %q, want %q in it", out, w)
		}
	}
}

// copyFiles copies the named files (relative to from) into to.
func copyFiles(t *testing.T, from, to string, names []string) {
	t.Helper()
	for _, n := range names {
		src := filepath.Join(from, n)
		fi, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the working tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(to, n)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}
