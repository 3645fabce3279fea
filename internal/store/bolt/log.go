package bolt

import (
	"bytes"
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
//	    seq(8)        a block: the records of seq, seq+1, … (the new
//	                  fingerprints of one request, in one segment), each
//	                  uvarint(length) | fingerprint(32) | its fp entry
//
// A block is one bbolt key for a request's records: a Put per record was
// a descent of the segment's B+tree per fingerprint, a tenth of attestd's
// CPU on bulk ingest (docs/benchmarks.md, section 21).
type ingestLog struct {
	b     *bbolt.Bucket
	shift uint // segment size 2^shift
}

func (s *Store) logOf(tx *bbolt.Tx) ingestLog { return ingestLog{tx.Bucket(bucketLog), s.segShift} }

// last is the last sequence number handed out (0: none yet).
func (l ingestLog) last() uint64 { return l.b.Sequence() }

// get returns the record of seq, or nil if the log does not hold it (it
// was dropped, or not handed out). A block that holds it but does not
// parse is an error, not a missing record.
func (l ingestLog) get(seq uint64) ([]byte, error) {
	seg := l.b.Bucket(u64(seq >> l.shift))
	if seg == nil {
		return nil, nil
	}
	var rec []byte
	if k, v := seekBlock(seg.Cursor(), seq); k != nil {
		_, err := walkBlock(k, v, func(s uint64, r []byte) (bool, error) {
			if s == seq {
				rec = r
			}
			return s < seq, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// appendBlock stores recs under the next sequence numbers, which it
// writes into their entries, and returns the first. It copies them: recs
// may change once it returns.
func (l ingestLog) appendBlock(recs [][]byte) (uint64, error) {
	first := l.last() + 1
	if err := l.b.SetSequence(l.last() + uint64(len(recs))); err != nil {
		return 0, err
	}
	for seq := first; len(recs) > 0; {
		// The records up to the segment's end.
		n := min(uint64(len(recs)), (seq>>l.shift+1)<<l.shift-seq)
		size := 0
		for _, rec := range recs[:n] {
			size += binary.MaxVarintLen32 + len(rec)
		}
		block := make([]byte, 0, size)
		for i, rec := range recs[:n] {
			binary.BigEndian.PutUint64(rec[32+1:], seq+uint64(i))
			block = binary.AppendUvarint(block, uint64(len(rec)))
			block = append(block, rec...)
		}
		seg, err := l.b.CreateBucketIfNotExists(u64(seq >> l.shift))
		if err != nil {
			return 0, err
		}
		seg.FillPercent = 1 // appended in key order: full pages
		if err := seg.Put(u64(seq), block); err != nil {
			return 0, err
		}
		seq, recs = seq+n, recs[n:]
	}
	return first, nil
}

// scan calls fn for the records from seq on, in order, until fn returns
// false.
func (l ingestLog) scan(from uint64, fn func(seq uint64, rec []byte) (bool, error)) error {
	segs := l.b.Cursor()
	first := true
	for sk, _ := segs.Seek(u64(from >> l.shift)); sk != nil; sk, _ = segs.Next() {
		seg := l.b.Bucket(sk)
		if seg == nil {
			return fmt.Errorf("bolt: log segment %x is not a bucket", sk)
		}
		c := seg.Cursor()
		k, v := c.First()
		if first {
			k, v = seekBlock(c, from)
			first = false
		}
		for ; k != nil; k, v = c.Next() {
			stopped, err := walkBlock(k, v, func(seq uint64, rec []byte) (bool, error) {
				if seq < from {
					return true, nil
				}
				return fn(seq, rec)
			})
			if err != nil || stopped {
				return err
			}
		}
	}
	return nil
}

// seekBlock positions c on the block of a segment that holds seq if one
// does: the last block that starts at or before seq, or else the first.
func seekBlock(c *bbolt.Cursor, seq uint64) (k, v []byte) {
	key := u64(seq)
	k, v = c.Seek(key)
	if bytes.Equal(k, key) {
		return k, v
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil {
		return c.First()
	}
	return k, v
}

// walkBlock calls fn for each record of the block v at key k, in order,
// until fn returns false; it reports whether fn did.
func walkBlock(k, v []byte, fn func(seq uint64, rec []byte) (bool, error)) (stopped bool, err error) {
	if len(k) != 8 || len(v) == 0 {
		return false, fmt.Errorf("bolt: bad log block %x", k)
	}
	for seq := binary.BigEndian.Uint64(k); len(v) > 0; seq++ {
		n, w := binary.Uvarint(v)
		if w <= 0 || n < 32+entryHeader || n > uint64(len(v)-w) {
			return false, fmt.Errorf("bolt: bad log record %d in block %x", seq, k)
		}
		rec := v[w : w+int(n) : w+int(n)]
		if more, err := fn(seq, rec); err != nil || !more {
			return true, err
		}
		v = v[w+int(n):]
	}
	return false, nil
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
