// Package bolt is attestd's embedded store: two bbolt files and a
// directory of index runs under the data dir, implementing store.Store in
// a small log-structured design.
//
//   - The ingest log (attestd.db.log) takes every new fingerprint: Submit
//     hands its entries to one committer goroutine, which appends everything
//     queued under consecutive sequence numbers in one read-write
//     transaction and one fsync (group commit), and starts the next commit
//     as soon as the previous one is durable. Appends are sequential, so a
//     commit dirties a few pages at the log's end, however large the store.
//   - The fingerprint index is an LSM of sorted runs (attestd.db.idx, see
//     runs.go and package runfile): a background merger writes the
//     unindexed fingerprints, sorted, as one new run per round, and a
//     compactor merges runs of about the same size, so a fingerprint is
//     written about 1 + log4(index/tierBase) times in all. (A B+tree in the
//     main file did this before format 6: every round rewrote most of its
//     leaf pages, 5.8 s for a million into nine million, against 0.5 s now;
//     docs/benchmarks.md, section 21.) Until merged, a fingerprint is found
//     through an in-memory map from fingerprint to sequence number, rebuilt
//     from the log on open. While the merger is behind by twice its
//     threshold, commits wait (a write stall), so the map stays bounded. A
//     new fingerprint, the common case, is known to be absent without a
//     look at the map or the runs: Bloom filters over both answer for most
//     (absentFilter), as an LSM's do.
//   - The main file (attestd.db) holds the list of the index's runs, the
//     sealed batches with their Merkle levels, and the anchor records.
//   - CommitBatch and PutAnchor are each one transaction on the main file
//     that checks its precondition (the pending prefix, the anchor's
//     previous state) and writes everything or nothing.
//   - Reads are View transactions on bbolt's mmap and look-ups in the
//     runs' maps: a proof read slices the stored Merkle levels in place and
//     copies out only its path's hashes.
//
// # Layout
//
// All integers are big-endian, so bbolt's byte order of keys is their numeric
// order. Times are Unix nanoseconds (0 for the zero time), except in anchor
// records (RFC 3339 with nanoseconds). Both files have the OS's page
// size; the main file writes its free list, the log does not: bbolt
// rebuilds it on open (see Open).
//
//	file  bucket   key                 value
//	main  meta     "version"           format version (8), currently 6
//	               "sealed"            last sequence number in a batch (8)
//	               "indexed"           every log record up to this sequence number is in the index (8)
//	               "runs"              the index's runs, in no order, each ID(8) | entries(8) | the
//	                                   CRC-32C of its index(4) (runRef)
//	               "lowconf/" chain(8) lowest batch ID that may not be confirmed on chain
//	index run      fingerprint(32)     fp entry: version(1)=2 | seq(8) | received(8) | institution
//	                                   (attestd.db.idx/<ID, 16 hex digits>.run, package runfile)
//	main  starts   seq(8)              batch ID(8): the first sequence number of each batch
//	main  batch    ID(8)               header: size(8) | root(32) | sealed(8); ID is the bucket's sequence (1, 2, 3 …)
//	main  levels   ID(8) level(1)      the level's node hashes, concatenated (32 bytes each); level 0 = leaves
//	main  anchor   ID(8) chain(8)      anchor record, JSON (fee as a decimal string; the chain
//	                                   evidence, once collected, as base64 of its JSON: an optional
//	                                   member, absent from records without it, so no format change)
//	main  stmt     fingerprint(32)     a record-status statement, by its own fingerprint:
//	                                   version(1)=1 | seq(8) | subject(32) | canonical text
//	main  stmtseq  seq(8)              statement fingerprint(32), in the order recorded; the bucket's
//	                                   sequence is the last statement seq handed out
//	main  about    subject(32)         the fingerprints (32 each) of the statements about it, in order
//	log   log      segment(8)          a bucket of 2^16 records in blocks: seq(8) -> the records of seq,
//	                                   seq+1, … (one request's, within the segment), each as
//	                                   uvarint(length) | fingerprint(32) | its fp entry; the log bucket's
//	                                   sequence is the last seq handed out (see ingestLog)
//	log   subs     fingerprint(32) institution
//	                                   record: version(1)=1 | received(8): the first submission of the
//	                                   fingerprint by an institution other than its entry's
//
// The statement buckets were added without a format change: a store
// without them gets them, empty, at Open.
//
// The store reads and writes only this format. attestd has had no release
// yet, so older formats were only ever written by development builds: a
// data dir in one is refused at Open (errDevFormat), not migrated.
//
// Each institution that submits a fingerprint has its own record (its first
// received time, which its receipts state): the entry's institution's is the
// entry, every other one's is in subs. The committer writes a new entry and
// the new subs records of a group commit in one transaction of the log, so
// they are durable together. Subs records are never deleted: they stay in the
// log file, and there are only as many as there are re-submissions of a
// fingerprint by another institution.
//
// An entry never changes after Submit: its batch and index are derived from
// its sequence number. Batches are prefixes of the pending queue, which is
// the log records above "sealed", so a batch holds consecutive sequence
// numbers: an entry with seq > sealed is pending, otherwise it is in the
// batch with the greatest start at or below seq, at index seq − start.
// Sealing a batch therefore writes O(levels) keys. A log record is deleted
// once it is both sealed and indexed; the log sequence never goes back, so
// the number pending is the log's sequence minus "sealed".
//
// Unconfirmed(chain) starts its scan at meta "lowconf/"chain: every batch
// below it has a confirmed anchor on that chain. PutAnchor advances it when
// the batch it names becomes confirmed (skipping the confirmed batches after
// it) and lowers it when an anchor below it leaves the confirmed state (a
// reorg). A scan therefore only walks the batches confirmed out of order
// above the mark, besides the ones it returns.
//
// # Failures
//
// A commit that fails (a full, read-only or failing file system) is not
// acknowledged and answers store.ErrUnavailable; Health reports the store
// unavailable until writes succeed again (see health). The file
// Path + UncleanSuffix exists while the store is open: found at Open, it
// means the last run did not close the store, and both files and every
// run are checked in full before use. Damaged files, and a listed run
// that is missing, make Open fail with ErrCorrupt; a run not listed (a
// merge round or compaction that did not commit) is deleted. A run's
// blocks are checked against their checksums at every read, so damage
// found later is an error, never a missing fingerprint.
//
// # Concurrency
//
// imu guards the maps of unindexed fingerprints. A merge round takes the
// map as it is (merging) and starts a new one for later commits; it drops
// merging only after the transaction that lists its run has committed and
// the run is in the current set, under imu held for writing. Every lookup
// holds imu for reading while it checks the maps and then takes the
// current set of runs (acquireRuns), so a fingerprint is always either in
// a map or in that set. A set keeps its runs open (mapped) until the last
// reader lets go; a run a compaction replaced is deleted then. The
// committer adds a fingerprint to the index filters when it puts it in
// the map, under imu held for writing, so the filters hold everything in
// the maps and the index. Transactions that use both files open
// the main file first, and no one holds a view of the log while it waits
// for the main file, so bbolt's remapping of one file cannot deadlock
// against the other.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// DefaultLockTimeout is how long Open waits for the file lock held by
// another process before it gives up with ErrInUse.
const DefaultLockTimeout = time.Second

// Defaults of Config.MergeAt and Config.MergeEvery. A million unindexed
// fingerprints take about 60 MB of memory and a second to reload on open.
const (
	DefaultMergeAt    = 1 << 20
	DefaultMergeEvery = time.Minute
)

// initialMmapSize is the address space mapped at open. Growing the map
// waits for every read transaction to end (and blocks new ones), so a
// large initial map keeps proof reads from stalling while the file grows.
// It is address space only: the file grows as needed.
const initialMmapSize = 4 << 30

// LogSuffix names the ingest log: Config.Path + LogSuffix.
const LogSuffix = ".log"

// ErrInUse is returned by Open when another process (or another Open in this
// one) holds the data file.
var ErrInUse = errors.New("data dir in use")

// Config configures Open.
type Config struct {
	// Path is the main bbolt file, created with mode 0600 if missing; the
	// ingest log is Path + LogSuffix. Its directory must exist.
	Path string
	// NoSync skips fsync on commit. For tests only: with it set, an
	// acknowledged fingerprint is not durable.
	NoSync bool
	// LockTimeout bounds the wait for the file lock; 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// MergeAt starts a merge into the index once this many fingerprints
	// are unindexed; 0 means DefaultMergeAt. Each merge writes one run of
	// the index; larger merges make fewer, larger runs and keep more in
	// memory.
	MergeAt int
	// MergeEvery starts a merge once the oldest unindexed fingerprint has
	// waited this long; 0 means DefaultMergeEvery.
	MergeEvery time.Duration
	// Log receives the background merger's errors; nil means slog.Default().
	Log *slog.Logger

	segmentShift uint   // tests: log segments of 2^segmentShift records; 0 = default
	filterMin    uint64 // tests: the smallest index filter; 0 = minFilterCapacity
}

const formatVersion = 6

var (
	bucketMeta    = []byte("meta")
	bucketStarts  = []byte("starts")
	bucketBatch   = []byte("batch")
	bucketLevels  = []byte("levels")
	bucketAnchor  = []byte("anchor")
	bucketLog     = []byte("log")
	bucketSubs    = []byte("subs") // in the log file
	bucketStmt    = []byte("stmt")
	bucketStmtSeq = []byte("stmtseq")
	bucketAbout   = []byte("about")

	keyVersion = []byte("version")
	keySealed  = []byte("sealed")
	keyIndexed = []byte("indexed")
	keyLowConf = "lowconf/"
)

// Store is the bbolt store. It is safe for concurrent use.
type Store struct {
	// mu is held for reading by every operation and for writing by Close,
	// so Close waits for operations in flight and later ones see closed.
	mu     sync.RWMutex
	closed bool
	db     *bbolt.DB // main file: index, batches, anchors
	log    *bbolt.DB // ingest log

	mergeAt    int
	mergeEvery time.Duration
	logger     *slog.Logger
	segShift   uint // see ingestLog

	health  health      // outcome of the last writes (see Health)
	anchors anchorCache // decoded anchor records (see loadBatch)
	path    string      // Config.Path

	// imu guards the logged fingerprints not yet in the index, by
	// sequence number (see the package doc on concurrency): those of the
	// merge round in progress (or failed) in merging, nil between rounds,
	// and the later ones in unindexed.
	imu       sync.RWMutex
	unindexed map[fingerprint.Fingerprint]uint64
	merging   map[fingerprint.Fingerprint]uint64
	mapTop    uint64    // the highest sequence number ever put in unindexed
	since     time.Time // when unindexed last became non-empty

	// Mirrors of meta "sealed" and "indexed", set after their commits.
	sealed, indexed atomic.Uint64

	// The committer's queue (see Submit).
	qmu   sync.Mutex
	queue []*submitReq
	wake  chan struct{} // capacity 1: something was queued
	stop  chan struct{} // closed by Close
	done  chan struct{} // closed when the committer has returned

	mergeWake chan struct{} // capacity 1
	mergeDone chan struct{} // closed when the merger has returned
	merged    chan struct{} // capacity 1: the merger indexed a chunk, or failed
	// mergeRounds counts the merger's decisions (merge or not) and stalls
	// the commits held back by waitMerger: tests wait on them instead of
	// on time.
	mergeRounds, stalls atomic.Uint64
	mergeErr            atomic.Pointer[error] // the last merge's failure; nil after a success
	stallAt             int                   // commits wait while this many are unindexed

	// The index's runs (see runs.go): rmu guards the pointer to the
	// current set, manMu serialises changes of the list.
	rmu, manMu  sync.Mutex
	cmu         sync.Mutex // held by a compaction
	runs        *runSet
	nextRun     atomic.Uint64 // the last run ID handed out
	checkRuns   bool          // Open reads every run in full (after an unclean shutdown)
	compactWake chan struct{} // capacity 1
	compactDone chan struct{} // closed when the compactor has returned
	compactions atomic.Uint64 // compactions tried: tests wait on them
	compacted   atomic.Uint64 // entries written by compactions

	filter     *absentFilter // what is certainly not in the store (see absentFilter)
	filterMin  uint64        // the smallest filter built
	filterDone chan struct{} // closed when the filterer has returned
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.HealthChecker = (*Store)(nil)
	_ store.Unindexer     = (*Store)(nil)
)

// Open opens (creating if needed) the store at cfg.Path. If another process
// holds the file, it fails after cfg.LockTimeout with an error wrapping
// ErrInUse.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("bolt: empty path")
	}
	// The index keeps its freelist on disk: without it, bbolt rebuilds it
	// at open by reading every page (20 s for a cold 1.9 GB index of 10M
	// fingerprints, against 8 ms with it), and the index commits only on
	// merges, seals and anchors. The log commits on every ingest group
	// commit, and sealed segments leave many free pages behind, so it
	// does not write its freelist; it stays small to scan.
	//
	// After a crash (the unclean-shutdown marker is there; see
	// markUnclean) both files are checked in full before they are opened
	// for writing; the log, small and scanned by bbolt at every open
	// anyway, is always walked first (see openGuarded).
	_, err := os.Stat(cfg.Path + UncleanSuffix)
	unclean := err == nil
	db, err := openGuarded(cfg, cfg.Path, mainFile, unclean)
	if err != nil {
		return nil, err
	}
	log, err := openGuarded(cfg, cfg.Path+LogSuffix, logFile, unclean)
	if err != nil {
		db.Close()
		return nil, err
	}
	// Both locks are held: this process owns the marker now.
	if _, err := markUnclean(cfg.Path); err != nil {
		db.Close()
		log.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", cfg.Path, err)
	}
	s := &Store{
		db: db, log: log, path: cfg.Path,
		mergeAt:    positiveOr(cfg.MergeAt, DefaultMergeAt),
		mergeEvery: positiveOr(cfg.MergeEvery, DefaultMergeEvery),
		logger:     cfg.Log,
		segShift:   positiveOr(cfg.segmentShift, defaultSegmentShift),
		unindexed:  map[fingerprint.Fingerprint]uint64{},
		wake:       make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		mergeWake: make(chan struct{}, 1), mergeDone: make(chan struct{}), merged: make(chan struct{}, 1),
		compactWake: make(chan struct{}, 1), compactDone: make(chan struct{}), checkRuns: unclean,
		filter: newAbsentFilter(), filterDone: make(chan struct{}), filterMin: positiveOr(cfg.filterMin, minFilterCapacity),
	}
	s.stallAt = 2 * s.mergeAt
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if err := guard(cfg.Path+" (or its log)", s.init); err != nil {
		if s.runs != nil {
			s.runs.release(s)
		}
		db.Close()
		log.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", cfg.Path, err)
	}
	go s.committer()
	go s.merger()
	go s.compactor()
	go s.filterer()
	s.compactWake <- struct{}{} // a compaction may have been cut short by the last Close
	return s, nil
}

// positiveOr returns v if it is above zero, else def.
func positiveOr[T int | uint | uint64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// fileOpts are how one of the two files is opened.
type fileOpts struct {
	syncFreelist bool // write the free list at each commit
	walk         bool // walk every page before opening it for writing (see openGuarded)
}

var (
	mainFile = fileOpts{syncFreelist: true}
	logFile  = fileOpts{walk: true}
)

func openFile(cfg Config, path string, f fileOpts) (*bbolt.DB, error) {
	timeout := cfg.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         timeout,
		NoSync:          cfg.NoSync,
		FreelistType:    bbolt.FreelistMapType,
		NoFreelistSync:  !f.syncFreelist,
		InitialMmapSize: initialMmapSize,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: %w: another process holds its lock (waited %s)", path, ErrInUse, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return db, nil
}

// errDevFormat: the data dir is in a format older than formatVersion,
// which only development builds wrote (see the package doc).
var errDevFormat = errors.New("written by a development build of attestd")

// init creates the buckets of a new store, refuses any format but the
// current one, and loads the unindexed fingerprints from the log.
func (s *Store) init() error {
	if err := s.checkLostIndex(); err != nil {
		return err
	}
	// A refusal returns from Update before anything is committed.
	err := s.db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(keyVersion); {
		case v == nil:
			if err := meta.Put(keyVersion, u64(formatVersion)); err != nil {
				return err
			}
		case len(v) != 8:
			return fmt.Errorf("bad store format version %x", v)
		case binary.BigEndian.Uint64(v) < formatVersion:
			return fmt.Errorf("the data dir is in store format %d, %w (no release wrote it); this build reads only format %d: start from an empty data dir",
				binary.BigEndian.Uint64(v), errDevFormat, formatVersion)
		case binary.BigEndian.Uint64(v) > formatVersion:
			return fmt.Errorf("unsupported store format version %d (want %d): written by a newer attestd", binary.BigEndian.Uint64(v), formatVersion)
		}
		for _, name := range [][]byte{bucketStarts, bucketBatch, bucketLevels, bucketAnchor, bucketStmt, bucketStmtSeq, bucketAbout} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var runs []runRef
	if err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if runs, err = decodeRuns(tx.Bucket(bucketMeta).Get(keyRuns)); err != nil {
			return corrupt(s.db.Path(), err)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := s.openRuns(runs, s.checkRuns); err != nil {
		return err
	}
	if err := s.log.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketLog); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketSubs)
		return err
	}); err != nil {
		return err
	}
	return s.log.View(func(ltx *bbolt.Tx) error {
		return s.db.View(func(tx *bbolt.Tx) error {
			meta, lg := tx.Bucket(bucketMeta), s.logOf(ltx)
			sealed, indexed := getU64(meta, keySealed), getU64(meta, keyIndexed)
			if last := lg.last(); last < sealed || last < indexed {
				return fmt.Errorf("the ingest log %s ends at sequence number %d, but %d are sealed and %d indexed: it is missing or from another store",
					s.log.Path(), last, sealed, indexed)
			}
			s.sealed.Store(sealed)
			s.indexed.Store(indexed)
			err := lg.scan(indexed+1, func(seq uint64, rec []byte) (bool, error) {
				s.unindexed[fingerprint.Fingerprint(rec[:32])] = seq
				s.mapTop = seq
				return true, nil
			})
			if err != nil {
				return err
			}
			if len(s.unindexed) > 0 {
				s.since = time.Now()
			}
			return nil
		})
	})
}

// checkLostIndex refuses a new (empty) index beside a log that has handed
// out sequence numbers: the index was lost (deleted, or truncated to
// nothing, which bbolt takes for a new file), and opening would forget
// every batch. It runs before init writes anything.
func (s *Store) checkLostIndex() error {
	fresh, last := false, uint64(0)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		fresh = b == nil || b.Get(keyVersion) == nil
		return nil
	})
	if err == nil && fresh {
		err = s.log.View(func(ltx *bbolt.Tx) error {
			if b := ltx.Bucket(bucketLog); b != nil {
				last = b.Sequence()
			}
			return nil
		})
	}
	if err == nil && fresh && last > 0 {
		err = corrupt(s.db.Path(), fmt.Sprintf("it is empty or was missing, but the ingest log %s has handed out %d sequence numbers", s.log.Path(), last))
	}
	return err
}

// Close closes the files after the operations in flight have finished.
// Later calls of any method return store.ErrClosed; Close itself may be
// called again and then returns nil. Unindexed fingerprints stay in the
// log and are loaded again on open.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// No Submit is in flight (they hold mu for reading while they wait),
	// so the committer's queue is empty.
	close(s.stop)
	<-s.done
	<-s.mergeDone
	<-s.compactDone
	<-s.filterDone
	s.runs.release(s) // closes the runs
	err := errors.Join(s.log.Close(), s.db.Close())
	if err == nil && s.health.refusal() == nil {
		// Clean: the next Open skips the full check. After an uncertain
		// commit the marker stays, so that it runs.
		err = markClean(s.path)
	}
	return err
}

// do runs fn with the store open and ctx not yet cancelled.
func (s *Store) do(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return fn()
}

func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	return s.do(ctx, func() error { return s.db.View(fn) })
}

func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	return s.do(ctx, func() error { return s.write(fileIndex, fn) })
}
