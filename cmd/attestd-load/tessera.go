package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/mod/sumdb/note"
)

// The peer of issue #18: Tessera's POSIX personality
// (github.com/transparency-dev/tessera/cmd/conformance/posix), driven by
// submit --target tessera, and the signing key it needs.

// tesseraEntry is the body of Tessera's POST /add for fingerprint i of a
// run: the entry, its 32 bytes.
func tesseraEntry(runID string, i uint64) []byte {
	sum := fpSum(runID, i)
	return sum[:]
}

// tesseraStatus is the status counted for an answer of Tessera's /add: a
// 200 acknowledges the entry only if its body is the index it was given
// (fmt.Fprintf(w, "%d", idx.Index) in the personality, written once the
// entry is sequenced and durable).
func tesseraStatus(status string, body []byte) string {
	if status != "200" {
		return status
	}
	if _, err := strconv.ParseUint(string(body), 10, 64); err != nil {
		return "200 without an index"
	}
	return status
}

// tesseraKey is the tessera-key mode: a new Ed25519 signing key for a log
// named NAME, in the note format of golang.org/x/mod/sumdb/note
// ("PRIVATE+KEY+NAME+…", what the personality's --private_key file and
// LOG_PRIVATE_KEY hold), printed, or written to --out with mode 0600 (the
// file must not exist; it holds the key alone, no newline).
func tesseraKey(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("attestd-load tessera-key", flag.ContinueOnError)
	out := fs.String("out", "", "write the private key to this new file (mode 0600) instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: attestd-load tessera-key [--out FILE] NAME")
	}
	skey, _, err := note.GenerateKey(rand.Reader, fs.Arg(0))
	if err != nil {
		return err
	}
	// GenerateKey takes any name; NewSigner, what the personality calls on
	// the key, refuses one with a "+" or a space.
	if _, err := note.NewSigner(skey); err != nil {
		return fmt.Errorf("key name %q: %v", fs.Arg(0), err)
	}
	if *out == "" {
		_, err = fmt.Fprintln(stdout, skey)
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, skey); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
