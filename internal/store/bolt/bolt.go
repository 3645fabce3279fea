// Package bolt is attestd's embedded store: two bbolt files under the data
// dir, implementing store.Store with bbolt's own primitives in a small
// log-structured design.
//
//   - The ingest log (attestd.db.log) takes every new fingerprint: Submit
//     hands its entries to one committer goroutine, which appends everything
//     queued under consecutive sequence numbers in one read-write
//     transaction and one fsync (group commit), and starts the next commit
//     as soon as the previous one is durable. Appends are sequential, so a
//     commit dirties a few pages at the log's end, however large the store.
//   - The main file (attestd.db) holds the fingerprint index, the sealed
//     batches with their Merkle levels, and the anchor records. Fingerprints
//     reach the index in large sorted merges by a background merger (an LSM
//     with one level): a commit of random 32-byte keys into a B+tree
//     rewrites about one page per key, a merge of k sorted keys rewrites
//     each page once for all the keys it receives. Until merged, a
//     fingerprint is found through an in-memory map from fingerprint to
//     sequence number, rebuilt from the log on open. While the merger is
//     behind by twice its threshold, commits wait (a write stall), so the
//     map stays bounded.
//   - CommitBatch and PutAnchor are each one transaction on the main file
//     that checks its precondition (the pending prefix, the anchor's
//     previous state) and writes everything or nothing.
//   - Reads are View transactions on bbolt's mmap: a proof read slices the
//     stored Merkle levels in place and copies out only its path's hashes.
//
// # Layout
//
// All integers are big-endian, so bbolt's byte order of keys is their numeric
// order. Times are Unix nanoseconds (0 for the zero time), except in anchor
// records (RFC 3339 with nanoseconds). The free list is not synced; bbolt
// rebuilds it on open (etcd's setting).
//
//	file  bucket   key                 value
//	main  meta     "version"           format version (8), currently 4
//	               "sealed"            last sequence number in a batch (8)
//	               "indexed"           every log record up to this sequence number is in fp (8)
//	               "lowconf/" chain(8) lowest batch ID that may not be confirmed on chain
//	main  fp       fingerprint(32)     entry: version(1)=2 | seq(8) | received(8) | institution
//	                                   (format 1 entries, version(1)=1 | received(8) | batch ID(8) | index(8) | institution,
//	                                   remain for fingerprints sealed before format 2)
//	main  starts   seq(8)              batch ID(8): the first sequence number of each batch sealed since format 2
//	main  batch    ID(8)               header: size(8) | root(32) | sealed(8); ID is the bucket's sequence (1, 2, 3 …)
//	main  levels   ID(8) level(1)      the level's node hashes, concatenated (32 bytes each); level 0 = leaves
//	main  anchor   ID(8) chain(8)      anchor record, JSON (fee as a decimal string)
//	log   log      segment(8)          a bucket of 2^16 records: seq(8) -> fingerprint(32) | its fp entry;
//	                                   the log bucket's sequence is the last seq handed out (see ingestLog)
//	log   subs     fingerprint(32) institution
//	                                   record: version(1)=1 | received(8): the first submission of the
//	                                   fingerprint by an institution other than its entry's (since format 4)
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
// means the last run did not close the store, and both files are checked
// in full before use. Damaged files make Open fail with ErrCorrupt.
//
// # Concurrency
//
// imu guards the map of unindexed fingerprints. The merger removes keys
// only after the transaction that indexed them has committed, under imu
// held for writing; every lookup holds imu for reading while it checks the
// map and then opens its view of the main file, so a fingerprint is always
// either in the map or in that view. Transactions that use both files open
// the main file first, and no one holds a view of the log while it waits
// for the main file, so bbolt's remapping of one file cannot deadlock
// against the other.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
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

// maxCommitFingerprints bounds the new fingerprints of one group commit
// (the rest wait for the next), so one commit's dirty pages stay bounded.
const maxCommitFingerprints = 256 << 10

// mergePages bounds the index pages one merge transaction rewrites: bbolt
// holds every page a transaction dirties in memory until it commits (as a
// node and a new page buffer), so this bounds a merge's memory (8k pages:
// about 60 MB) however large the index. See mergeChunk.
const mergePages = 8 << 10

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
	// are unindexed; 0 means DefaultMergeAt. Larger merges rewrite fewer
	// index pages per fingerprint and keep more in memory.
	MergeAt int
	// MergeEvery starts a merge once the oldest unindexed fingerprint has
	// waited this long; 0 means DefaultMergeEvery.
	MergeEvery time.Duration
	// Log receives the background merger's errors; nil means slog.Default().
	Log *slog.Logger

	segmentShift uint // tests: log segments of 2^segmentShift records; 0 = default
}

const formatVersion = 4

var (
	bucketMeta    = []byte("meta")
	bucketFP      = []byte("fp")
	bucketPending = []byte("pending") // format 1 and 2 only
	bucketStarts  = []byte("starts")
	bucketBatch   = []byte("batch")
	bucketLevels  = []byte("levels")
	bucketAnchor  = []byte("anchor")
	bucketLog     = []byte("log")
	bucketSubs    = []byte("subs") // in the log file

	keyVersion = []byte("version")
	keyPending = []byte("pending") // format 1 and 2 only
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

	health health // outcome of the last writes (see Health)
	path   string // Config.Path

	// imu guards unindexed: the logged fingerprints not yet in the fp
	// bucket, by sequence number (see the package doc on concurrency).
	imu       sync.RWMutex
	unindexed map[fingerprint.Fingerprint]uint64
	since     time.Time // when unindexed last became non-empty

	// Mirrors of meta "sealed" and "indexed", set after their commits.
	sealed, indexed atomic.Uint64

	// The committer's queue (see Submit).
	qmu   sync.Mutex
	queue []*submitReq
	wake  chan struct{} // capacity 1: something was queued
	stop  chan struct{} // closed by Close
	done  chan struct{} // closed when the committer has returned

	mergeWake chan struct{}         // capacity 1
	mergeDone chan struct{}         // closed when the merger has returned
	merged    chan struct{}         // capacity 1: the merger indexed a chunk, or failed
	mergeErr  atomic.Pointer[error] // the last merge's failure; nil after a success
	stallAt   int                   // commits wait while this many are unindexed
}

var _ store.Store = (*Store)(nil)

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
	db, err := openGuarded(cfg, cfg.Path, true, false, unclean)
	if err != nil {
		return nil, err
	}
	log, err := openGuarded(cfg, cfg.Path+LogSuffix, false, true, unclean)
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
	}
	s.stallAt = 2 * s.mergeAt
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if err := guard(cfg.Path+" (or its log)", s.init); err != nil {
		db.Close()
		log.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", cfg.Path, err)
	}
	go s.committer()
	go s.merger()
	return s, nil
}

// positiveOr returns v if it is above zero, else def.
func positiveOr[T int | uint | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func openFile(cfg Config, path string, syncFreelist bool) (*bbolt.DB, error) {
	timeout := cfg.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         timeout,
		NoSync:          cfg.NoSync,
		FreelistType:    bbolt.FreelistMapType,
		NoFreelistSync:  !syncFreelist,
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

// init creates the buckets, upgrades older formats and loads the
// unindexed fingerprints from the log.
func (s *Store) init() error {
	if err := s.checkLostIndex(); err != nil {
		return err
	}
	version := uint64(0)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketFP, bucketStarts, bucketBatch, bucketLevels, bucketAnchor} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil:
			version = formatVersion
			return meta.Put(keyVersion, u64(formatVersion))
		case len(v) != 8 || binary.BigEndian.Uint64(v) < 1 || binary.BigEndian.Uint64(v) > formatVersion:
			return fmt.Errorf("unsupported store format version %x (want at most %d)", v, formatVersion)
		case binary.BigEndian.Uint64(v) == 1:
			version = 2
			return migrate1(tx)
		default:
			version = binary.BigEndian.Uint64(v)
			return nil
		}
	})
	if err != nil {
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
	if version == 2 {
		if err := s.migrate2(); err != nil {
			return err
		}
		version = 3
	}
	if version == 3 {
		// Format 4 adds the log's subs bucket, created (and synced) above:
		// a format 3 store has no record but its entries.
		if err := s.db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyVersion, u64(4))
		}); err != nil {
			return err
		}
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

// migrate1 upgrades a format 1 store in place to format 2: every pending
// entry is rewritten with its sequence number, and meta "sealed" is set to
// the sequence number before the first pending one. Sealed format 1
// entries keep their stored batch and index.
func migrate1(tx *bbolt.Tx) error {
	meta, pending, fps := tx.Bucket(bucketMeta), tx.Bucket(bucketPending), tx.Bucket(bucketFP)
	if pending == nil {
		return errors.New("bolt: migrating format 1: no pending bucket")
	}
	sealed := pending.Sequence()
	c := pending.Cursor()
	for k, fp := c.First(); k != nil; k, fp = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		if sealed == pending.Sequence() {
			sealed = seq - 1
		}
		old := fps.Get(fp)
		if len(old) < entryHeaderV1 || old[0] != entryVersionV1 {
			return fmt.Errorf("bolt: migrating: pending fingerprint %x has no valid entry", fp)
		}
		e := store.Entry{
			ReceivedAt:  decodeTime(int64(binary.BigEndian.Uint64(old[1:]))),
			Institution: string(old[entryHeaderV1:]),
		}
		v := encodeEntry(e)
		binary.BigEndian.PutUint64(v[1:], seq)
		if err := fps.Put(bytes.Clone(fp), v); err != nil {
			return err
		}
	}
	if err := meta.Put(keySealed, u64(sealed)); err != nil {
		return err
	}
	return meta.Put(keyVersion, u64(2))
}

// migrate2 upgrades a format 2 store to format 3: the pending queue (whose
// fingerprints are all indexed) moves from the main file's pending bucket
// to the log, under the same sequence numbers. The log is written and
// synced first; a crash before the main file's switch to format 3 redoes
// the whole migration.
func (s *Store) migrate2() error {
	var last uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		pending, fps := tx.Bucket(bucketPending), tx.Bucket(bucketFP)
		if pending == nil {
			return errors.New("bolt: migrating format 2: no pending bucket")
		}
		last = pending.Sequence()
		return s.log.Update(func(ltx *bbolt.Tx) error {
			if err := ltx.DeleteBucket(bucketLog); err != nil {
				return err
			}
			lb, err := ltx.CreateBucket(bucketLog)
			if err != nil {
				return err
			}
			c := pending.Cursor()
			for k, fp := c.First(); k != nil; k, fp = c.Next() {
				v := fps.Get(fp)
				if len(fp) != 32 || len(k) != 8 || len(v) < entryHeader || v[0] != entryVersion {
					return fmt.Errorf("bolt: migrating: pending fingerprint %x has no valid entry", fp)
				}
				// append hands out the same sequence numbers: set the
				// counter to the one before.
				if err := lb.SetSequence(binary.BigEndian.Uint64(k) - 1); err != nil {
					return err
				}
				if _, err := s.logOf(ltx).append(append(bytes.Clone(fp), v...)); err != nil {
					return err
				}
			}
			return lb.SetSequence(last)
		})
	})
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := tx.DeleteBucket(bucketPending); err != nil {
			return err
		}
		if err := meta.Delete(keyPending); err != nil {
			return err
		}
		if err := meta.Put(keyIndexed, u64(last)); err != nil {
			return err
		}
		return meta.Put(keyVersion, u64(3))
	})
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

// Submit implements store.Store. A submission with a zero ReceivedAt is
// recorded as received now. Times are kept to the nanosecond and returned in
// UTC. Every call waits for a group commit (an fsync of the log), whether or
// not it writes anything: a submitter's latency does not depend on what the
// store knew.
func (s *Store) Submit(ctx context.Context, subs []store.Submission) ([]store.Record, error) {
	now := time.Now()
	// Keys and values handed to Put must stay valid until the commit; build
	// them once, outside the transaction (which may run more than once).
	r := &submitReq{
		subs: subs,
		recs: make([][]byte, len(subs)),
		news: make([]store.Entry, len(subs)),
		done: make(chan struct{}),
	}
	for i, sub := range subs {
		recv := sub.ReceivedAt
		if recv.IsZero() {
			recv = now
		}
		r.news[i] = store.Entry{
			Fingerprint: sub.Fingerprint,
			Institution: sub.Institution,
			ReceivedAt:  decodeTime(encodeTime(recv)),
		}
		r.recs[i] = append(sub.Fingerprint[:], encodeEntry(r.news[i])...) // seq filled in by apply
	}
	err := s.do(ctx, func() error {
		if len(subs) == 0 {
			r.out = []store.Record{}
			return nil
		}
		s.qmu.Lock()
		s.queue = append(s.queue, r)
		s.qmu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		// The commit is not abandoned when ctx ends (it may already be
		// durable); wait for it, as bbolt's Batch does.
		<-r.done
		return r.err
	})
	if err != nil {
		return nil, err
	}
	return r.out, nil
}

// submitReq is one Submit waiting for the committer.
type submitReq struct {
	subs  []store.Submission
	recs  [][]byte // log records: fingerprint | entry (format 2); apply writes the seq
	news  []store.Entry
	out   []store.Record
	added []uint64 // sequence numbers of the new entries, by subs index (0: not new)
	err   error
	done  chan struct{} // closed once out/err are set
}

// committer runs group commits until Close: each takes everything queued
// (up to maxCommitFingerprints) into one transaction.
//
// Submitters acknowledged by one commit come back while the next one runs,
// so under steady load the callers split into two cohorts that take turns,
// each waiting for two commits. To keep them in one commit, the committer
// lingers after a commit while fewer requests are queued than the last
// commit held: until they are there, or for at most a quarter of the last
// commit's duration (maxLinger at most). A lone submitter (an empty queue)
// never waits.
func (s *Store) committer() {
	defer close(s.done)
	last, lastDur := 0, time.Duration(0)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			s.linger(last, min(lastDur/4, maxLinger))
			s.qmu.Lock()
			n, fps := 0, 0
			for n < len(s.queue) && (n == 0 || fps+len(s.queue[n].subs) <= maxCommitFingerprints) {
				fps += len(s.queue[n].subs)
				n++
			}
			reqs := s.queue[:n:n]
			s.queue = s.queue[n:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			s.qmu.Unlock()
			if len(reqs) == 0 {
				break
			}
			if err := s.waitMerger(); err != nil {
				for _, r := range reqs {
					r.err = err
					close(r.done)
				}
				continue
			}
			start := time.Now()
			s.commit(reqs)
			last, lastDur = len(reqs), time.Since(start)
		}
	}
}

// waitMerger holds the next commit back while the merger is behind, with
// twice MergeAt fingerprints unindexed (a write stall, as LSM stores do):
// the map's memory stays bounded, and submitters wait instead. When the
// merger fails (the index cannot be written: a full disk), it gives it one
// more round and then stops waiting: it returns an error wrapping
// store.ErrUnavailable, which fails the commit's requests.
func (s *Store) waitMerger() error {
	retried := false
	for s.Unindexed() >= s.stallAt {
		if p := s.mergeErr.Load(); p != nil {
			if retried {
				return store.Unavailable(fmt.Errorf("bolt: %d fingerprints wait to be merged into the index, and merging fails: %w", s.Unindexed(), *p))
			}
			retried = true
			select { // a signal from before this round
			case <-s.merged:
			default:
			}
		}
		select {
		case s.mergeWake <- struct{}{}:
		default:
		}
		select {
		case <-s.merged:
		case <-s.stop:
			return nil
		}
	}
	return nil
}

// Unindexed reports how many fingerprints wait to be merged into the index.
func (s *Store) Unindexed() int {
	s.imu.RLock()
	defer s.imu.RUnlock()
	return len(s.unindexed)
}

// maxLinger bounds the committer's wait for a cohort (see committer).
const maxLinger = time.Millisecond

// linger waits up to d while the queue is not empty and holds fewer than
// want requests.
func (s *Store) linger(want int, d time.Duration) {
	if d <= 0 {
		return
	}
	var timer *time.Timer
	for {
		s.qmu.Lock()
		n := len(s.queue)
		s.qmu.Unlock()
		if n == 0 || n >= want {
			return
		}
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		}
		select {
		case <-s.wake:
		case <-timer.C:
			return
		}
	}
}

// commit writes reqs in one transaction of the log. If it fails, each
// request is committed alone, so one bad request does not fail the others.
// The new fingerprints join the unindexed map once their commit is durable.
//
// A failed commit (store.ErrUnavailable: the file system refused the
// write or its fsync) fails every request at once: retrying them one by
// one would only fail again, and none of them is acknowledged.
func (s *Store) commit(reqs []*submitReq) {
	err := s.write(fileLog, func(tx *bbolt.Tx) error { return s.applyAll(tx, reqs) })
	if err != nil && len(reqs) > 1 && !errors.Is(err, store.ErrUnavailable) {
		for _, r := range reqs {
			r.err = s.write(fileLog, func(tx *bbolt.Tx) error { return s.applyAll(tx, []*submitReq{r}) })
			if r.err == nil {
				s.noteAdded([]*submitReq{r})
			}
			close(r.done)
		}
		return
	}
	if err == nil {
		s.noteAdded(reqs)
	}
	for _, r := range reqs {
		r.err = err
		close(r.done)
	}
}

// noteAdded puts the committed new entries of reqs into the unindexed map
// and wakes the merger when a merge is due.
func (s *Store) noteAdded(reqs []*submitReq) {
	s.imu.Lock()
	for _, r := range reqs {
		for i, seq := range r.added {
			if seq != 0 {
				s.unindexed[r.subs[i].Fingerprint] = seq
			}
		}
	}
	if s.since.IsZero() && len(s.unindexed) > 0 {
		s.since = time.Now()
	}
	due := len(s.unindexed) >= s.mergeAt
	s.imu.Unlock()
	if due {
		select {
		case s.mergeWake <- struct{}{}:
		default:
		}
	}
}

// applyAll appends the new entries of reqs to the log, puts the new records
// of institutions that are not their fingerprint's first submitter in the
// log's subs bucket, and deletes log records that are sealed and indexed.
// Known fingerprints are looked up in the unindexed map and then in the
// main file's index.
func (s *Store) applyAll(tx *bbolt.Tx, reqs []*submitReq) error {
	lg := s.logOf(tx)
	// Drop the log segments that are sealed and indexed.
	if err := lg.truncate(min(s.sealed.Load(), s.indexed.Load())); err != nil {
		return err
	}
	s.imu.RLock()
	defer s.imu.RUnlock()
	mtx, err := s.db.Begin(false)
	if err != nil {
		return err
	}
	defer mtx.Rollback()
	fps := mtx.Bucket(bucketFP)
	subsB := tx.Bucket(bucketSubs)
	type local struct{ r, i int }
	here := map[fingerprint.Fingerprint]local{} // new in this transaction
	for ri, r := range reqs {
		r.out = make([]store.Record, len(r.subs))
		r.added = make([]uint64, len(r.subs))
		for i, sub := range r.subs {
			fp := sub.Fingerprint
			var first store.Entry // the fingerprint's entry; batch and index are not needed
			if l, ok := here[fp]; ok {
				first = reqs[l.r].news[l.i]
			} else if e, ok, err := s.known(fp, lg, fps, 0, nil); err != nil {
				return err
			} else if ok {
				first = e
			} else {
				seq, err := lg.append(r.recs[i])
				if err != nil {
					return err
				}
				e := r.news[i]
				r.out[i] = store.Record{Fingerprint: fp, Institution: e.Institution, ReceivedAt: e.ReceivedAt, New: true}
				r.added[i] = seq
				here[fp] = local{ri, i}
				continue
			}
			rec, err := ownRecord(subsB, first, sub.Institution, r.news[i].ReceivedAt)
			if err != nil {
				return err
			}
			r.out[i] = rec
		}
	}
	return nil
}

// ownRecord returns institution's record of the fingerprint whose entry
// is first: the entry's time if institution is its first submitter, else
// its record in subs, which it puts there (received at recv) if it is
// missing.
func ownRecord(subs *bbolt.Bucket, first store.Entry, institution string, recv time.Time) (store.Record, error) {
	rec := store.Record{Fingerprint: first.Fingerprint, Institution: institution, ReceivedAt: first.ReceivedAt}
	if first.Institution == institution {
		return rec, nil
	}
	key := subKey(first.Fingerprint, institution)
	if v := subs.Get(key); v != nil {
		t, err := decodeSub(first.Fingerprint, v)
		rec.ReceivedAt = t
		return rec, err
	}
	rec.ReceivedAt = recv
	// key and the value are fresh slices, untouched until the commit.
	return rec, subs.Put(key, encodeSub(recv))
}

// Submission implements store.Store: the entry from the main file (or the
// log while unindexed), and a record that is not the entry from the log's
// subs bucket.
func (s *Store) Submission(ctx context.Context, fp fingerprint.Fingerprint, institution string) (store.Record, store.Entry, error) {
	var rec store.Record
	var e store.Entry
	err := s.viewEntries(ctx, func(tx *bbolt.Tx) error {
		var err error
		if e, err = s.entryIn(tx, fp); err != nil {
			return err
		}
		rec = store.Record{Fingerprint: fp, Institution: institution, ReceivedAt: e.ReceivedAt}
		if e.Institution == institution {
			return nil
		}
		return s.log.View(func(ltx *bbolt.Tx) error {
			v := ltx.Bucket(bucketSubs).Get(subKey(fp, institution))
			if v == nil {
				return fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
			}
			rec.ReceivedAt, err = decodeSub(fp, v)
			return err
		})
	})
	if err != nil {
		return store.Record{}, store.Entry{}, err
	}
	return rec, e, nil
}

// known looks fp up in the unindexed map (with its record in lg) and
// then in the index fps. The caller holds imu for reading and opened the
// main transaction of fps after taking it.
func (s *Store) known(fp fingerprint.Fingerprint, lg ingestLog, fps *bbolt.Bucket, sealed uint64, starts *bbolt.Bucket) (store.Entry, bool, error) {
	var v []byte
	if seq, ok := s.unindexed[fp]; ok {
		rec := lg.get(seq)
		if len(rec) < 32 || !bytes.Equal(rec[:32], fp[:]) {
			return store.Entry{}, false, fmt.Errorf("bolt: unindexed fingerprint %x has no log record %d", fp[:], seq)
		}
		v = rec[32:]
	} else if v = fps.Get(fp[:]); v == nil {
		return store.Entry{}, false, nil
	}
	e, err := decodeEntry(fp, v, sealed, starts)
	return e, err == nil, err
}

// Entry implements store.Store.
func (s *Store) Entry(ctx context.Context, fp fingerprint.Fingerprint) (store.Entry, error) {
	var e store.Entry
	err := s.viewEntries(ctx, func(tx *bbolt.Tx) error {
		var err error
		e, err = s.entryIn(tx, fp)
		return err
	})
	return e, err
}

// viewEntries runs fn in a read transaction of the main file opened with
// imu held for reading, as entryIn needs.
func (s *Store) viewEntries(ctx context.Context, fn func(*bbolt.Tx) error) error {
	return s.do(ctx, func() error {
		s.imu.RLock()
		defer s.imu.RUnlock()
		return s.db.View(fn)
	})
}

// Proof implements store.Store in one read transaction of the main file
// (and one of the log while fp is unindexed).
func (s *Store) Proof(ctx context.Context, fp fingerprint.Fingerprint) (store.Proof, error) {
	var p store.Proof
	err := s.viewEntries(ctx, func(tx *bbolt.Tx) error {
		e, err := s.entryIn(tx, fp)
		if err != nil {
			return err
		}
		if e.Pending() {
			p.Entry = e
			return nil
		}
		v := tx.Bucket(bucketBatch).Get(u64(e.BatchID))
		if v == nil { // not ErrNotFound: the fingerprint exists
			return fmt.Errorf("bolt: %x is in batch %d, which is missing", fp[:], e.BatchID)
		}
		b, err := loadBatch(tx, e.BatchID, v)
		if err != nil {
			return err
		}
		pos, err := merkle.PathPositions(e.Index, b.Size)
		if err != nil {
			return fmt.Errorf("bolt: batch %d: %w", b.ID, err)
		}
		path := make([][32]byte, len(pos))
		if err := nodesIn(tx, b.ID, pos, path); err != nil {
			return err
		}
		p = store.Proof{Entry: e, Batch: b, Path: path}
		return nil
	})
	return p, err
}

// entryIn reads the entry of fp in tx, a read transaction of the main
// file opened with imu held for reading.
func (s *Store) entryIn(tx *bbolt.Tx, fp fingerprint.Fingerprint) (store.Entry, error) {
	fps, starts := tx.Bucket(bucketFP), tx.Bucket(bucketStarts)
	sealed := getU64(tx.Bucket(bucketMeta), keySealed)
	if _, ok := s.unindexed[fp]; !ok {
		v := fps.Get(fp[:])
		if v == nil {
			return store.Entry{}, fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
		}
		return decodeEntry(fp, v, sealed, starts)
	}
	var e store.Entry
	err := s.log.View(func(ltx *bbolt.Tx) error {
		var err error
		e, _, err = s.known(fp, s.logOf(ltx), fps, sealed, starts)
		return err
	})
	return e, err
}

// PendingStats implements store.Store in O(1): the count is the log's
// sequence minus the last sealed one, and the oldest is the log record
// after the last sealed one.
func (s *Store) PendingStats(ctx context.Context) (count int, oldest time.Time, err error) {
	err = s.do(ctx, func() error {
		return s.log.View(func(ltx *bbolt.Tx) error {
			lg := s.logOf(ltx)
			sealed := s.sealed.Load()
			if last := lg.last(); last > sealed {
				count = int(last - sealed)
			} else {
				return nil
			}
			rec := lg.get(sealed + 1)
			if rec == nil {
				return nil // sealed meanwhile: count is an overestimate for a moment
			}
			e, err := decodeEntry(fingerprint.Fingerprint(rec[:32]), rec[32:], 0, nil)
			oldest = e.ReceivedAt
			return err
		})
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return count, oldest, nil
}

// Pending implements store.Store. max <= 0 returns none.
func (s *Store) Pending(ctx context.Context, limit int) ([]fingerprint.Fingerprint, error) {
	var out []fingerprint.Fingerprint
	err := s.do(ctx, func() error {
		return s.log.View(func(ltx *bbolt.Tx) error {
			lg := s.logOf(ltx)
			sealed := s.sealed.Load()
			n := int(min(uint64(max(limit, 0)), lg.last()-min(sealed, lg.last())))
			out = make([]fingerprint.Fingerprint, 0, n)
			if n == 0 {
				return nil
			}
			return lg.scan(sealed+1, func(_ uint64, rec []byte) (bool, error) {
				out = append(out, fingerprint.Fingerprint(rec[:32]))
				return len(out) < n, nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CommitBatch implements store.Store. Besides ErrConflict it refuses, with
// other errors, an empty fps or a tree that is not the tree of fps (see
// checkTree); those checks run before the transaction.
func (s *Store) CommitBatch(ctx context.Context, fps []fingerprint.Fingerprint, tree *merkle.Tree, sealedAt time.Time) (store.Batch, error) {
	if err := ctx.Err(); err != nil {
		return store.Batch{}, err
	}
	if err := store.CheckTree(fps, tree); err != nil {
		return store.Batch{}, err
	}
	b := store.Batch{Size: tree.Size, Root: tree.Root, SealedAt: decodeTime(encodeTime(sealedAt))}
	var last uint64
	err := s.do(ctx, func() error {
		// fps must be the head of the pending queue, in order: the log
		// records after the last sealed one. The log is read first, in its
		// own view; the main transaction then checks "sealed" is unchanged.
		first := s.sealed.Load() + 1
		err := s.log.View(func(ltx *bbolt.Tx) error {
			i := 0
			err := s.logOf(ltx).scan(first, func(seq uint64, rec []byte) (bool, error) {
				if seq != first+uint64(i) || !bytes.Equal(rec[:32], fps[i][:]) {
					return false, nil
				}
				i++
				return i < len(fps), nil
			})
			if err == nil && i < len(fps) {
				err = fmt.Errorf("%w: fingerprint %d of %d (%x) is not at that place in the pending queue", store.ErrConflict, i, len(fps), fps[i][:])
			}
			return err
		})
		if err != nil {
			return err
		}
		last = first + uint64(len(fps)) - 1
		return s.write(fileIndex, func(tx *bbolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if sealed := getU64(meta, keySealed); sealed != first-1 {
				return fmt.Errorf("%w: sealed through %d meanwhile, not %d", store.ErrConflict, sealed, first-1)
			}
			batches := tx.Bucket(bucketBatch)
			batches.FillPercent = 1
			id, err := batches.NextSequence()
			if err != nil {
				return err
			}
			b.ID = id
			starts := tx.Bucket(bucketStarts)
			starts.FillPercent = 1
			if err := starts.Put(u64(first), u64(id)); err != nil {
				return err
			}
			if err := meta.Put(keySealed, u64(last)); err != nil {
				return err
			}
			if err := batches.Put(u64(id), encodeHeader(b)); err != nil {
				return err
			}
			levels := tx.Bucket(bucketLevels)
			levels.FillPercent = 1
			for l, level := range tree.Levels {
				// The caller's level slices stay untouched until Update returns.
				if err := levels.Put(levelKey(id, l), level); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return store.Batch{}, err
	}
	s.sealed.Store(last)
	return b, nil
}

// Batch implements store.Store.
func (s *Store) Batch(ctx context.Context, id uint64) (store.Batch, error) {
	var b store.Batch
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketBatch).Get(u64(id))
		if v == nil {
			return fmt.Errorf("batch %d: %w", id, store.ErrNotFound)
		}
		var err error
		b, err = loadBatch(tx, id, v)
		return err
	})
	return b, err
}

// Batches implements store.Store. limit <= 0 returns none.
func (s *Store) Batches(ctx context.Context, after uint64, limit int) ([]store.Batch, error) {
	out := []store.Batch{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if after == math.MaxUint64 {
			return nil
		}
		c := tx.Bucket(bucketBatch).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			b, err := loadBatch(tx, binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LatestBatch implements store.Store: the batch bucket's sequence is the
// last batch ID handed out, in the transaction that wrote that batch.
func (s *Store) LatestBatch(ctx context.Context) (uint64, error) {
	var last uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		last = tx.Bucket(bucketBatch).Sequence()
		return nil
	})
	return last, err
}

// nodesIn reads the nodes of batch id at pos into out (len(pos)) in tx.
func nodesIn(tx *bbolt.Tx, id uint64, pos []merkle.Pos, out [][32]byte) error {
	c := tx.Bucket(bucketLevels).Cursor()
	want := levelKey(id, 0) // the cursor does not keep it: reuse it
	var k, cur []byte
	curLevel := -1
	for i, p := range pos {
		if p.Level < 0 || p.Level > math.MaxUint8 {
			return fmt.Errorf("bolt: batch %d has no level %d", id, p.Level)
		}
		if p.Level != curLevel {
			// Positions come level by level, upwards (PathPositions):
			// step to the next level's key, or seek when that fails.
			want[8] = byte(p.Level)
			if k == nil || p.Level != curLevel+1 {
				k, cur = c.Seek(want)
			} else {
				k, cur = c.Next()
			}
			if !bytes.Equal(k, want) {
				return fmt.Errorf("bolt: batch %d has no level %d", id, p.Level)
			}
			curLevel = p.Level
		}
		if p.Index >= uint64(len(cur)/32) {
			return fmt.Errorf("bolt: batch %d level %d has no node %d (%d nodes)", id, p.Level, p.Index, len(cur)/32)
		}
		copy(out[i][:], cur[32*p.Index:])
	}
	return nil
}

// Unconfirmed implements store.Store. limit <= 0 returns none.
func (s *Store) Unconfirmed(ctx context.Context, chainID uint64, limit int) ([]store.Batch, error) {
	out := []store.Batch{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		anchors := tx.Bucket(bucketAnchor)
		c := tx.Bucket(bucketBatch).Cursor()
		for k, v := c.Seek(u64(lowConf(tx, chainID))); k != nil && len(out) < limit; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			id := binary.BigEndian.Uint64(k)
			if st, err := store.AnchorStateOf(anchors.Get(anchorKey(id, chainID))); err != nil {
				return err
			} else if st == store.AnchorConfirmed {
				continue
			}
			b, err := loadBatch(tx, id, v)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutAnchor implements store.Store. a.State must be one of the three
// AnchorStates and prev one of them or empty. Any transition is allowed if
// prev matches, including back from mined or confirmed after a reorg.
func (s *Store) PutAnchor(ctx context.Context, a store.Anchor, prev store.AnchorState) error {
	val, err := store.EncodeAnchorWrite(a, prev)
	if err != nil {
		return fmt.Errorf("bolt: %w", err)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		batches := tx.Bucket(bucketBatch)
		if batches.Get(u64(a.BatchID)) == nil {
			return fmt.Errorf("batch %d: %w", a.BatchID, store.ErrNotFound)
		}
		anchors := tx.Bucket(bucketAnchor)
		key := anchorKey(a.BatchID, a.ChainID)
		cur, err := store.AnchorStateOf(anchors.Get(key))
		if err != nil {
			return err
		}
		if cur != prev {
			return fmt.Errorf("%w: anchor of batch %d on chain %d is %q, not %q", store.ErrConflict, a.BatchID, a.ChainID, cur, prev)
		}
		if err := anchors.Put(key, val); err != nil {
			return err
		}

		low := lowConf(tx, a.ChainID)
		switch {
		case a.State != store.AnchorConfirmed && a.BatchID < low:
			low = a.BatchID
		case a.State == store.AnchorConfirmed && a.BatchID == low:
			last := batches.Sequence()
			for low++; low <= last; low++ {
				st, err := store.AnchorStateOf(anchors.Get(anchorKey(low, a.ChainID)))
				if err != nil {
					return err
				}
				if st != store.AnchorConfirmed {
					break
				}
			}
		default:
			return nil
		}
		return tx.Bucket(bucketMeta).Put(lowConfKey(a.ChainID), u64(low))
	})
}

// lowConf returns the lowest batch ID that may be unconfirmed on chainID.
func lowConf(tx *bbolt.Tx, chainID uint64) uint64 {
	if v := tx.Bucket(bucketMeta).Get(lowConfKey(chainID)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 1
}

func lowConfKey(chainID uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(keyLowConf), chainID)
}

// anchorCache keeps decoded anchor records by their stored bytes: every
// proof read loads its batch's anchors, and decoding the JSON record was
// the largest part of a read's CPU (pprof in docs/benchmarks.md). A hit
// needs the stored bytes to be equal, so a rewritten record is decoded
// again; the slices of a hit are copied, so callers never share them.
var anchorCache = struct {
	sync.RWMutex
	m map[[16]byte]cachedAnchor
}{m: map[[16]byte]cachedAnchor{}}

type cachedAnchor struct {
	raw []byte
	a   store.Anchor
}

const anchorCacheMax = 4096

// decodeAnchor is store.DecodeAnchor through anchorCache.
func decodeAnchor(id, chainID uint64, v []byte) (store.Anchor, error) {
	var key [16]byte
	binary.BigEndian.PutUint64(key[:], id)
	binary.BigEndian.PutUint64(key[8:], chainID)
	anchorCache.RLock()
	c, ok := anchorCache.m[key]
	anchorCache.RUnlock()
	if !ok || !bytes.Equal(c.raw, v) {
		a, err := store.DecodeAnchor(id, chainID, v)
		if err != nil {
			return a, err
		}
		c = cachedAnchor{raw: bytes.Clone(v), a: a}
		anchorCache.Lock()
		if len(anchorCache.m) >= anchorCacheMax {
			clear(anchorCache.m)
		}
		anchorCache.m[key] = c
		anchorCache.Unlock()
	}
	a := c.a
	a.RawTx = bytes.Clone(a.RawTx)
	a.Replaced = slices.Clone(a.Replaced)
	if a.FeeWei != nil {
		a.FeeWei = new(big.Int).Set(a.FeeWei)
	}
	return a, nil
}

// loadBatch decodes header v of batch id and reads its anchors.
func loadBatch(tx *bbolt.Tx, id uint64, v []byte) (store.Batch, error) {
	b, err := decodeHeader(id, v)
	if err != nil {
		return b, err
	}
	prefix := u64(id)
	c := tx.Bucket(bucketAnchor).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != 16 {
			return b, fmt.Errorf("bolt: bad anchor key %x", k)
		}
		a, err := decodeAnchor(id, binary.BigEndian.Uint64(k[8:]), v)
		if err != nil {
			return b, err
		}
		b.Anchors = append(b.Anchors, a)
	}
	return b, nil
}

// Encodings.

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

func getU64(b *bbolt.Bucket, key []byte) uint64 {
	if v := b.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func levelKey(id uint64, level int) []byte {
	return append(u64(id), byte(level))
}

func anchorKey(id, chainID uint64) []byte {
	return binary.BigEndian.AppendUint64(u64(id), chainID)
}

func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func decodeTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

const (
	entryVersion   = 2
	entryHeader    = 1 + 8 + 8 // version | seq | received
	entryVersionV1 = 1
	entryHeaderV1  = 1 + 8 + 8 + 8 // version | received | batch | index
)

// encodeEntry encodes a new entry (format 2) with seq 0; the caller writes
// the seq into bytes 1…8.
func encodeEntry(e store.Entry) []byte {
	v := make([]byte, 0, entryHeader+len(e.Institution))
	v = append(v, entryVersion)
	v = binary.BigEndian.AppendUint64(v, 0)
	v = binary.BigEndian.AppendUint64(v, uint64(encodeTime(e.ReceivedAt)))
	return append(v, e.Institution...)
}

// decodeEntry decodes entry v of fp. A format 2 entry's batch and index are
// derived from its seq, the last sealed seq and the starts bucket; with a
// nil starts they are left zero (for callers that need only the rest).
func decodeEntry(fp fingerprint.Fingerprint, v []byte, sealed uint64, starts *bbolt.Bucket) (store.Entry, error) {
	switch {
	case len(v) >= entryHeader && v[0] == entryVersion:
		e := store.Entry{
			Fingerprint: fp,
			ReceivedAt:  decodeTime(int64(binary.BigEndian.Uint64(v[9:]))),
			Institution: string(v[entryHeader:]),
		}
		seq := binary.BigEndian.Uint64(v[1:])
		if starts == nil || seq > sealed {
			return e, nil
		}
		c := starts.Cursor()
		k, id := c.Seek(v[1:9])
		switch {
		case k == nil:
			k, id = c.Last()
		case !bytes.Equal(k, v[1:9]):
			k, id = c.Prev()
		}
		if len(k) != 8 || len(id) != 8 {
			return store.Entry{}, fmt.Errorf("bolt: no batch holds sequence number %d of %x", seq, fp[:])
		}
		e.BatchID = binary.BigEndian.Uint64(id)
		e.Index = seq - binary.BigEndian.Uint64(k)
		return e, nil
	case len(v) >= entryHeaderV1 && v[0] == entryVersionV1:
		return store.Entry{
			Fingerprint: fp,
			ReceivedAt:  decodeTime(int64(binary.BigEndian.Uint64(v[1:]))),
			BatchID:     binary.BigEndian.Uint64(v[9:]),
			Index:       binary.BigEndian.Uint64(v[17:]),
			Institution: string(v[entryHeaderV1:]),
		}, nil
	}
	return store.Entry{}, fmt.Errorf("bolt: bad entry for %x", fp[:])
}

// subVersion is the first byte of a subs record.
const subVersion = 1

func subKey(fp fingerprint.Fingerprint, institution string) []byte {
	k := make([]byte, 0, 32+len(institution))
	return append(append(k, fp[:]...), institution...)
}

func encodeSub(recv time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 9), subVersion), uint64(encodeTime(recv)))
}

func decodeSub(fp fingerprint.Fingerprint, v []byte) (time.Time, error) {
	if len(v) != 9 || v[0] != subVersion {
		return time.Time{}, fmt.Errorf("bolt: bad submission record for %x", fp[:])
	}
	return decodeTime(int64(binary.BigEndian.Uint64(v[1:]))), nil
}

const headerLen = 8 + 32 + 8

func encodeHeader(b store.Batch) []byte {
	v := make([]byte, 0, headerLen)
	v = binary.BigEndian.AppendUint64(v, b.Size)
	v = append(v, b.Root[:]...)
	return binary.BigEndian.AppendUint64(v, uint64(encodeTime(b.SealedAt)))
}

func decodeHeader(id uint64, v []byte) (store.Batch, error) {
	if len(v) != headerLen {
		return store.Batch{}, fmt.Errorf("bolt: bad header of batch %d", id)
	}
	b := store.Batch{
		ID:       id,
		Size:     binary.BigEndian.Uint64(v),
		SealedAt: decodeTime(int64(binary.BigEndian.Uint64(v[40:]))),
	}
	copy(b.Root[:], v[8:40])
	return b, nil
}
