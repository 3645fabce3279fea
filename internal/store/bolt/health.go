package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/store"
)

// The store's two files, as health indexes.
const (
	fileIndex = iota // Config.Path
	fileLog          // Config.Path + LogSuffix
	numFiles
)

// probeEvery bounds how often Health probes a failing file with a write.
const probeEvery = time.Second

// health is the outcome of the store's last writes, per file. A failed
// commit marks its file failing until a later commit of that file (a
// Submit, a seal, a merge, an anchor write or Health's probe) succeeds.
//
// A commit whose meta page was written but which still failed (the fsync
// after it) is worse: bbolt has rolled its free pages back, but the new
// state is what this process now reads, and nobody knows whether the disk
// has it. Going on would build acknowledged commits on pages that may
// never reach the disk (Linux drops dirty pages whose writeback failed, and
// a later fsync succeeds). The store then refuses every write until it is
// reopened (fatal); Close leaves the unclean-shutdown marker in place, so
// the next Open checks both files.
type health struct {
	mu     sync.Mutex
	failed [numFiles]error
	since  [numFiles]time.Time
	probed [numFiles]time.Time
	fatal  error
}

// commitTx commits tx; tests replace it to fail commits.
var commitTx = (*bbolt.Tx).Commit

func (s *Store) file(f int) *bbolt.DB {
	if f == fileLog {
		return s.log
	}
	return s.db
}

// write runs fn in a read-write transaction of file f and commits it, like
// bbolt's Update. fn's own errors come back as they are; a failed commit
// (nothing of it is durable, and nothing of it may be acknowledged) comes
// back wrapping store.ErrUnavailable and marks f failing.
func (s *Store) write(f int, fn func(*bbolt.Tx) error) error {
	if err := s.health.refusal(); err != nil {
		return err
	}
	db := s.file(f)
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after a commit: ErrTxClosed, ignored
	if err := fn(tx); err != nil {
		return err
	}
	id := tx.ID()
	if err := commitTx(tx); err != nil {
		err = fmt.Errorf("bolt: committing to %s failed, nothing was acknowledged: %w", db.Path(), err)
		if s.health.fail(f, err, visible(db, id)) {
			s.logger.Error("bolt: a write failed; the store reports unavailable until writes succeed again", "file", db.Path(), "err", err)
		} else {
			s.logger.Debug("bolt: a write failed again", "file", db.Path(), "err", err)
		}
		return store.Unavailable(err)
	}
	if s.health.ok(f) {
		s.logger.Info("bolt: writes succeed again", "file", db.Path())
	}
	return nil
}

// visible reports whether the transaction id is what readers of db now
// see: its meta page was written.
func visible(db *bbolt.DB, id int) bool {
	v, err := db.Begin(false)
	if err != nil {
		return true // cannot tell: assume the worst
	}
	defer func() { _ = v.Rollback() }()
	return v.ID() >= id
}

func (h *health) refusal() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fatal
}

// fail records err for file f and reports whether f was healthy before
// (or the store became fatal now).
func (h *health) fail(f int, err error, fatal bool) (changed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed[f] == nil {
		h.since[f] = time.Now()
		changed = true
	}
	h.failed[f] = err
	if fatal && h.fatal == nil {
		h.fatal = store.Unavailable(fmt.Errorf("%w; the store may not have the state this process sees and refuses writes: restart attestd once the disk is sound (the next start checks both files)", err))
		changed = true
	}
	return changed
}

// ok records a successful commit of file f and reports whether f was
// failing before.
func (h *health) ok(f int) (changed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed = h.failed[f] != nil
	h.failed[f] = nil
	return changed
}

// Health implements store.HealthChecker: nil while the last commit of
// each file succeeded; otherwise each failing file is probed with a small
// write (at most every probeEvery), and the files still failing are named.
func (s *Store) Health(ctx context.Context) error {
	var errs []error
	for f := range numFiles {
		s.health.mu.Lock()
		failed, since, due := s.health.failed[f], s.health.since[f], time.Since(s.health.probed[f]) >= probeEvery
		if failed != nil && due && s.health.fatal == nil {
			s.health.probed[f] = time.Now()
		}
		fatal := s.health.fatal
		s.health.mu.Unlock()
		switch {
		case fatal != nil:
			return fatal
		case failed == nil:
			continue
		case due:
			if err := s.probe(ctx, f); err == nil {
				continue
			} else if !errors.Is(err, store.ErrUnavailable) {
				errs = append(errs, err)
				continue
			}
			s.health.mu.Lock()
			failed = s.health.failed[f]
			s.health.mu.Unlock()
			if failed == nil {
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%w since %s: %w", store.ErrUnavailable, since.UTC().Format(time.RFC3339), failed))
	}
	return errors.Join(errs...)
}

// probeSpace is how much the probe writes beside the store's files: a
// commit into bbolt's free pages may succeed on a full file system, where
// the next larger commit fails, so the probe also asks for fresh space.
const probeSpace = 1 << 20

// probe checks that file f's file system takes probeSpace bytes (written,
// synced and removed again) and that f takes a commit that changes
// nothing: a bucket's sequence rewritten with its value, which dirties a
// page and the meta.
func (s *Store) probe(ctx context.Context, f int) error {
	return s.do(ctx, func() error {
		if err := probeFS(s.file(f).Path() + ".probe"); err != nil {
			err = store.Unavailable(fmt.Errorf("bolt: probing the file system: %w", err))
			s.health.fail(f, err, false)
			return err
		}
		return s.write(f, func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketMeta)
			if f == fileLog {
				b = tx.Bucket(bucketLog)
			}
			if b == nil {
				return errors.New("bolt: probe: missing bucket")
			}
			return b.SetSequence(b.Sequence())
		})
	})
}

// probeFS writes probeSpace bytes to path, syncs and removes it.
func probeFS(path string) error {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	_, err = fh.Write(make([]byte, probeSpace))
	if err == nil {
		err = fh.Sync()
	}
	return errors.Join(err, fh.Close())
}
