package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// The encodings of the keys and values of the layout in the package doc.

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
	entryVersion = 2
	entryHeader  = 1 + 8 + 8 // version | seq | received
)

// encodeEntry encodes a new entry with seq 0; the caller writes
// the seq into bytes 1…8.
func encodeEntry(e store.Entry) []byte {
	v := make([]byte, 0, entryHeader+len(e.Institution))
	v = append(v, entryVersion)
	v = binary.BigEndian.AppendUint64(v, 0)
	v = binary.BigEndian.AppendUint64(v, uint64(encodeTime(e.ReceivedAt)))
	return append(v, e.Institution...)
}

// decodeEntry decodes entry v of fp. Its batch and index are derived from its seq, the last sealed seq and the starts bucket; with a
// nil starts they are left zero (for callers that need only the rest).
func decodeEntry(fp fingerprint.Fingerprint, v []byte, sealed uint64, starts *bbolt.Bucket) (store.Entry, error) {
	if len(v) < entryHeader || v[0] != entryVersion {
		return store.Entry{}, fmt.Errorf("bolt: bad entry for %x", fp[:])
	}
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
