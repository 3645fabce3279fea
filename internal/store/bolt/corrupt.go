package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime/debug"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/attestd/attestd/internal/atomicfile"
)

// ErrCorrupt is returned by Open when one of the store's files is
// damaged: truncated, with unreadable meta pages, or with pages that fail
// bbolt's consistency check. The message names the file. Nothing is
// repaired or overwritten: restore the data dir from a backup.
var ErrCorrupt = errors.New("store file is corrupt")

// UncleanSuffix names the unclean-shutdown marker, Config.Path +
// UncleanSuffix: created (and synced) by Open once it holds both files'
// locks, removed by a clean Close. Open finding it checks both files in
// full (see checkFile) before using them.
const UncleanSuffix = ".unclean"

func corrupt(path string, cause any) error {
	return fmt.Errorf("bolt: %w: %s (%v); restore the data dir from a backup (--backup-dir) and do not start attestd on this copy again", ErrCorrupt, path, cause)
}

// openGuarded opens path like openFile, after checking it: that the file
// holds every page its meta page names (preflight: bbolt would otherwise
// fault on the first read of a missing page), and with full, or walk,
// every page reachable from the meta in a read-only open first (see
// checkFile): bbolt's open in write mode loads the free list, and for a
// file without a synced free list (the log) it walks the whole file in a
// goroutine of its own, where a damaged page kills the process.
// Damage bbolt notices itself (both meta pages invalid) is ErrCorrupt
// too, and so is a panic or a fault while opening (see guard).
func openGuarded(cfg Config, path string, f fileOpts, full bool) (*bbolt.DB, error) {
	if err := preflight(path); err != nil {
		return nil, err
	}
	if f.walk || full {
		if err := guard(path, func() error { return checkReadOnly(cfg, path, full) }); err != nil {
			return nil, err
		}
	}
	var db *bbolt.DB
	err := guard(path, func() error {
		var err error
		db, err = openFile(cfg, path, f)
		if isInvalid(err) {
			return corrupt(path, err)
		}
		return err
	})
	if err != nil && db != nil {
		db.Close()
		db = nil
	}
	return db, err
}

func isInvalid(err error) bool {
	return errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch)
}

// checkReadOnly opens path read only (a shared lock: it waits for a
// writer like Open does) and runs checkFile.
func checkReadOnly(cfg Config, path string, full bool) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	timeout := cfg.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: timeout})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("bolt: open %s: %w: another process holds its lock (waited %s)", path, ErrInUse, timeout)
	case isInvalid(err):
		return corrupt(path, err)
	case err != nil:
		return fmt.Errorf("bolt: open %s: %w", path, err)
	}
	defer db.Close()
	if err := checkFile(db, full); err != nil {
		return corrupt(path, err)
	}
	return nil
}

// preflight reads path's meta pages as bbolt lays them out (a 16-byte
// page header, then magic, version, page size, flags, root page and
// sequence, free list page, high-water page, txid, checksum; native
// byte order; FNV-64a over the fields before the checksum) and checks that
// the file is long enough for the newest valid one and that its root and
// free list pages lie below its high-water mark. A missing or empty file,
// or one without a valid meta page, is left to bbolt.
func preflight(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	m0, ok0 := readMeta(f, 0)
	pageSize := int64(4096)
	if ok0 {
		pageSize = int64(m0.pageSize)
	}
	m1, ok1 := readMeta(f, pageSize)
	m := m0
	switch {
	case ok1 && (!ok0 || m1.txid > m0.txid):
		m = m1
	case !ok0:
		return nil
	}
	need := int64(m.pgid) * int64(m.pageSize)
	switch {
	case fi.Size() < need:
		return corrupt(path, fmt.Sprintf("it is truncated: %d bytes, its pages need %d", fi.Size(), need))
	case m.root >= m.pgid, m.freelist != pgidNoFreelist && m.freelist >= m.pgid:
		return corrupt(path, fmt.Sprintf("its meta page names pages beyond its end (root %d, free list %d, end %d)", m.root, m.freelist, m.pgid))
	}
	return nil
}

const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pgidNoFreelist = ^uint64(0)
)

type meta struct {
	pageSize             uint32
	root, freelist, pgid uint64
	txid                 uint64
}

// readMeta reads the meta page at off and reports whether it is valid.
func readMeta(f *os.File, off int64) (meta, bool) {
	buf := make([]byte, 16+64)
	if _, err := f.ReadAt(buf, off); err != nil {
		return meta{}, false
	}
	b := buf[16:]
	ne := binary.NativeEndian
	h := fnv.New64a()
	h.Write(b[:56])
	if ne.Uint32(b) != boltMagic || ne.Uint32(b[4:]) != boltVersion || h.Sum64() != ne.Uint64(b[56:]) {
		return meta{}, false
	}
	m := meta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]), pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	return m, m.pageSize >= 512
}

// guard runs fn, turning a panic — bbolt panics on some damaged pages — and
// a memory fault — reading a page beyond the file's end through the mmap;
// debug.SetPanicOnFault makes it a panic of this goroutine — into
// ErrCorrupt naming path. A panic inside bbolt.Open leaks its file
// descriptor (and lock) until the process exits, which it then does.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(path, fmt.Sprintf("reading it failed: %v", r))
		}
	}()
	return fn()
}

// checkFile walks every bucket, key and value of db with cursors in this
// goroutine (so that a damaged page panics or faults here, where guard
// recovers) and then, with full, runs bbolt's own check (tx.Check: page
// types, key order, reachable versus free pages), which runs in a
// goroutine of its own and reports panics as errors but could not survive
// a fault: the walk has read every page it can reach first.
func checkFile(db *bbolt.DB, full bool) error {
	return db.View(func(tx *bbolt.Tx) error {
		if err := walk(tx.Cursor(), func(name []byte) *bbolt.Bucket { return tx.Bucket(name) }); err != nil {
			return err
		}
		if !full {
			return nil
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// walk reads every key and value under c, descending into the nested
// buckets (bucket(k) for a nil value).
func walk(c *bbolt.Cursor, bucket func([]byte) *bbolt.Bucket) error {
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			if len(v) > 0 {
				_ = v[0] + v[len(v)-1] // touch the value's first and last page
			}
			continue
		}
		b := bucket(k)
		if b == nil {
			return fmt.Errorf("key %x: neither a value nor a bucket", k)
		}
		if err := walk(b.Cursor(), b.Bucket); err != nil {
			return err
		}
	}
	return nil
}

// markUnclean creates the unclean-shutdown marker and syncs it and its
// directory, so that a crash from now on is noticed by the next Open. It
// reports whether the marker was there already.
func markUnclean(path string) (was bool, err error) {
	marker := path + UncleanSuffix
	if _, err := os.Stat(marker); err == nil {
		was = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return was, err
	}
	err = errors.Join(f.Sync(), f.Close())
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(marker))
	}
	return was, err
}

// markClean removes the marker after a clean Close.
func markClean(path string) error {
	err := os.Remove(path + UncleanSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
