package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
)

// TestStampNeverStrands: a .attest is written only once its receipt is in
// hand. A wrong key, the server down, a file that cannot be read: no
// receipt-less .attest is left, and stamping again works. A path given
// twice is stamped once; a .attest given as a document is refused; a
// receipt-less .attest left by an older attestd is stamped again when the
// server does not know it, and kept (upgrade) when it does.
func TestStampNeverStrands(t *testing.T) {
	dir := t.TempDir()
	s := serveDev(t, filepath.Join(dir, "data"), "--batch-interval", "300ms")
	doc := func(name string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, "record "+name+"\n")
		return p
	}
	noAttest := func(p string) {
		t.Helper()
		if _, err := os.Stat(attestfile.PathFor(p)); !os.IsNotExist(err) {
			t.Fatalf("%s exists after a failed stamp (%v)", attestfile.PathFor(p), err)
		}
	}
	withReceipt := func(p string) *attestfile.File {
		t.Helper()
		f, err := attestfile.Read(attestfile.PathFor(p))
		if err != nil || f.Receipt == nil {
			t.Fatalf("%s: %v, receipt %v", attestfile.PathFor(p), err, err == nil && f.Receipt != nil)
		}
		return f
	}

	a := doc("a.txt")
	if out, code := s.runEnv(t, []string{"ATTESTD_API_KEY=wrong-key-0123456789"}, "stamp", a); code == 0 {
		t.Fatalf("stamp with a wrong key: exit 0\n%s", out)
	}
	noAttest(a)
	if out, code := s.run(t, "stamp", "--server", "http://127.0.0.1:1", a); code == 0 {
		t.Fatalf("stamp with the server down: exit 0\n%s", out)
	}
	noAttest(a)

	// A file missing later in the list: the others are stamped, it is
	// named, the exit status says so.
	missing := filepath.Join(dir, "missing.txt")
	out, code := s.run(t, "stamp", a, missing)
	if code != exitInvalid || !strings.Contains(out, "missing.txt") {
		t.Fatalf("stamp a.txt missing.txt: exit %d\n%s", code, out)
	}
	withReceipt(a)
	noAttest(missing)

	// The same document twice (two spellings): stamped once.
	b := doc("b.txt")
	out = s.mustRun(t, "stamp", b, filepath.Join(dir, ".", "b.txt"))
	if n := strings.Count(out, "b.txt.attest"); n != 1 {
		t.Fatalf("stamp b.txt ./b.txt stamped %d times:\n%s", n, out)
	}
	withReceipt(b)

	// A .attest given as a document: refused with a hint, nothing written.
	out, code = s.run(t, "stamp", attestfile.PathFor(a))
	if code != exitError || !strings.Contains(out, "is a proof file") || !strings.Contains(out, "stamp "+a) {
		t.Fatalf("stamp a.txt.attest: exit %d\n%s", code, out)
	}
	noAttest(attestfile.PathFor(a))
	// verify of the .attest instead of the document: the same hint.
	out, code = s.run(t, "verify", attestfile.PathFor(a))
	if code != exitError || !strings.Contains(out, "is the proof, not the document: verify "+a) {
		t.Fatalf("verify a.txt.attest: exit %d\n%s", code, out)
	}

	// An existing .attest with a receipt: kept.
	out, code = s.run(t, "stamp", a)
	if code == 0 || !strings.Contains(out, "use upgrade") {
		t.Fatalf("stamp over a .attest with a receipt: exit %d\n%s", code, out)
	}

	// A receipt-less .attest (what an older attestd left after a failed
	// submission) whose fingerprint the server does not know: stamped again.
	c := doc("c.txt")
	n, err := fingerprint.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	fp, _, err := fingerprint.HashDocument(c, fingerprint.CanonNone, &n, nil)
	if err != nil {
		t.Fatal(err)
	}
	stranded := &attestfile.File{Version: attestfile.Version, Document: "c.txt", Fingerprint: fp, Canonicalization: fingerprint.CanonNone,
		Blinding: &attestfile.Blinding{Scheme: fingerprint.BlindDomain, Nonce: n}}
	if err := attestfile.Write(attestfile.PathFor(c), stranded, 0o600); err != nil {
		t.Fatal(err)
	}
	out = s.mustRun(t, "stamp", c)
	if !strings.Contains(out, "does not know its fingerprint: stamping") {
		t.Fatalf("stamp over a stranded .attest:\n%s", out)
	}
	withReceipt(c)
	// A receipt-less .attest whose fingerprint the server knows: kept, with
	// the way out named.
	f := withReceipt(b)
	f.Receipt = nil
	if err := attestfile.Write(attestfile.PathFor(b), f, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = s.run(t, "stamp", b)
	if code == 0 || !strings.Contains(out, "run upgrade") {
		t.Fatalf("stamp over a receipt-less .attest the server knows: exit %d\n%s", code, out)
	}
	s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", a, b, c)
	for _, p := range []string{a, b, c} {
		if out, code := s.runEnv(t, []string{"ATTESTD_TRUST=" + filepath.Join(dir, "data", "trust.json")}, "verify", p); code != 0 && !(p == b && code == exitUndecided) {
			t.Fatalf("verify %s: exit %d\n%s", p, code, out)
		}
	}
}

// TestUpgradeResubmits: a server that does not know a fingerprint (here a
// second server with the first one's receipt keys and a fresh store, as
// after a restore from an older backup) gets it submitted again by
// upgrade, because the .attest holds a receipt of its keys; it is then
// confirmed and verifies. A .attest whose receipt another server signed is
// not submitted.
func TestUpgradeResubmits(t *testing.T) {
	dir := t.TempDir()
	first := serveDev(t, filepath.Join(dir, "first"), "--batch-interval", "300ms")
	doc := filepath.Join(dir, "lab.txt")
	writeFile(t, doc, "K+ 4.1 mmol/L\n")
	first.mustRun(t, "stamp", doc)
	first.stop(t)

	keys := filepath.Join(dir, "first", "receipt-key.pem")
	s := serveDev(t, filepath.Join(dir, "restored"), "--batch-interval", "300ms", "--receipt-key-file", keys)
	out, code := s.run(t, "upgrade", "--resubmit=false", doc)
	if code == 0 || !strings.Contains(out, "404") {
		t.Fatalf("upgrade --resubmit=false of an unknown fingerprint: exit %d\n%s", code, out)
	}
	out = s.mustRun(t, "upgrade", "--wait", "--timeout", "60s", doc)
	if !strings.Contains(out, "submitted again") || !strings.Contains(out, "confirmed") {
		t.Fatalf("upgrade after the loss:\n%s", out)
	}
	if out, code := s.runEnv(t, []string{"ATTESTD_TRUST=" + filepath.Join(dir, "restored", "trust.json")}, "verify", doc); code != 0 {
		t.Fatalf("verify after the resubmission: exit %d\n%s", code, out)
	}

	// Another server's receipt: not submitted.
	other := serveDev(t, filepath.Join(dir, "other"), "--batch-interval", "300ms")
	out, code = other.run(t, "upgrade", doc)
	if code == 0 || !strings.Contains(out, "not one of this server's") {
		t.Fatalf("upgrade against a server whose receipt it is not: exit %d\n%s", code, out)
	}
}
