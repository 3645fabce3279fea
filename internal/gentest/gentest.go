// Package gentest checks committed generated code for drift: a package whose
// code is generated (internal/api, client/api) calls [UpToDate] from a test,
// which regenerates it as `go generate` would and compares.
package gentest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// UpToDate runs the single //go:generate directive of generate.go in the
// current directory (the package under test), as `go generate` would, with
// its output redirected to a temporary file, and fails t if the result
// differs from the committed file generated, which the directive's -o must
// name.
func UpToDate(t *testing.T, generated string) {
	t.Helper()
	args := directive(t)
	if args[0] != "go" {
		t.Fatalf("generate.go: the //go:generate directive should run the go command, got %q", args[0])
	}
	// The directive's -o is relative to its -C directory, if any.
	dir := "."
	if i := slices.Index(args, "-C"); i >= 0 && i+1 < len(args) {
		dir = args[i+1]
	}
	o := slices.Index(args, "-o")
	if o < 0 || o+1 >= len(args) {
		t.Fatalf("generate.go: the //go:generate directive has no -o OUTPUT: %q", args)
	}
	target, err := filepath.Abs(filepath.Join(dir, args[o+1]))
	if err != nil {
		t.Fatal(err)
	}
	if self, err := filepath.Abs(generated); err != nil || target != self {
		t.Fatalf("generate.go: the //go:generate directive writes %s, want %s in this package", target, generated)
	}

	fresh := filepath.Join(t.TempDir(), filepath.Base(generated))
	args = slices.Clone(args)
	args[o+1] = fresh
	cmd := exec.Command(args[0], args[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}

	want, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		pkg, _ := os.Getwd()
		t.Errorf("%s is out of date with its spec or configuration (the //go:generate directive: %s): run `make generate` "+
			"(or `go generate` in %s) and commit the result.\n%s", generated, strings.Join(args[:o], " "), pkg, firstDifference(got, want))
	}
}

// directive returns the arguments of the single //go:generate directive in generate.go.
func directive(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var directives [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "//go:generate "); ok {
			directives = append(directives, strings.Fields(rest))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(directives) != 1 || len(directives[0]) == 0 {
		t.Fatalf("generate.go: want exactly one //go:generate directive, found %d", len(directives))
	}
	return directives[0]
}

// firstDifference describes the first line at which the committed and the regenerated
// code differ.
func firstDifference(committed, regenerated []byte) string {
	a := strings.Split(string(committed), "\n")
	b := strings.Split(string(regenerated), "\n")
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			line := func(l []string) string {
				if i < len(l) {
					return l[i]
				}
				return "(end of file)"
			}
			return fmt.Sprintf("first difference at line %d:\n  committed:   %s\n  regenerated: %s", i+1, line(a), line(b))
		}
	}
	return "the files differ"
}
