package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
)

func TestHashAllOrderAndProgress(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 20 {
		p := filepath.Join(dir, fmt.Sprintf("doc%02d", i))
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 1000*i), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			old := isTerminal
			isTerminal = func(io.Writer) bool { return tty }
			defer func() { isTerminal = old }()
			var stderr bytes.Buffer
			got := hashAll(paths, fingerprint.CanonNone, false, &stderr)
			for i, h := range got {
				data, _ := os.ReadFile(paths[i])
				if h.err != nil || h.path != paths[i] || h.fp != fingerprint.Fingerprint(sha256.Sum256(data)) {
					t.Fatalf("result %d: %+v", i, h)
				}
			}
			if tty != strings.Contains(stderr.String(), "(100%), 20/20 files") {
				t.Fatalf("tty=%v, progress output %q", tty, stderr.String())
			}
		})
	}
}

func TestHashAllBlindsEachFileWithItsOwnNonce(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte("same content"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := hashAll([]string{a, b, filepath.Join(dir, "missing")}, fingerprint.CanonNone, true, io.Discard)
	if got[0].nonce == nil || got[1].nonce == nil || *got[0].nonce == *got[1].nonce || got[0].fp == got[1].fp {
		t.Fatal("identical documents must get different nonces and fingerprints")
	}
	if want := fingerprint.Blind(*got[0].nonce, fingerprint.Sum([]byte("same content"))); got[0].fp != want {
		t.Fatal("blinded fingerprint does not match fingerprint.Blind")
	}
	if got[2].err == nil {
		t.Fatal("a missing file gave no error")
	}
}
