package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/store"
)

// logRecord is a record of the log for tests: a fingerprint-sized tag
// and an entry of n bytes of institution.
func logRecord(i, n int) []byte {
	rec := make([]byte, 32+entryHeader+n)
	copy(rec, fmt.Sprintf("record %d", i))
	return rec
}

// TestLogBlocks: records appended in blocks (within a segment and across
// segments of 8) each read back by get and by a scan from every sequence
// number, in order, with their sequence numbers written into their
// entries; a scan stops when told; get of a number never handed out, or
// truncated away, finds nothing.
func TestLogBlocks(t *testing.T) {
	s := openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true, MergeAt: 1 << 30, segmentShift: 3})
	var want [][]byte // want[seq-1]
	err := s.log.Update(func(tx *bbolt.Tx) error {
		lg := s.logOf(tx)
		for _, n := range []int{1, 5, 20, 3, 1, 8} {
			recs := make([][]byte, n)
			for i := range recs {
				recs[i] = logRecord(len(want)+i, len(want)%5)
			}
			first, err := lg.appendBlock(recs)
			if err != nil {
				return err
			}
			if first != uint64(len(want))+1 || lg.last() != first+uint64(n)-1 {
				return fmt.Errorf("block of %d: first %d, last %d; want %d, %d", n, first, lg.last(), len(want)+1, len(want)+n)
			}
			for i := range recs {
				rec := bytes.Clone(recs[i])
				binary.BigEndian.PutUint64(rec[33:], first+uint64(i))
				want = append(want, rec)
				recs[i][40] ^= 0xff // appendBlock copied it
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(from uint64) {
		t.Helper()
		if err := s.log.View(func(tx *bbolt.Tx) error {
			lg := s.logOf(tx)
			for seq := uint64(0); seq <= uint64(len(want))+1; seq++ {
				got, err := lg.get(seq)
				if err != nil {
					t.Fatalf("get(%d): %v", seq, err)
				}
				if seq < from || seq > uint64(len(want)) {
					if got != nil {
						t.Fatalf("get(%d) = %x, want nothing", seq, got)
					}
					continue
				}
				if !bytes.Equal(got, want[seq-1]) {
					t.Fatalf("get(%d) = %x, want %x", seq, got, want[seq-1])
				}
			}
			for start := uint64(0); start <= uint64(len(want))+1; start++ {
				next := max(start, from, 1)
				err := lg.scan(start, func(seq uint64, rec []byte) (bool, error) {
					if seq != next || !bytes.Equal(rec, want[seq-1]) {
						t.Fatalf("scan from %d: %d %x, want %d %x", start, seq, rec, next, want[next-1])
					}
					next++
					return true, nil
				})
				if err != nil || next != uint64(len(want))+1 {
					t.Fatalf("scan from %d ended before %d, want %d: %v", start, next, len(want)+1, err)
				}
			}
			n := 0
			if err := lg.scan(from, func(uint64, []byte) (bool, error) { n++; return n < 4, nil }); err != nil || n != 4 {
				t.Fatalf("a scan told to stop after 4 called back %d times: %v", n, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check(1)
	if err := s.log.Update(func(tx *bbolt.Tx) error { return s.logOf(tx).truncate(17) }); err != nil {
		t.Fatal(err)
	}
	check(16) // segments of 8: records 1-15 are gone, 16 stays with its segment
}

// FuzzWalkBlock: any bytes as a log block, under any key, are records in
// order within the block, each long enough for an entry, or an error; never
// a panic.
func FuzzWalkBlock(f *testing.F) {
	block := binary.AppendUvarint(nil, uint64(32+entryHeader))
	block = append(block, logRecord(1, 0)...)
	f.Add(binary.BigEndian.AppendUint64(nil, 7), block)
	f.Add([]byte{1, 2}, []byte{})
	f.Add(binary.BigEndian.AppendUint64(nil, 1), append(bytes.Clone(block), 0x80))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		var next uint64
		if len(k) == 8 {
			next = binary.BigEndian.Uint64(k)
		}
		_, err := walkBlock(k, v, func(seq uint64, rec []byte) (bool, error) {
			if seq != next || len(rec) < 32+entryHeader || len(rec) > len(v) {
				t.Fatalf("record %d (want %d) of %d bytes from a block of %d", seq, next, len(rec), len(v))
			}
			next++
			return true, nil
		})
		if err == nil && (len(k) != 8 || len(v) == 0) {
			t.Fatalf("key %x, block of %d bytes: no error", k, len(v))
		}
	})
}

// TestLogDamagedBlock: a log block that does not parse makes a read of
// its records an error naming it, never "not found" or a silent gap.
func TestLogDamagedBlock(t *testing.T) {
	ctx := t.Context()
	s := openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true, MergeAt: 1 << 30})
	subs := subsOf("damaged", 10)
	if _, _, err := s.Submit(ctx, subs, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.log.Update(func(tx *bbolt.Tx) error {
		seg := tx.Bucket(bucketLog).Bucket(u64(1 >> s.segShift))
		k, v := seg.Cursor().First()
		bad := bytes.Clone(v)
		bad[0] = 1 // the first record's length: shorter than any record
		return seg.Put(bytes.Clone(k), bad)
	}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []store.Submission{subs[0], subs[9]} {
		_, err := s.Entry(ctx, sub.Fingerprint)
		if err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "bad log record") {
			t.Errorf("Entry of a fingerprint in a damaged block: %v, want the damage named", err)
		}
	}
	if _, _, err := s.PendingStats(ctx); err == nil || !strings.Contains(err.Error(), "bad log record") {
		t.Errorf("PendingStats with the oldest in a damaged block: %v, want the damage named", err)
	}
}
