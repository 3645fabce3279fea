package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// maxCommitFingerprints bounds the new fingerprints of one group commit
// (the rest wait for the next), so one commit's dirty pages stay bounded.
const maxCommitFingerprints = 256 << 10

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
	recs  [][]byte // log records: fingerprint | entry; apply writes the seq
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
