package bolt

import (
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// defaultSegmentShift sets the ingest log's segment size: 2^16 records.
// The log bucket holds one nested bucket per segment, so dropping the
// records that are sealed and indexed deletes whole buckets (their pages
// are freed at once) instead of deleting keys one by one.
const defaultSegmentShift = 16

// ingestLog is the log bucket of one transaction on the log file:
//
//	log               sequence: the last sequence number handed out
//	  segment(8)      seq >> l.shift
//	    seq(8)        fingerprint(32) | its fp entry
type ingestLog struct {
	b     *bbolt.Bucket
	shift uint // segment size 2^shift
}

func (s *Store) logOf(tx *bbolt.Tx) ingestLog { return ingestLog{tx.Bucket(bucketLog), s.segShift} }

// last is the last sequence number handed out (0: none yet).
func (l ingestLog) last() uint64 { return l.b.Sequence() }

// get returns the record of seq, or nil.
func (l ingestLog) get(seq uint64) []byte {
	seg := l.b.Bucket(u64(seq >> l.shift))
	if seg == nil {
		return nil
	}
	return seg.Get(u64(seq))
}

// append stores rec under the next sequence number, written into rec's
// entry, and returns it. rec must stay untouched until the commit.
func (l ingestLog) append(rec []byte) (uint64, error) {
	seq, err := l.b.NextSequence()
	if err != nil {
		return 0, err
	}
	seg, err := l.b.CreateBucketIfNotExists(u64(seq >> l.shift))
	if err != nil {
		return 0, err
	}
	seg.FillPercent = 1 // appended in key order: full pages
	binary.BigEndian.PutUint64(rec[32+1:], seq)
	return seq, seg.Put(u64(seq), rec)
}

// scan calls fn for the records from seq on, in order, until fn returns
// false.
func (l ingestLog) scan(from uint64, fn func(seq uint64, rec []byte) (bool, error)) error {
	segs := l.b.Cursor()
	for sk, _ := segs.Seek(u64(from >> l.shift)); sk != nil; sk, _ = segs.Next() {
		seg := l.b.Bucket(sk)
		if seg == nil {
			return fmt.Errorf("bolt: log segment %x is not a bucket", sk)
		}
		c := seg.Cursor()
		for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
			if len(k) != 8 || len(v) < 32+entryHeader {
				return fmt.Errorf("bolt: bad log record %x", k)
			}
			if more, err := fn(binary.BigEndian.Uint64(k), v); err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// truncate deletes the segments whose records are all at or below seq.
func (l ingestLog) truncate(seq uint64) error {
	var drop [][]byte
	c := l.b.Cursor()
	for sk, _ := c.First(); sk != nil && len(sk) == 8; sk, _ = c.Next() {
		if end := (binary.BigEndian.Uint64(sk)+1)<<l.shift - 1; end > seq {
			break
		}
		drop = append(drop, sk)
	}
	for _, sk := range drop {
		if err := l.b.DeleteBucket(sk); err != nil {
			return err
		}
	}
	return nil
}
