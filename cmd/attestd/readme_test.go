package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeFilesIgnored: every file or directory in the working tree that
// a command of README.md writes (a --file, --data-dir, --out or --dir, a
// shell redirection) is covered by .gitignore, so that keys, chain data and
// documents with their blinding nonces do not land in git by accident.
func TestReadmeFilesIgnored(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	written := regexp.MustCompile(`(?:--file|--data-dir|--out|--dir|--receipt-key-file|>)[ =]"?([A-Za-z0-9_.][A-Za-z0-9_./-]*)`)
	var paths []string
	inShell := false
	for _, line := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inShell = true
			continue
		case strings.HasPrefix(line, "```"):
			inShell = false
			continue
		}
		if !inShell {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i] // a comment: its "> on" writes nothing
		}
		for _, m := range written.FindAllStringSubmatch(line, -1) {
			p := strings.TrimPrefix(m[1], "./")
			if strings.HasPrefix(p, "bin/") || strings.HasPrefix(p, "dist/") || p == "" || p == "." {
				continue
			}
			paths = append(paths, p)
		}
	}
	if len(paths) < 10 {
		t.Fatalf("found only %d paths the README writes: %q", len(paths), paths)
	}
	ignored := func(p string) bool {
		cmd := exec.Command("git", "check-ignore", "--no-index", "-q", p)
		cmd.Dir = "../.."
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return false
		}
		if err != nil {
			t.Fatalf("git check-ignore %s: %v", p, err)
		}
		return true
	}
	for _, p := range paths {
		// A file directly, or one inside a directory written there.
		if !ignored(p) && !ignored(p+"/x") {
			t.Errorf("README.md writes %s, which .gitignore does not cover", p)
		}
	}
	t.Logf("%d paths: %q", len(paths), paths)
}
