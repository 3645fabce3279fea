package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
)

// journalEntry is the journal entry of doc with a fresh nonce, and its
// fingerprint as stamp computes it.
func journalEntry(t *testing.T, doc string) *attestfile.File {
	t.Helper()
	n, err := fingerprint.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	fp, _, err := fingerprint.HashDocument(doc, fingerprint.CanonNone, &n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &attestfile.File{Version: attestfile.Version, Document: filepath.Base(doc), Fingerprint: fp,
		Canonicalization: fingerprint.CanonNone, Blinding: &attestfile.Blinding{Scheme: fingerprint.BlindDomain, Nonce: n}}
}

// TestStampResumesJournal: a run interrupted after its journals were
// synced is resumed, with -r and without. A directory journal lists a.txt
// (whose .attest holds the receipt: done, not rewritten) and b.txt (whose
// .attest a crash left empty: stamped again under the journal's
// fingerprint); a journal cut short is ignored with a warning; an old
// DOC.attest.pending (c.txt) is resumed too; no journal is left.
func TestStampResumesJournal(t *testing.T) {
	dir := t.TempDir()
	s := serveDev(t, filepath.Join(dir, "data"), "--batch-interval", "300ms")
	for _, recursive := range []bool{true, false} {
		name := map[bool]string{true: "recursive", false: "files"}[recursive]
		t.Run(name, func(t *testing.T) {
			recs := filepath.Join(dir, name)
			if err := os.MkdirAll(recs, 0o755); err != nil {
				t.Fatal(err)
			}
			a, b, c := filepath.Join(recs, "a.txt"), filepath.Join(recs, "b.txt"), filepath.Join(recs, "c.txt")
			for _, p := range []string{a, b, c} {
				writeFile(t, p, "record "+p+"\n")
			}
			if out, code := s.run(t, "stamp", a); code != 0 {
				t.Fatalf("stamp a.txt: exit %d\n%s", code, out)
			}
			fa, err := attestfile.Read(attestfile.PathFor(a))
			if err != nil || fa.Receipt == nil {
				t.Fatalf("a.txt.attest: %v", err)
			}
			before, _ := os.Stat(attestfile.PathFor(a))
			ea := *fa
			ea.Receipt, ea.Server = nil, ""
			eb, ec := journalEntry(t, b), journalEntry(t, c)
			data, err := encodeJournal([]*attestfile.File{&ea, eb})
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(recs, journalPrefix+"0123456789abcdef"+pendingExt), string(data))
			writeFile(t, filepath.Join(recs, journalPrefix+"feedfacefeedface"+pendingExt), string(data[:len(data)/2]))
			writeFile(t, attestfile.PathFor(b), "")
			if err := attestfile.Write(c+pendingExt, ec, 0); err != nil {
				t.Fatal(err)
			}

			args := []string{"stamp", "--json", "-r", recs}
			if !recursive {
				args = []string{"stamp", "--json", a, b, c}
			}
			out, code := s.run(t, args...)
			if code != 0 || !strings.Contains(out, `"already_stamped":1`) || !strings.Contains(out, `"stamped":2`) {
				t.Fatalf("%v: exit %d\n%s", args, code, out)
			}
			if !strings.Contains(out, "feedfacefeedface"+pendingExt) || !strings.Contains(out, "journal ignored") {
				t.Fatalf("no warning about the journal cut short:\n%s", out)
			}
			if after, _ := os.Stat(attestfile.PathFor(a)); !os.SameFile(before, after) {
				t.Fatal("a.txt.attest was rewritten")
			}
			for _, e := range []*attestfile.File{eb, ec} {
				p := filepath.Join(recs, e.Document)
				f, err := attestfile.Read(attestfile.PathFor(p))
				if err != nil || f.Receipt == nil || f.Fingerprint != e.Fingerprint || *f.Nonce() != e.Blinding.Nonce {
					t.Fatalf("%s: %v: not stamped with the journal's nonce and fingerprint", p, err)
				}
			}
			if n := countSuffix(t, recs, pendingExt); n != 0 {
				t.Fatalf("%d journals left", n)
			}
		})
	}
}

// TestParseJournal: a journal is strict JSON of a known version, bounded,
// each entry a valid .attest without receipt naming a file of its own
// directory.
func TestParseJournal(t *testing.T) {
	e := journalEntry(t, "stamp.go")
	good, err := encodeJournal([]*attestfile.File{e})
	if err != nil {
		t.Fatal(err)
	}
	files, err := parseJournal(good)
	if err != nil || len(files) != 1 || files[0].Fingerprint != e.Fingerprint || *files[0].Nonce() != e.Blinding.Nonce {
		t.Fatalf("parseJournal(%s) = %v, %v", good, files, err)
	}
	s := string(good)
	entry := func(f func(*attestfile.File)) string {
		x := *e
		f(&x)
		b, err := encodeJournal([]*attestfile.File{&x})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"cut short":        s[:len(s)/2],
		"duplicate key":    strings.Replace(s, `{"version":1,`, `{"version":1,"version":1,`, 1),
		"case variant":     strings.Replace(s, `{"version":1,`, `{"version":1,"Version":1,`, 1),
		"unknown field":    strings.Replace(s, `{"version":1,`, `{"version":1,"x":1,`, 1),
		"entry duplicate":  strings.Replace(s, `"fingerprint":`, `"document":"x","fingerprint":`, 1),
		"other version":    strings.Replace(s, `{"version":1,`, `{"version":2,`, 1),
		"path":             entry(func(f *attestfile.File) { f.Document = "../x" }),
		"no name":          entry(func(f *attestfile.File) { f.Document = "" }),
		"dot dot":          entry(func(f *attestfile.File) { f.Document = ".." }),
		"unknown canon":    entry(func(f *attestfile.File) { f.Canonicalization = "xml" }),
		"no fingerprint":   entry(func(f *attestfile.File) { f.Fingerprint = fingerprint.Fingerprint{} }),
		"too large":        s + strings.Repeat(" ", maxJournalSize),
		"entry not object": `{"version":1,"documents":[1]}`,
	} {
		if _, err := parseJournal([]byte(bad)); err == nil {
			t.Errorf("%s: parsed: %s", name, bad)
		} else if name == "other version" && !errors.Is(err, errJournalVersion) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
