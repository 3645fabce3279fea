package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/attestd/attestd/internal/fingerprint"
)

// hashed is one document's fingerprint.
type hashed struct {
	path  string
	fp    fingerprint.Fingerprint
	nonce *fingerprint.Nonce
	canon fingerprint.Canonicalization
	err   error
}

// hashAll fingerprints paths in parallel (one worker per core), blinding
// each with a fresh nonce when blind is set. Results keep the order of
// paths. On a terminal it shows progress on stderr when the work is large.
func hashAll(paths []string, canon fingerprint.Canonicalization, blind bool, stderr io.Writer) []hashed {
	return hashAllWith(paths, canon, blind, nil, stderr)
}

// hashAllWith is hashAll, blinding a path found in nonces with that nonce
// instead of a fresh one (stamp resuming an interrupted run).
func hashAllWith(paths []string, canon fingerprint.Canonicalization, blind bool, nonces map[string]*fingerprint.Nonce, stderr io.Writer) []hashed {
	out := make([]hashed, len(paths))
	var total int64
	if isTerminal(stderr) { // the total is for the progress line alone
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil {
				total += fi.Size()
			}
		}
	}
	prog := newProgress(stderr, total, len(paths))
	defer prog.finish()

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(paths)) {
		wg.Go(func() {
			for i := range jobs {
				h := hashed{path: paths[i], canon: canon}
				if n := nonces[paths[i]]; blind && n != nil {
					h.nonce = n
				} else if blind {
					n, err := fingerprint.NewNonce()
					if err != nil {
						h.err = err
						out[i] = h
						continue
					}
					h.nonce = &n
				}
				var last int64
				h.fp, _, h.err = fingerprint.HashDocument(paths[i], canon, h.nonce, func(done int64) {
					prog.add(done - last)
					last = done
				})
				prog.fileDone()
				out[i] = h
			}
		})
	}
	for i := range paths {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out
}

// progress prints "hashing: X / Y" on a terminal, at most every 200 ms,
// when there is more than 256 MiB or more than 16 files to hash.
type progress struct {
	w           io.Writer
	total       int64
	files       int
	done, nDone atomic.Int64
	stop        chan struct{}
	wg          sync.WaitGroup
}

func newProgress(w io.Writer, total int64, files int) *progress {
	p := &progress{w: w, total: total, files: files}
	if !isTerminal(w) || (total < 256<<20 && files <= 16) {
		return p
	}
	p.stop = make(chan struct{})
	p.wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.print()
				fmt.Fprintln(p.w)
				return
			case <-t.C:
				p.print()
			}
		}
	})
	return p
}

// isTerminal reports whether w is a terminal (a variable for tests).
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) add(n int64) { p.done.Add(n) }
func (p *progress) fileDone()   { p.nDone.Add(1) }

func (p *progress) print() {
	d := p.done.Load()
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(d) / float64(p.total)
	}
	fmt.Fprintf(p.w, "\r\033[Khashing: %s / %s (%.0f%%), %d/%d files", human(d), human(p.total), pct, p.nDone.Load(), p.files)
}

func (p *progress) finish() {
	if p.stop != nil {
		close(p.stop)
		p.wg.Wait()
	}
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
