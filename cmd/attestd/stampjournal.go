package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/strictjson"
)

// journalPrefix begins the name of a directory's stamp journal:
// .attestd-stamp-<random hex>.attest.pending (see pendingExt).
const journalPrefix = ".attestd-stamp-"

// journalVersion is the format of a directory's stamp journal.
const journalVersion = 1

// maxJournalSize bounds a journal: stampChunk entries of a few hundred
// bytes each, with room to spare.
const maxJournalSize = stampChunk * 4 << 10

// errJournalVersion is a journal of another format (a newer attestd's):
// ignored, and never deleted.
var errJournalVersion = errors.New("unsupported journal version")

// journal is a directory's stamp journal as stored: the .attest each
// listed document will get, without its receipt (document is its base
// name in the journal's directory).
type journal struct {
	Version   int              `json:"version"`
	Documents []jsontext.Value `json:"documents"`
}

// isJournalName reports whether name is a directory's stamp journal.
func isJournalName(name string) bool {
	return strings.HasPrefix(name, journalPrefix) && strings.HasSuffix(name, pendingExt)
}

// newJournalPath is a fresh journal name in dir.
func newJournalPath(dir string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, journalPrefix+hex.EncodeToString(b[:])+pendingExt), nil
}

// encodeJournal is the journal of files (all in one directory).
func encodeJournal(files []*attestfile.File) ([]byte, error) {
	j := journal{Version: journalVersion}
	for _, f := range files {
		e := *f
		e.Receipt, e.Proof = nil, nil
		b, err := json.Marshal(&e) // as attestfile writes a .attest
		if err != nil {
			return nil, err
		}
		j.Documents = append(j.Documents, b)
	}
	b, err := jsonv2.Marshal(&j)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseJournal decodes a journal strictly; each entry is checked as
// attestfile checks a .attest, and must name a document in the
// journal's own directory and hold no receipt or proof.
func parseJournal(data []byte) ([]*attestfile.File, error) {
	if len(data) > maxJournalSize {
		return nil, fmt.Errorf("%d bytes, limit %d", len(data), maxJournalSize)
	}
	var j journal
	if err := strictjson.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	if j.Version != journalVersion {
		return nil, fmt.Errorf("%w %d", errJournalVersion, j.Version)
	}
	var out []*attestfile.File
	for i, raw := range j.Documents {
		f, err := attestfile.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		switch d := f.Document; {
		case d == "" || d == "." || d == ".." || strings.Contains(d, "/") || d != filepath.Base(d):
			return nil, fmt.Errorf("document %d: not a base name: %q", i, d)
		case f.Receipt != nil || f.Proof != nil:
			return nil, fmt.Errorf("document %d: holds a receipt or proof", i)
		}
		out = append(out, f)
	}
	return out, nil
}

// writeJournals writes in b one new journal for each directory of paths,
// listing that directory's files, and returns their paths.
func writeJournals(b *atomicfile.Batch, files []*attestfile.File, paths []string, perm os.FileMode) ([]string, error) {
	byDir := map[string][]*attestfile.File{}
	var dirs []string
	for i, f := range files {
		d := filepath.Dir(paths[i])
		if byDir[d] == nil {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], f)
	}
	var out []string
	for _, d := range dirs {
		p, err := newJournalPath(d)
		if err != nil {
			return out, err
		}
		data, err := encodeJournal(byDir[d])
		if err != nil {
			return out, err
		}
		if err := b.Write(p, data, perm); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// loadJournals reads the directory journals of an earlier run: those walk
// saw (-r), or else those in each directory of docs. A journal that does
// not parse is ignored with a warning: a crash cut it short before its
// sync, so nothing in it was submitted.
func (st *stamper) loadJournals(docs []string) {
	paths := st.journalPaths
	if !st.walked {
		seen := map[string]bool{}
		for _, p := range docs {
			d := filepath.Dir(p)
			if seen[d] {
				continue
			}
			seen[d] = true
			ents, err := os.ReadDir(d)
			if err != nil {
				continue // the document's own open says why
			}
			for _, e := range ents {
				if isJournalName(e.Name()) && e.Type().IsRegular() {
					paths = append(paths, filepath.Join(d, e.Name()))
				}
			}
		}
	}
	st.journaled = map[string][]*attestfile.File{}
	for _, p := range paths {
		files, err := readJournal(p)
		if err != nil {
			fmt.Fprintf(st.errOut, "attestd: %s: %v: journal ignored\n", p, err)
			if !errors.Is(err, errJournalVersion) && !errors.Is(err, os.ErrNotExist) {
				st.oldJournals = append(st.oldJournals, oldJournal{path: p}) // cut short: nothing of it was submitted
			}
			continue
		}
		d := filepath.Dir(p)
		for _, f := range files {
			doc := filepath.Join(d, f.Document)
			st.journaled[doc] = append(st.journaled[doc], f)
		}
		st.oldJournals = append(st.oldJournals, oldJournal{path: p, files: files})
	}
}

// readJournal reads and parses the journal at p.
func readJournal(p string) ([]*attestfile.File, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxJournalSize+1))
	if err != nil {
		return nil, err
	}
	return parseJournal(data)
}

// oldJournal is a journal of an earlier run.
type oldJournal struct {
	path  string
	files []*attestfile.File
}

// dropOldJournals deletes, after a run without failure, each journal of
// an earlier run all of whose documents are done: settled by this run,
// or holding a receipt for the journal's fingerprint, or gone.
func (st *stamper) dropOldJournals() {
	for _, j := range st.oldJournals {
		done := true
		d := filepath.Dir(j.path)
		for _, f := range j.files {
			doc := filepath.Join(d, f.Document)
			if st.settled[doc] {
				continue
			}
			if a, err := attestfile.Read(attestfile.PathFor(doc)); err == nil && a.Receipt != nil && a.Fingerprint == f.Fingerprint {
				continue
			}
			if _, err := os.Lstat(doc); errors.Is(err, os.ErrNotExist) {
				continue
			}
			done = false
			break
		}
		if done {
			if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(st.errOut, "attestd: %v\n", err)
			}
		}
	}
	st.oldJournals = nil
}
