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
//
// The committer checks maxPending against the count in the transaction
// that writes the submission, after the submissions before it in the same
// group commit: the log's sequence minus the last sealed one.
func (s *Store) Submit(ctx context.Context, subs []store.Submission, maxPending int) ([]store.Record, int, error) {
	now := time.Now()
	// Keys and values handed to Put must stay valid until the commit; build
	// them once, outside the transaction (which may run more than once).
	r := &submitReq{
		max:  maxPending,
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
			return s.log.View(func(ltx *bbolt.Tx) error {
				r.pending = int(s.logOf(ltx).last() - min(s.sealed.Load(), s.logOf(ltx).last()))
				return nil
			})
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
		return nil, 0, err
	}
	return r.out, r.pending, nil
}

// submitReq is one Submit waiting for the committer.
type submitReq struct {
	max     int // Submit's maxPending
	subs    []store.Submission
	recs    [][]byte // log records: fingerprint | entry; appendBlock writes the seq
	news    []store.Entry
	out     []store.Record
	added   []uint64 // sequence numbers of the new entries, by subs index (0: not new)
	pending int      // pending after the commit (before it, if refused)
	err     error
	done    chan struct{} // closed once out/err are set
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
	if s.Unindexed() >= s.stallAt {
		s.stalls.Add(1)
	}
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
	return len(s.unindexed) + len(s.merging)
}

// IndexRuns reports how many runs the index is in (0 once closed).
func (s *Store) IndexRuns() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	set := s.acquireRuns()
	defer set.release(s)
	return len(set.runs)
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
			if err := s.write(fileLog, func(tx *bbolt.Tx) error { return s.applyAll(tx, []*submitReq{r}) }); err != nil {
				r.err = err
			} else {
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
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

// noteAdded puts the committed new entries of reqs into the unindexed map
// and the index filters, and wakes the merger when a merge is due.
func (s *Store) noteAdded(reqs []*submitReq) {
	s.imu.Lock()
	s.filter.mu.Lock()
	for _, r := range reqs {
		for i, seq := range r.added {
			if seq != 0 {
				fp := &r.subs[i].Fingerprint
				s.unindexed[*fp] = seq
				s.filter.addLocked(fp)
				s.mapTop = max(s.mapTop, seq)
			}
		}
	}
	s.filter.mu.Unlock()
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
// index's runs. A request whose new fingerprints would take the
// pending count past its max writes nothing and gets ErrFull. Each
// request's err is set here (nil unless refused): applyAll may run again,
// for fewer requests, after a failed transaction.
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
	idx := s.acquireRuns()
	defer idx.release(s)
	subsB := tx.Bucket(bucketSubs)
	// The count of pending fingerprints: the log's sequence (this
	// transaction's appends included) minus the last sealed one as of mtx,
	// which is the same or older than the mirror s.sealed, never newer.
	sealed := getU64(mtx.Bucket(bucketMeta), keySealed)
	pending := func() int { return int(lg.last() - min(sealed, lg.last())) }
	type local struct{ r, i int }
	here := map[fingerprint.Fingerprint]local{} // new in this transaction
	for ri, r := range reqs {
		r.out = make([]store.Record, len(r.subs))
		r.added = make([]uint64, len(r.subs))
		r.err = nil
		// First the fingerprints' entries: known (in firsts, made when
		// needed), or new in this transaction (earlier in r included); the
		// ones new in r go into here under their first index in r.
		var firsts []store.Entry
		fresh := 0
		isNew := func(i int) bool {
			l, ok := here[r.subs[i].Fingerprint]
			return ok && l == local{ri, i}
		}
		for i, sub := range r.subs {
			fp := sub.Fingerprint
			if _, ok := here[fp]; ok {
				continue
			}
			e, ok, err := s.known(fp, lg, idx, 0, nil)
			switch {
			case err != nil:
				return err
			case ok:
				if firsts == nil {
					firsts = make([]store.Entry, len(r.subs))
				}
				firsts[i] = e
			default:
				here[fp] = local{ri, i}
				fresh++
			}
		}
		if n := pending(); r.max > 0 && fresh > 0 && n+fresh > r.max {
			for i := range r.subs {
				if isNew(i) {
					delete(here, r.subs[i].Fingerprint)
				}
			}
			r.out, r.pending = nil, n
			r.err = fmt.Errorf("%w: %d fingerprints are waiting to be sealed, and %d new ones would pass the limit of %d", store.ErrFull, n, fresh, r.max)
			continue
		}
		recs := make([][]byte, 0, fresh) // r's new records, in order: one log block
		for i := range r.subs {
			if isNew(i) {
				recs = append(recs, r.recs[i])
			}
		}
		next := uint64(0) // the sequence number of r's next new record
		if len(recs) > 0 {
			var err error
			if next, err = lg.appendBlock(recs); err != nil {
				return err
			}
		}
		for i, sub := range r.subs {
			if isNew(i) {
				e := r.news[i]
				r.out[i] = store.Record{Fingerprint: sub.Fingerprint, Institution: e.Institution, ReceivedAt: e.ReceivedAt, New: true}
				r.added[i] = next
				next++
				continue
			}
			var first store.Entry
			if l, ok := here[sub.Fingerprint]; ok {
				first = reqs[l.r].news[l.i]
			} else {
				first = firsts[i]
			}
			rec, err := ownRecord(subsB, first, sub.Institution, r.news[i].ReceivedAt)
			if err != nil {
				return err
			}
			r.out[i] = rec
		}
		r.pending = pending()
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
