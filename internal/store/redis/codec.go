package redis

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// keys names a store's keys: prefix + HashTag + ":" + name. See
// docs/redis.md for what each holds.
type keys struct {
	base    string // prefix + HashTag + ":"
	version string // layout version
	seq     string // the last batch ID
	pending string // list of pending fingerprints, oldest first
	entries string // hash fingerprint → entry
	subs    string // hash fingerprint | institution → record of an institution that is not the entry's
	fpseq   string // the last fingerprint sequence number given out
	sealed  string // the last fingerprint sequence number in a batch
	starts  string // sorted set: batch ID scored by its first sequence number
	lowconf string // hash chain → lowest batch ID that may be unconfirmed on it
	lease   string // "replicaID/token", with the lease's TTL
	fence   string // fencing token counter
	batch   string // batch key prefix: batch + ID
	stmt    string // hash statement fingerprint → 1 | seq | subject | text
	stmtlog string // list of statement fingerprints in the order recorded (seq = index + 1)
	about   string // hash subject → the fingerprints of the statements about it, concatenated
}

func newKeys(prefix string) keys {
	base := prefix + HashTag + ":"
	return keys{
		base:    base,
		version: base + "version",
		seq:     base + "seq",
		pending: base + "pending",
		entries: base + "entries",
		subs:    base + "subs",
		fpseq:   base + "fpseq",
		sealed:  base + "sealed",
		starts:  base + "starts",
		lowconf: base + "lowconf",
		lease:   base + "lease",
		fence:   base + "fence",
		batch:   base + "batch:",
		stmt:    base + "stmt",
		stmtlog: base + "stmtlog",
		about:   base + "about",
	}
}

// batchKey is the hash of batch id: its header and anchor records.
func (k keys) batchKey(id uint64) string { return k.batch + strconv.FormatUint(id, 10) }

// levelKey is level l of batch id's tree (node hashes, 32 bytes each).
func (k keys) levelKey(id uint64, l int) string {
	return k.base + "level:" + strconv.FormatUint(id, 10) + ":" + strconv.Itoa(l)
}

// commitKeys returns the keys of commitScript for batch id with L
// levels, without the staged levels.
func (k keys) commitKeys(id uint64, L int) []string {
	keys := make([]string, 0, 6+2*L)
	keys = append(keys, k.lease, k.seq, k.pending, k.sealed, k.starts, k.batchKey(id))
	for l := range L {
		keys = append(keys, k.levelKey(id, l))
	}
	return keys
}

// stageKey is level l of a tree being staged under tag, before the commit
// script renames it to its levelKey.
func (k keys) stageKey(tag string, l int) string {
	return k.base + "stage:" + tag + ":" + strconv.Itoa(l)
}

// Fields of a batch hash.
const (
	fieldHeader       = "h"  // header (see encodeHeader)
	fieldAnchorPrefix = "a:" // + chain: the anchor record, JSON
	fieldStatePrefix  = "s:" // + chain: the anchor record's state, for the scripts
)

// Times are Unix nanoseconds (0 for the zero time), except in anchor
// records (RFC 3339 with nanoseconds).

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

// An entry is version(1)=1 | seq(8) | received(8) | institution. seq is
// the fingerprint's place in acceptance order (1, 2, 3 …, from the key
// fpseq); the entry never changes after Submit. Its batch and index follow
// from seq: the batch whose first seq (in the sorted set starts) is the
// greatest at or below it, if seq <= sealed; index = seq - that first seq.
const (
	entryVersion = 1
	entryHeader  = 1 + 8 + 8
)

// encodeNewEntry encodes the part of a new entry the client knows,
// received(8) | institution; the submit script prepends version and seq.
func encodeNewEntry(e store.Entry) []byte {
	v := make([]byte, 0, 8+len(e.Institution))
	v = binary.BigEndian.AppendUint64(v, uint64(encodeTime(e.ReceivedAt)))
	return append(v, e.Institution...)
}

// decodeEntry decodes a stored entry; the caller sets BatchID and Index.
func decodeEntry(fp fingerprint.Fingerprint, v string) (store.Entry, error) {
	if len(v) < entryHeader || v[0] != entryVersion {
		return store.Entry{}, fmt.Errorf("redis: bad entry for %x", fp[:])
	}
	return store.Entry{
		Fingerprint: fp,
		ReceivedAt:  decodeTime(int64(binary.BigEndian.Uint64([]byte(v[9:17])))),
		Institution: v[entryHeader:],
	}, nil
}

// decodeLocated decodes a script's {entry, batch ID, index} reply.
func decodeLocated(fp fingerprint.Fingerprint, r any) (store.Entry, error) {
	a, ok := r.([]any)
	if !ok || len(a) != 3 {
		return store.Entry{}, fmt.Errorf("redis: unexpected entry reply %v", r)
	}
	v, ok1 := a[0].(string)
	id, ok2 := a[1].(int64)
	idx, ok3 := a[2].(int64)
	if !ok1 || !ok2 || !ok3 || id < 0 || idx < 0 {
		return store.Entry{}, fmt.Errorf("redis: unexpected entry reply %v", r)
	}
	e, err := decodeEntry(fp, v)
	e.BatchID, e.Index = uint64(id), uint64(idx)
	return e, err
}

// A subs record is version(1)=1 | received(8): the first submission of a
// fingerprint by an institution other than its entry's. It never changes.
const subVersion = 1

// decodeReceived decodes a received(8) time.
func decodeReceived(fp fingerprint.Fingerprint, v string) (time.Time, error) {
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("redis: bad received time for %x", fp[:])
	}
	return decodeTime(int64(binary.BigEndian.Uint64([]byte(v)))), nil
}

// decodeSubmission decodes submissionScript's reply for institution.
func decodeSubmission(fp fingerprint.Fingerprint, institution string, r any) (store.Record, store.Entry, error) {
	a, ok := r.([]any)
	if !ok || len(a) != 3 && len(a) != 4 {
		return store.Record{}, store.Entry{}, fmt.Errorf("redis: unexpected submission reply %v", r)
	}
	e, err := decodeLocated(fp, a[:3])
	if err != nil {
		return store.Record{}, store.Entry{}, err
	}
	rec := store.Record{Fingerprint: fp, Institution: institution, ReceivedAt: e.ReceivedAt}
	if len(a) == 4 {
		v, ok := a[3].(string)
		if !ok || len(v) != 9 || v[0] != subVersion {
			return store.Record{}, store.Entry{}, fmt.Errorf("redis: bad submission record for %x", fp[:])
		}
		if rec.ReceivedAt, err = decodeReceived(fp, v[1:]); err != nil {
			return store.Record{}, store.Entry{}, err
		}
	}
	return rec, e, nil
}

// A batch header is size(8) | root(32) | sealed(8).
const headerLen = 8 + 32 + 8

func encodeHeader(b store.Batch) []byte {
	v := make([]byte, 0, headerLen)
	v = binary.BigEndian.AppendUint64(v, b.Size)
	v = append(v, b.Root[:]...)
	return binary.BigEndian.AppendUint64(v, uint64(encodeTime(b.SealedAt)))
}

// decodeBatch decodes the fields of batch id's hash (HGETALL): the header
// and the anchor records, by chain ID.
func decodeBatch(id uint64, fields map[string]string) (store.Batch, error) {
	h, ok := fields[fieldHeader]
	if !ok || len(h) != headerLen {
		return store.Batch{}, fmt.Errorf("redis: bad header of batch %d", id)
	}
	b := store.Batch{
		ID:       id,
		Size:     binary.BigEndian.Uint64([]byte(h[:8])),
		SealedAt: decodeTime(int64(binary.BigEndian.Uint64([]byte(h[40:])))),
	}
	copy(b.Root[:], h[8:40])
	for f, v := range fields {
		c, ok := strings.CutPrefix(f, fieldAnchorPrefix)
		if !ok {
			continue
		}
		chain, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return store.Batch{}, fmt.Errorf("redis: batch %d: bad anchor field %q", id, f)
		}
		a, err := store.DecodeAnchor(id, chain, []byte(v))
		if err != nil {
			return store.Batch{}, err
		}
		b.Anchors = append(b.Anchors, a)
	}
	sortAnchors(b.Anchors)
	return b, nil
}

func sortAnchors(as []store.Anchor) {
	slices.SortFunc(as, func(a, b store.Anchor) int { return cmp.Compare(a.ChainID, b.ChainID) })
}
