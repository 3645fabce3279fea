package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/client"
	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
)

// stampChunk is how many fingerprints stamp submits per request (and
// journals, and makes durable, at once).
const stampChunk = client.DefaultChunkSize

// pendingExt ends the names of stamp's journals. Before a request is
// submitted, each directory holding some of its documents gets one journal,
// .attestd-stamp-<random hex>.attest.pending (stampjournal.go): JSON,
// {"version":1,"documents":[...]}, each entry the .attest its document will
// get without the receipt (base name, fingerprint, canonicalization,
// blinding nonce). The journals are synced before the submission and
// removed once every .attest of the request holds its receipt and is
// synced. A stamp that was interrupted (SIGINT, SIGKILL, the server gone)
// finds them on the next run: a listed document whose .attest holds a
// receipt for the listed fingerprint is done, any other is submitted again
// with the listed nonce, so the same fingerprint — submissions are
// idempotent, and the receipt comes back with its first received time — and
// a document is never stamped under two fingerprints. A run without failure
// then deletes the old journals whose documents are all done. Older
// versions journaled each document in DOC.attest.pending (one attestfile
// .attest without receipt); those are still read, and removed likewise.
const pendingExt = attestfile.Ext + ".pending"

func newStampCmd() *cobra.Command {
	var (
		server, apiKey, canon string
		apiKeyFile, mode      string
		noBlind, force        bool
		recursive, asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "stamp FILE... | stamp -r DIR...",
		Short: "Fingerprint files locally, submit the fingerprints, write FILE.attest",
		Long: `Fingerprint each file at its origin, blind the fingerprint with a fresh
32-byte nonce (so a short record cannot be guessed from its published
fingerprint), submit it, and write FILE.attest holding the nonce and the
signed receipt. The document never leaves this machine. Run
"attestd upgrade FILE" later to add the proof once the batch is anchored.

A .attest is written (atomically) only once its receipt is in hand: a
submission that fails (a wrong key, the server down, a file that cannot be
read) leaves no .attest for the files it did not acknowledge. A path given
twice is stamped once; a .attest given as a document is refused. An
existing .attest with a receipt is never replaced without --force (use
upgrade); one without a receipt (left by an older attestd) is replaced
when the server does not know its fingerprint. New files are readable by
their owner only (--mode 0600): the nonce would let a reader confirm a
guess about the record.

-r stamps every file under each DIR (hashing on all cores, 1,000
fingerprints per request), skipping .attest files and symbolic links (and
saying so) and the documents already stamped, and prints a summary
("stamped 12,430, already stamped 3, failed 0"; --json for a script).
It is resumable: interrupted at any moment and run again, it finishes the
rest and never submits a document under a second fingerprint nor writes
a .attest twice. Its journal: before each request, every directory with
documents in it gets one .attestd-stamp-<random>.attest.pending listing
their fingerprints and nonces (removed once their .attest files are
written); a later run resumes from it. (Older versions wrote
DOC.attest.pending a document; those are resumed from too.)

The API key is read from ATTESTD_API_KEY or --api-key-file; --api-key
works too but shows the key to every user of this machine (ps).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fingerprint.ParseCanonicalization(canon)
			if err != nil {
				return err
			}
			perm, err := parseMode(mode)
			if err != nil {
				return err
			}
			apiKey, err := apiKeyFrom(cmd, apiKey, apiKeyFile)
			if err != nil {
				return err
			}
			st := &stamper{out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), canon: c, blind: !noBlind, perm: perm,
				force: force, recursive: recursive}
			var docs []string
			if recursive {
				docs, err = st.walk(args)
			} else {
				docs, err = stampPaths(args)
			}
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if st.client, err = newClient(ctx, server, apiKey); err != nil {
				return err
			}
			if docs, err = st.classify(ctx, docs); err != nil {
				return err
			}
			if len(docs) > 0 {
				// The server's receipt keys, before anything is journaled
				// or sent: a server that publishes none is refused here.
				if _, err = st.client.ReceiptKeys(ctx); err != nil {
					return err
				}
			}
			runErr := st.stamp(ctx, docs)
			if recursive || asJSON {
				st.summary(asJSON)
			}
			if runErr != nil {
				return runErr
			}
			if st.failed > 0 {
				return &exitCode{code: exitInvalid, msg: fmt.Sprintf("%d file(s) could not be stamped", st.failed)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", envDefault("ATTESTD_SERVER", defaultServer), "attestd server URL (env ATTESTD_SERVER)")
	f.StringVar(&apiKey, "api-key", "", "API key; visible to other users in ps: prefer ATTESTD_API_KEY or --api-key-file")
	f.StringVar(&apiKeyFile, "api-key-file", os.Getenv("ATTESTD_API_KEY_FILE"), "file holding the API key (env ATTESTD_API_KEY_FILE)")
	f.StringVar(&mode, "mode", "0600", "permission bits of new .attest files, octal (they hold the blinding nonce)")
	f.StringVar(&canon, "canon", "none", "canonicalisation: none or jcs (RFC 8785 JSON)")
	f.BoolVar(&noBlind, "no-blind", false, "submit the plain SHA-256 (only for high-entropy documents)")
	f.BoolVar(&force, "force", false, "replace existing .attest files")
	f.BoolVarP(&recursive, "recursive", "r", false, "stamp every file under each DIR (resumable; a summary at the end)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

// stamper is one run of stamp.
type stamper struct {
	out, errOut io.Writer
	client      *client.Client
	canon       fingerprint.Canonicalization
	blind       bool
	perm        os.FileMode
	force       bool
	recursive   bool

	// Counts for the summary.
	stamped, already, failed, symlinks, attests int

	// found holds the .attest files and journals walk saw (with -r): any
	// other is known not to exist, and is not looked for file by file.
	found map[string]bool
	// walked: the directory journals are those walk listed in
	// journalPaths (without -r they are looked for in each directory).
	walked       bool
	journalPaths []string
	// journaled holds, by document path, the entries of the directory
	// journals of earlier runs; oldJournals those journals, deleted at the
	// end of a run without failure once their documents are settled (done
	// by this run) or otherwise done.
	journaled   map[string][]*attestfile.File
	oldJournals []oldJournal
	settled     map[string]bool
}

// resumeFrom is the journal entry an interrupted stamp of p left that
// this run can resume (same canonicalization and blinding), or nil: a
// directory journal's, else an old DOC.attest.pending's.
func (st *stamper) resumeFrom(p string) *attestfile.File {
	cands := st.journaled[filepath.Clean(p)]
	if pf, err := st.read(p + pendingExt); err == nil {
		cands = append(cands, pf)
	}
	for _, pf := range cands {
		if pf.Canonicalization == st.canon && (pf.Blinding != nil) == st.blind {
			return pf
		}
	}
	return nil
}

// mayExist reports whether the .attest or journal at p may exist: without
// -r (no walk) it may; with -r only if walk saw it.
func (st *stamper) mayExist(p string) bool {
	return st.found == nil || st.found[p]
}

// read reads the .attest or journal at p, or says it does not exist
// without asking the file system when walk did not see it.
func (st *stamper) read(p string) (*attestfile.File, error) {
	if !st.mayExist(p) {
		return nil, os.ErrNotExist
	}
	return attestfile.Read(p)
}

// walk lists the regular files under each root, leaving out .attest files
// and stamp's journals, and symbolic links (counted, said once).
func (st *stamper) walk(roots []string) ([]string, error) {
	var docs []string
	st.found = map[string]bool{}
	st.walked = true
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			switch {
			case err != nil:
				fmt.Fprintf(st.errOut, "attestd: %v: skipped\n", err)
				st.failed++
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			case d.Type()&os.ModeSymlink != 0:
				st.symlinks++
			case d.IsDir():
			case strings.HasSuffix(p, attestfile.Ext) || strings.HasSuffix(p, pendingExt):
				st.found[p] = true
				st.attests++
				if isJournalName(d.Name()) && d.Type().IsRegular() {
					st.journalPaths = append(st.journalPaths, p)
				}
			case isTempOfAttest(d.Name()):
				st.attests++
			case d.Type().IsRegular():
				docs = append(docs, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if st.symlinks > 0 {
		fmt.Fprintf(st.errOut, "attestd: skipped %d symbolic link(s): stamp what they point to where it is\n", st.symlinks)
	}
	return docs, nil
}

// isTempOfAttest reports whether name is a temporary file of a .attest or
// a journal being written (atomicfile: "<name>.tmp<random>"), which a
// killed run leaves behind: not a document.
func isTempOfAttest(name string) bool {
	i := strings.LastIndex(name, ".tmp")
	return i > 0 && (strings.HasSuffix(name[:i], attestfile.Ext) || strings.HasSuffix(name[:i], pendingExt))
}

// classify leaves out the documents already stamped and keeps the rest:
// no .attest; a .attest without a receipt whose fingerprint the server
// does not know (an older attestd wrote it before submitting); or, with
// --force, any. Without -r an existing .attest with a receipt is an error
// (it may hold the only copy of a nonce); with -r it is counted as stamped.
func (st *stamper) classify(ctx context.Context, docs []string) ([]string, error) {
	st.loadJournals(docs)
	st.settled = map[string]bool{}
	var out []string
	for _, p := range docs {
		f, err := st.read(attestfile.PathFor(p))
		pfs := st.journaled[filepath.Clean(p)]
		pf, perr := st.read(p + pendingExt)
		if perr == nil {
			pfs = append(pfs, pf)
		}
		if len(pfs) > 0 {
			// An interrupted stamp: its fingerprint may be acknowledged.
			// Done if the .attest holds its receipt; else submitted again
			// (whatever the .attest, which a crash may have left empty).
			done := false
			for _, pf := range pfs {
				done = done || err == nil && f.Receipt != nil && f.Fingerprint == pf.Fingerprint
			}
			if done {
				if perr == nil {
					os.Remove(p + pendingExt)
				}
				st.settled[filepath.Clean(p)] = true
				st.already++
			} else {
				out = append(out, p)
			}
			continue
		}
		switch {
		case errors.Is(err, os.ErrNotExist) || st.force:
			out = append(out, p)
			continue
		case err != nil:
			if !st.recursive {
				return nil, err
			}
			fmt.Fprintf(st.errOut, "attestd: %v: not stamped\n", err)
			st.failed++
			continue
		case f.Receipt != nil && st.recursive:
			st.settled[filepath.Clean(p)] = true
			st.already++
			continue
		case f.Receipt != nil:
			return nil, fmt.Errorf("%s exists with a receipt (it may hold the only copy of a nonce): use upgrade, or --force to replace it", attestfile.PathFor(p))
		}
		_, err = st.client.Status(ctx, f.Fingerprint)
		switch {
		case errors.Is(err, client.ErrUnknownFingerprint):
			fmt.Fprintf(st.errOut, "attestd: %s holds no receipt and the server does not know its fingerprint: stamping %s again\n", attestfile.PathFor(p), p)
			out = append(out, p)
		case err == nil:
			return nil, fmt.Errorf("%s holds no receipt, but the server knows its fingerprint: keep it, and run upgrade %s for its proof", attestfile.PathFor(p), p)
		default:
			return nil, fmt.Errorf("%s: asking the server whether it knows it: %w", p, err)
		}
	}
	return out, nil
}

// stamp fingerprints docs (resuming each interrupted one with the
// fingerprint its journal holds) and submits them in requests of
// stampChunk, writing each .attest once its receipt is in hand.
func (st *stamper) stamp(ctx context.Context, docs []string) error {
	// A journal from an interrupted run fixes the nonce: the same
	// document gives the same fingerprint, which the server may have.
	nonces := map[string]*fingerprint.Nonce{}
	for _, p := range docs {
		if pf := st.resumeFrom(p); pf != nil {
			nonces[p] = pf.Nonce()
		}
	}
	var files []*attestfile.File
	var paths []string
	for _, h := range hashAllWith(docs, st.canon, st.blind, nonces, st.errOut) {
		if h.err != nil {
			fmt.Fprintf(st.errOut, "attestd: %v: not stamped\n", h.err)
			st.failed++
			continue
		}
		f := &attestfile.File{
			Version: attestfile.Version, Document: filepath.Base(h.path), Fingerprint: h.fp,
			Canonicalization: h.canon,
		}
		if h.nonce != nil {
			f.Blinding = &attestfile.Blinding{Scheme: fingerprint.BlindDomain, Nonce: *h.nonce}
		}
		files, paths = append(files, f), append(paths, h.path)
	}
	for start := 0; start < len(files); start += stampChunk {
		end := min(start+stampChunk, len(files))
		if err := st.submit(ctx, files[start:end], paths[start:end]); err != nil {
			st.failed += len(files) - start
			return fmt.Errorf("%w\nnot stamped: %d (no .attest written for them; run stamp again to finish)", err, len(files)-start)
		}
	}
	if st.failed == 0 {
		st.dropOldJournals()
	}
	return nil
}

// submit stamps one request's documents: journal, submit (the client
// checks every receipt), then write each .attest and drop its journal.
func (st *stamper) submit(ctx context.Context, chunk []*attestfile.File, paths []string) error {
	// The journals (one a directory) are durable before anything is
	// submitted; one flush for the request, not one a file
	// (docs/benchmarks.md).
	if st.settled == nil {
		st.settled = map[string]bool{}
	}
	var batch atomicfile.Batch
	journals, err := writeJournals(&batch, chunk, paths, st.perm)
	if err != nil {
		return err
	}
	if err := batch.Sync(); err != nil {
		return err
	}
	if err := st.client.Stamp(ctx, chunk...); err != nil {
		return err
	}
	// Every receipt of the request checks out: only now is any .attest
	// written, each atomically; once they are durable the journals go.
	for i, f := range chunk {
		if err := attestfile.WriteBatch(&batch, attestfile.PathFor(paths[i]), f, st.perm); err != nil {
			return err
		}
	}
	if err := batch.Sync(); err != nil {
		return err
	}
	for _, j := range journals {
		if err := os.Remove(j); err != nil {
			return err
		}
	}
	for i, f := range chunk {
		if st.mayExist(paths[i] + pendingExt) { // an older version's journal
			if err := os.Remove(paths[i] + pendingExt); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		st.settled[filepath.Clean(paths[i])] = true
		st.stamped++
		if !st.recursive {
			fmt.Fprintf(st.out, "%s  %s (anchored by %s at the latest)\n", f.Fingerprint, attestfile.PathFor(paths[i]), f.Receipt.Deadline.Local().Format("2006-01-02 15:04:05 MST"))
		}
	}
	return nil
}

// summary prints what the run did.
func (st *stamper) summary(asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(map[string]int{
			"stamped": st.stamped, "already_stamped": st.already, "failed": st.failed,
			"skipped_symlinks": st.symlinks, "skipped_attest_files": st.attests,
		})
		fmt.Fprintln(st.out, string(b))
		return
	}
	fmt.Fprintf(st.out, "stamped %s, already stamped %s, failed %s\n", thousands(st.stamped), thousands(st.already), thousands(st.failed))
}

// thousands renders n with commas: 12,430.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// stampPaths checks stamp's arguments: a directory needs -r, a .attest is
// refused with a hint, and a document given twice (however spelt) is
// stamped once.
func stampPaths(args []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range args {
		if strings.HasSuffix(p, attestfile.Ext) || strings.HasSuffix(p, pendingExt) {
			doc := strings.TrimSuffix(strings.TrimSuffix(p, ".pending"), attestfile.Ext)
			return nil, &exitCode{code: exitError, msg: fmt.Sprintf("%s is a proof file, not a document: stamp %s instead (or upgrade %s to add its proof)", p, doc, doc)}
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return nil, &exitCode{code: exitError, msg: fmt.Sprintf("%s is a directory: stamp -r %s stamps every file under it", p, p)}
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, p)
		}
	}
	return out, nil
}
