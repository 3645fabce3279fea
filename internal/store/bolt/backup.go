package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/store"
)

// maxCutAttempts bounds Backup's tries at a consistent cut (see cut).
const maxCutAttempts = 100

// Backup writes a copy of the store into the new directory dir while the
// store keeps serving: dir/attestd.db, dir/attestd.db.log and the index's
// runs in dir/attestd.db.idx, all as of one instant. Opening the copy (Open with Config.Path set to
// dir/attestd.db) gives the store as it was then: every fingerprint
// acknowledged before Backup was called, every batch and anchor record
// committed before it. dir must not exist; the copy is written under
// dir + ".tmp", synced, and renamed to dir last, so dir is either
// complete or absent.
//
// The copy is two bbolt read transactions and the runs the main file's
// view lists (held open, so a compaction meanwhile deletes none of them),
// so writers are not held up,
// except that the files cannot grow their memory maps while the copy of
// their own file is being written (bbolt waits for read transactions to
// remap): the log is copied first, and it is small.
func (s *Store) Backup(ctx context.Context, dir string) error {
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("bolt: backup: %s already exists", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bolt: backup: %w", err)
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil { // left by an interrupted backup
		return fmt.Errorf("bolt: backup: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("bolt: backup: %w", err)
	}
	err := s.do(ctx, func() error {
		mtx, ltx, idx, err := s.cut()
		if err != nil {
			return err
		}
		defer idx.release(s)
		defer mtx.Rollback()
		err = copyTx(ctx, ltx, filepath.Join(tmp, filepath.Base(s.log.Path())))
		ltx.Rollback() // let the log remap while the main file is copied
		if err != nil {
			return err
		}
		if err := copyRuns(ctx, idx, filepath.Join(tmp, filepath.Base(s.runDir()))); err != nil {
			return err
		}
		return copyTx(ctx, mtx, filepath.Join(tmp, filepath.Base(s.db.Path())))
	})
	if err == nil {
		err = atomicfile.SyncDir(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(dir))
	}
	if err != nil {
		os.RemoveAll(tmp)
		if errors.Is(err, store.ErrClosed) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("bolt: backup: %w", err)
	}
	return nil
}

// cut opens a read transaction on each file such that the pair is a state
// the store can open: the log view holds every record the index view
// still needs, those above min(sealed, indexed). The index view is opened
// first (the order every two-file transaction keeps, see the package doc),
// so the index cannot be ahead of the log: a merge or seal committed in
// between is simply not in the copy, and the log may have more records,
// which the copy loads as unindexed on open. What can break the pair is
// the log dropping, in between, segments that only a later index commit
// made droppable; then cut tries again.
func (s *Store) cut() (mtx, ltx *bbolt.Tx, idx *runSet, err error) {
	for range maxCutAttempts {
		// Under manMu the runs the view of the main file lists are the
		// current set.
		s.manMu.Lock()
		mtx, err = s.db.Begin(false)
		if err == nil {
			idx = s.acquireRuns()
		}
		s.manMu.Unlock()
		if err != nil {
			return nil, nil, nil, err
		}
		if ltx, err = s.log.Begin(false); err != nil {
			idx.release(s)
			mtx.Rollback()
			return nil, nil, nil, err
		}
		ok, err := s.covers(mtx, ltx)
		if ok {
			return mtx, ltx, idx, nil
		}
		ltx.Rollback()
		mtx.Rollback()
		idx.release(s)
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return nil, nil, nil, fmt.Errorf("no consistent cut of the two files in %d attempts", maxCutAttempts)
}

// covers reports whether the log view ltx still holds every record the
// index view mtx needs: the records are consecutive from the first one
// not yet dropped to the last, so it is enough that the first needed one
// is there (or that none is needed).
func (s *Store) covers(mtx, ltx *bbolt.Tx) (bool, error) {
	meta := mtx.Bucket(bucketMeta)
	need := min(getU64(meta, keySealed), getU64(meta, keyIndexed)) + 1
	lg := s.logOf(ltx)
	if lg.last() < need {
		return true, nil
	}
	rec, err := lg.get(need)
	return rec != nil, err
}

// syncEvery is how much of a copy is written between syncs: one sync of a
// whole 2 GB file at the end made the disk busy for seconds at once, and
// reads that missed the page cache waited behind it.
const syncEvery = 64 << 20

// copyTx writes tx's view of its file to path and syncs it.
func copyTx(ctx context.Context, tx *bbolt.Tx, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = tx.WriteTo(&copyWriter{ctx: ctx, f: f})
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// copyRuns copies the runs of idx into the new directory dir, synced.
func copyRuns(ctx context.Context, idx *runSet, dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	for _, r := range idx.runs {
		if err := copyFile(ctx, r.f.Path(), filepath.Join(dir, filepath.Base(r.f.Path()))); err != nil {
			return err
		}
	}
	return atomicfile.SyncDir(dir)
}

// copyFile copies the file at from to the new file to and syncs it.
func copyFile(ctx context.Context, from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(&copyWriter{ctx: ctx, f: f}, src)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// copyWriter writes a copy: it stops once ctx is done, so a long copy ends
// on cancellation, and syncs every syncEvery bytes.
type copyWriter struct {
	ctx      context.Context
	f        *os.File
	unsynced int
}

func (c *copyWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.f.Write(p)
	if c.unsynced += n; err == nil && c.unsynced >= syncEvery {
		err, c.unsynced = c.f.Sync(), 0
	}
	return n, err
}
