package bolt

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
)

// merger indexes the unindexed fingerprints in the background until
// Close: when MergeAt of them are waiting, or the oldest has waited
// MergeEvery.
func (s *Store) merger() {
	defer close(s.mergeDone)
	tick := time.NewTicker(max(min(s.mergeEvery/4, time.Second), time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.mergeWake:
		case <-tick.C:
		}
		s.imu.RLock()
		n, since := len(s.unindexed), s.since
		s.imu.RUnlock()
		if n == 0 || n < s.mergeAt && time.Since(since) < s.mergeEvery {
			s.mergeRounds.Add(1)
			continue
		}
		err := s.merge()
		s.mergeRounds.Add(1)
		if err != nil {
			// The fingerprints stay in the map and the log: nothing is
			// lost, and the next round tries again. A stalled committer
			// is told (see waitMerger).
			s.logger.Error("bolt: merging into the index failed; retrying later", "err", err)
			s.mergeErr.Store(&err)
			select {
			case s.merged <- struct{}{}:
			default:
			}
		}
	}
}

// pair is an unindexed fingerprint and its sequence number.
type pair struct {
	fp  fingerprint.Fingerprint
	seq uint64
}

// merge writes every unindexed fingerprint into the fp bucket, in key
// order, in transactions of mergeChunk fingerprints; each key range
// leaves the map once its transaction has committed. The last transaction
// also raises meta "indexed" to the highest sequence number merged: the
// map held every log record up to there (the committer adds a commit's
// records at once), so after a crash the log records above "indexed" are
// exactly the ones to load again. Entries written twice (after a crash
// between chunks) are written with the same value.
func (s *Store) merge() error {
	s.imu.RLock()
	round := make([]pair, 0, len(s.unindexed))
	for fp, seq := range s.unindexed {
		round = append(round, pair{fp, seq})
	}
	s.imu.RUnlock()
	if len(round) == 0 {
		return nil
	}
	slices.SortFunc(round, func(a, b pair) int { return bytes.Compare(a.fp[:], b.fp[:]) })
	top := uint64(0)
	for _, p := range round {
		top = max(top, p.seq)
	}
	size := mergeChunk(len(round), s.indexed.Load())
	for len(round) > 0 {
		select {
		case <-s.stop:
			return nil // what is left stays unindexed until the next open
		default:
		}
		chunk := round[:min(len(round), size)]
		round = round[len(chunk):]
		// Read the records first, in a view of the log alone (no one holds
		// a log view while waiting for the main file).
		vals := make([][]byte, len(chunk))
		err := s.log.View(func(ltx *bbolt.Tx) error {
			lg := s.logOf(ltx)
			for i, p := range chunk {
				rec := lg.get(p.seq)
				if len(rec) < 32+entryHeader || !bytes.Equal(rec[:32], p.fp[:]) {
					return fmt.Errorf("bolt: unindexed fingerprint %x has no log record %d", p.fp[:], p.seq)
				}
				vals[i] = bytes.Clone(rec[32:])
			}
			return nil
		})
		if err != nil {
			return err
		}
		last := len(round) == 0
		err = s.write(fileIndex, func(tx *bbolt.Tx) error {
			fps := tx.Bucket(bucketFP)
			for i, p := range chunk {
				if err := fps.Put(p.fp[:], vals[i]); err != nil {
					return err
				}
			}
			if last {
				return tx.Bucket(bucketMeta).Put(keyIndexed, u64(top))
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.filter.added(chunk) // before they leave the map: see absentFilter.added
		s.imu.Lock()
		for _, p := range chunk {
			if s.unindexed[p.fp] == p.seq {
				delete(s.unindexed, p.fp)
			}
		}
		if last {
			s.indexed.Store(top)
		}
		s.since = time.Time{}
		if len(s.unindexed) > 0 {
			s.since = time.Now() // roughly: the rest arrived during this round
		}
		if last {
			// A Go map keeps the space of its largest size: start afresh
			// with what arrived during the round.
			m := make(map[fingerprint.Fingerprint]uint64, len(s.unindexed))
			maps.Copy(m, s.unindexed)
			s.unindexed = m
		}
		s.imu.Unlock()
		s.mergeErr.Store(nil) // before the signal: see waitMerger
		select {
		case s.merged <- struct{}{}:
		default:
		}
	}
	return nil
}

// entriesPerPage is about how many fp entries fill a 4 KiB leaf page (an
// entry is about 90 bytes with its key and page element).
const entriesPerPage = 45

// mergeChunk returns how many of n sorted fingerprints one merge
// transaction takes, with about indexed entries in the index. The chunk is
// a key range: k sorted keys spread over the key space rewrite about
// min(k, P·k/n) of the index's P leaf pages, so a chunk of
// mergePages·max(1, n/P) keys rewrites about mergePages pages. The total
// rewritten by the round does not depend on the chunking.
//
// It is at most mergePages·entriesPerPage keys, whose entries fill about
// mergePages new pages when the index is small.
func mergeChunk(n int, indexed uint64) int {
	pages := max(indexed/entriesPerPage, 1)
	return max(mergePages, int(min(uint64(n)*mergePages/pages, mergePages*entriesPerPage)))
}
