// Package bolt is attestd's embedded store: one bbolt file under the data
// dir, implementing store.Store with bbolt's own primitives.
//
//   - Submit runs in db.Batch, so concurrent submitters share one read-write
//     transaction and one fsync (group commit); each Submit returns only
//     after the transaction holding its entries has committed.
//   - CommitBatch and PutAnchor are each one Update transaction that checks
//     its precondition (the pending prefix, the anchor's previous state) and
//     writes everything or nothing.
//   - Reads are View transactions on bbolt's mmap: Nodes slices a stored
//     Merkle level in place and copies out only the 32-byte hashes asked for.
//
// # Layout
//
// All integers are big-endian, so bbolt's byte order of keys is their numeric
// order. Times are Unix nanoseconds (0 for the zero time), except in anchor
// records (RFC 3339 with nanoseconds). The free list is not synced; bbolt
// rebuilds it on open (etcd's setting).
//
//	bucket   key                      value
//	meta     "version"                format version (8), currently 1
//	         "pending"                number of pending fingerprints (8)
//	         "lowconf/" chain(8)      lowest batch ID that may not be confirmed on chain
//	fp       fingerprint(32)          entry: version(1)=1 | received(8) | batch ID(8) | index(8) | institution
//	pending  seq(8)                   fingerprint(32); seq is the bucket's sequence, so key order is acceptance order
//	batch    ID(8)                    header: size(8) | root(32) | sealed(8); ID is the bucket's sequence (1, 2, 3 …)
//	levels   ID(8) level(1)           the level's node hashes, concatenated (32 bytes each); level 0 = leaves
//	anchor   ID(8) chain(8)           anchor record, JSON (fee as a decimal string)
//
// PendingStats is O(1): the count is kept in meta by every transaction that
// changes the pending queue, and the oldest entry is the first key of
// pending.
//
// Unconfirmed(chain) starts its scan at meta "lowconf/"chain: every batch
// below it has a confirmed anchor on that chain. PutAnchor advances it when
// the batch it names becomes confirmed (skipping the confirmed batches after
// it) and lowers it when an anchor below it leaves the confirmed state (a
// reorg). A scan therefore only walks the batches confirmed out of order
// above the mark, besides the ones it returns.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
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

// DefaultMaxBatchDelay is the default Config.MaxBatchDelay (bbolt's own
// default).
const DefaultMaxBatchDelay = 10 * time.Millisecond

// ErrInUse is returned by Open when another process (or another Open in this
// one) holds the data file.
var ErrInUse = errors.New("data dir in use")

// Config configures Open.
type Config struct {
	// Path is the bbolt file, created with mode 0600 if missing. Its
	// directory must exist.
	Path string
	// NoSync skips fsync on commit. For tests only: with it set, an
	// acknowledged fingerprint is not durable.
	NoSync bool
	// LockTimeout bounds the wait for the file lock; 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxBatchDelay is how long a Submit waits for others to share its
	// commit (bbolt's DB.MaxBatchDelay); 0 means DefaultMaxBatchDelay. It
	// is the latency a lone submitter pays on top of the fsync. Keep it
	// above the disk's fsync time: a group commit holds the Submits of one
	// MaxBatchDelay window (or of 1000 calls), so if an fsync takes longer
	// than the window, commits queue up under sustained load.
	MaxBatchDelay time.Duration
}

const formatVersion = 1

var (
	bucketMeta    = []byte("meta")
	bucketFP      = []byte("fp")
	bucketPending = []byte("pending")
	bucketBatch   = []byte("batch")
	bucketLevels  = []byte("levels")
	bucketAnchor  = []byte("anchor")

	keyVersion = []byte("version")
	keyPending = []byte("pending")
	keyLowConf = "lowconf/"
)

// Store is the bbolt store. It is safe for concurrent use.
type Store struct {
	// mu is held for reading by every operation and for writing by Close,
	// so Close waits for operations in flight and later ones see closed.
	mu     sync.RWMutex
	closed bool
	db     *bbolt.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store at cfg.Path. If another process
// holds the file, it fails after cfg.LockTimeout with an error wrapping
// ErrInUse.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("bolt: empty path")
	}
	timeout := cfg.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{
		Timeout:        timeout,
		NoSync:         cfg.NoSync,
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: %w: another process holds its lock (waited %s)", cfg.Path, ErrInUse, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", cfg.Path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketFP, bucketPending, bucketBatch, bucketLevels, bucketAnchor} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil:
			return meta.Put(keyVersion, u64(formatVersion))
		case len(v) != 8 || binary.BigEndian.Uint64(v) != formatVersion:
			return fmt.Errorf("unsupported store format version %x (want %d)", v, formatVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", cfg.Path, err)
	}
	db.MaxBatchDelay = DefaultMaxBatchDelay
	if cfg.MaxBatchDelay > 0 {
		db.MaxBatchDelay = cfg.MaxBatchDelay
	}
	return &Store{db: db}, nil
}

// Close closes the file after the operations in flight have finished.
// Later calls of any method return store.ErrClosed; Close itself may be
// called again and then returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
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
	return s.do(ctx, func() error { return s.db.Update(fn) })
}

// Submit implements store.Store. A submission with a zero ReceivedAt is
// recorded as received now. Times are kept to the nanosecond and returned in
// UTC.
func (s *Store) Submit(ctx context.Context, subs []store.Submission) ([]store.Entry, error) {
	now := time.Now()
	// Keys and values handed to Put must stay valid until the commit; build
	// them once, outside the batch function (which bbolt may call twice).
	keys := make([]byte, 32*len(subs))
	vals := make([][]byte, len(subs))
	news := make([]store.Entry, len(subs))
	for i, sub := range subs {
		copy(keys[32*i:], sub.Fingerprint[:])
		recv := sub.ReceivedAt
		if recv.IsZero() {
			recv = now
		}
		news[i] = store.Entry{
			Fingerprint: sub.Fingerprint,
			Institution: sub.Institution,
			ReceivedAt:  decodeTime(encodeTime(recv)),
		}
		vals[i] = encodeEntry(news[i])
	}
	var out []store.Entry
	err := s.do(ctx, func() error {
		if len(subs) == 0 {
			out = []store.Entry{}
			return nil
		}
		// db.Batch may run this more than once (its transaction shared with
		// other submitters failed); every run starts over.
		return s.db.Batch(func(tx *bbolt.Tx) error {
			out = make([]store.Entry, len(subs))
			fps, pending := tx.Bucket(bucketFP), tx.Bucket(bucketPending)
			added := uint64(0)
			for i := range subs {
				k := keys[32*i : 32*i+32 : 32*i+32]
				if v := fps.Get(k); v != nil {
					e, err := decodeEntry(subs[i].Fingerprint, v)
					if err != nil {
						return err
					}
					out[i] = e
					continue
				}
				seq, err := pending.NextSequence()
				if err != nil {
					return err
				}
				if err := pending.Put(u64(seq), k); err != nil {
					return err
				}
				if err := fps.Put(k, vals[i]); err != nil {
					return err
				}
				out[i] = news[i]
				added++
			}
			if added == 0 {
				return nil
			}
			meta := tx.Bucket(bucketMeta)
			return meta.Put(keyPending, u64(getU64(meta, keyPending)+added))
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Entry implements store.Store.
func (s *Store) Entry(ctx context.Context, fp fingerprint.Fingerprint) (store.Entry, error) {
	var e store.Entry
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketFP).Get(fp[:])
		if v == nil {
			return fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
		}
		var err error
		e, err = decodeEntry(fp, v)
		return err
	})
	return e, err
}

// PendingStats implements store.Store in O(1). oldest is the ReceivedAt of
// the first fingerprint in acceptance order.
func (s *Store) PendingStats(ctx context.Context) (count int, oldest time.Time, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		count = int(getU64(tx.Bucket(bucketMeta), keyPending))
		_, fp := tx.Bucket(bucketPending).Cursor().First()
		if fp == nil {
			return nil
		}
		if len(fp) != 32 {
			return fmt.Errorf("bolt: bad pending value %x", fp)
		}
		v := tx.Bucket(bucketFP).Get(fp)
		if v == nil {
			return fmt.Errorf("bolt: pending fingerprint %x has no entry", fp)
		}
		e, err := decodeEntry(fingerprint.Fingerprint(fp), v)
		oldest = e.ReceivedAt
		return err
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return count, oldest, nil
}

// Pending implements store.Store. max <= 0 returns none.
func (s *Store) Pending(ctx context.Context, limit int) ([]fingerprint.Fingerprint, error) {
	var out []fingerprint.Fingerprint
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		n := int(min(uint64(max(limit, 0)), getU64(tx.Bucket(bucketMeta), keyPending)))
		out = make([]fingerprint.Fingerprint, 0, n)
		c := tx.Bucket(bucketPending).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			if len(v) != 32 {
				return fmt.Errorf("bolt: bad pending value %x", v)
			}
			out = append(out, fingerprint.Fingerprint(v))
		}
		return nil
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
	if err := checkTree(fps, tree); err != nil {
		return store.Batch{}, err
	}
	b := store.Batch{Size: tree.Size, Root: tree.Root, SealedAt: decodeTime(encodeTime(sealedAt))}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		pending, fpb := tx.Bucket(bucketPending), tx.Bucket(bucketFP)
		// fps must be the head of the pending queue, in order.
		seqs := make([]uint64, len(fps))
		c := pending.Cursor()
		k, v := c.First()
		for i := range fps {
			if k == nil || !bytes.Equal(v, fps[i][:]) {
				return fmt.Errorf("%w: fingerprint %d of %d (%x) is not at that place in the pending queue", store.ErrConflict, i, len(fps), fps[i][:])
			}
			seqs[i] = binary.BigEndian.Uint64(k)
			k, v = c.Next()
		}

		batches := tx.Bucket(bucketBatch)
		id, err := batches.NextSequence()
		if err != nil {
			return err
		}
		b.ID = id
		for _, seq := range seqs {
			if err := pending.Delete(u64(seq)); err != nil {
				return err
			}
		}
		// One slab for the rewritten entries' keys; values are fresh copies.
		keys := make([]byte, 32*len(fps))
		for i := range fps {
			key := keys[32*i : 32*i+32 : 32*i+32]
			copy(key, fps[i][:])
			old := fpb.Get(key)
			if len(old) < entryHeader {
				return fmt.Errorf("bolt: pending fingerprint %x has no valid entry", key)
			}
			nv := bytes.Clone(old)
			binary.BigEndian.PutUint64(nv[9:], id)
			binary.BigEndian.PutUint64(nv[17:], uint64(i))
			if err := fpb.Put(key, nv); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		count := getU64(meta, keyPending)
		if count < uint64(len(fps)) {
			return fmt.Errorf("bolt: pending count %d below batch size %d", count, len(fps))
		}
		if err := meta.Put(keyPending, u64(count-uint64(len(fps)))); err != nil {
			return err
		}

		if err := batches.Put(u64(id), encodeHeader(b)); err != nil {
			return err
		}
		levels := tx.Bucket(bucketLevels)
		for l, level := range tree.Levels {
			// The caller's level slices stay untouched until Update returns.
			if err := levels.Put(levelKey(id, l), level); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Batch{}, err
	}
	return b, nil
}

// checkTree checks that tree is the tree of fps: its size, the shape of
// its levels, its leaves and its root. (The interior nodes are the
// builder's business; the leaves are checked because a tree of other
// fingerprints would make every proof of the batch wrong.)
func checkTree(fps []fingerprint.Fingerprint, tree *merkle.Tree) error {
	switch {
	case len(fps) == 0:
		return errors.New("bolt: empty batch")
	case tree == nil:
		return errors.New("bolt: nil tree")
	case tree.Size != uint64(len(fps)):
		return fmt.Errorf("bolt: tree size %d for %d fingerprints", tree.Size, len(fps))
	case len(tree.Levels) != merkle.Depth(tree.Size)+1:
		return fmt.Errorf("bolt: tree of size %d has %d levels, want %d", tree.Size, len(tree.Levels), merkle.Depth(tree.Size)+1)
	}
	width := tree.Size
	for l, level := range tree.Levels {
		if uint64(len(level)) != 32*width {
			return fmt.Errorf("bolt: tree level %d is %d bytes, want %d nodes", l, len(level), width)
		}
		width = width/2 + width&1
	}
	if top := tree.Levels[len(tree.Levels)-1]; !bytes.Equal(top, tree.Root[:]) {
		return errors.New("bolt: tree's last level is not its root")
	}
	for i, fp := range fps {
		if h := merkle.LeafHash(fp); !bytes.Equal(h[:], tree.Levels[0][32*i:32*i+32]) {
			return fmt.Errorf("bolt: tree leaf %d is not the leaf hash of fingerprint %x", i, fp[:])
		}
	}
	return nil
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

// Nodes implements store.Store: one B+tree lookup per distinct level, and
// a 32-byte copy per position out of the mmap'd level.
func (s *Store) Nodes(ctx context.Context, id uint64, pos []merkle.Pos) ([][32]byte, error) {
	out := make([][32]byte, len(pos))
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketBatch).Get(u64(id)) == nil {
			return fmt.Errorf("batch %d: %w", id, store.ErrNotFound)
		}
		levels := tx.Bucket(bucketLevels)
		key := levelKey(id, 0) // Get does not keep the key: reuse it
		cur, curLevel := []byte(nil), -1
		for i, p := range pos {
			if p.Level < 0 || p.Level > math.MaxUint8 {
				return fmt.Errorf("bolt: batch %d has no level %d", id, p.Level)
			}
			if p.Level != curLevel {
				key[8] = byte(p.Level)
				cur, curLevel = levels.Get(key), p.Level
				if cur == nil {
					return fmt.Errorf("bolt: batch %d has no level %d", id, p.Level)
				}
			}
			if p.Index >= uint64(len(cur)/32) {
				return fmt.Errorf("bolt: batch %d level %d has no node %d (%d nodes)", id, p.Level, p.Index, len(cur)/32)
			}
			copy(out[i][:], cur[32*p.Index:])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
	if !store.ValidAnchorState(a.State) {
		return fmt.Errorf("bolt: invalid anchor state %q", a.State)
	}
	if prev != "" && !store.ValidAnchorState(prev) {
		return fmt.Errorf("bolt: invalid previous anchor state %q", prev)
	}
	val, err := store.EncodeAnchor(a)
	if err != nil {
		return err
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
		a, err := store.DecodeAnchor(id, binary.BigEndian.Uint64(k[8:]), v)
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
	entryVersion = 1
	entryHeader  = 1 + 8 + 8 + 8
)

func encodeEntry(e store.Entry) []byte {
	v := make([]byte, 0, entryHeader+len(e.Institution))
	v = append(v, entryVersion)
	v = binary.BigEndian.AppendUint64(v, uint64(encodeTime(e.ReceivedAt)))
	v = binary.BigEndian.AppendUint64(v, e.BatchID)
	v = binary.BigEndian.AppendUint64(v, e.Index)
	return append(v, e.Institution...)
}

func decodeEntry(fp fingerprint.Fingerprint, v []byte) (store.Entry, error) {
	if len(v) < entryHeader || v[0] != entryVersion {
		return store.Entry{}, fmt.Errorf("bolt: bad entry for %x", fp[:])
	}
	return store.Entry{
		Fingerprint: fp,
		ReceivedAt:  decodeTime(int64(binary.BigEndian.Uint64(v[1:]))),
		BatchID:     binary.BigEndian.Uint64(v[9:]),
		Index:       binary.BigEndian.Uint64(v[17:]),
		Institution: string(v[entryHeader:]),
	}, nil
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
