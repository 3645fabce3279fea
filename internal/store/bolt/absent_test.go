package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// waitFor polls cond (yielding in between) for at most 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: not %s", what)
		}
		runtime.Gosched()
	}
}

// TestAbsentFilter: with the index filters in use, a fingerprint merged
// into the index is still known when submitted again (its first record,
// not a new one), across merges, new filters (the first holds 16) and a
// reopen; and the filters do answer "absent" for new ones.
func TestAbsentFilter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	cfg := Config{Path: path, MergeAt: 1, MergeEvery: time.Millisecond, segmentShift: 3, filterMin: 16}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the filter of the empty index is in use", s.filter.ready)

	first := map[fingerprint.Fingerprint]store.Record{}
	var all []fingerprint.Fingerprint
	submit := func(s *Store, round int) {
		t.Helper()
		subs := make([]store.Submission, 20)
		for i := range subs {
			fp := fingerprint.Sum(fmt.Appendf(nil, "absent %d %d", round, i))
			subs[i] = store.Submission{Fingerprint: fp, Institution: "lab"}
			all = append(all, fp)
		}
		recs, _, err := s.Submit(ctx, subs, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if !r.New {
				t.Fatalf("round %d: %s is not new", round, r.Fingerprint)
			}
			first[r.Fingerprint] = r
		}
		waitFor(t, "merged", func() bool { return s.Unindexed() == 0 })
	}
	again := func(s *Store, when string) {
		t.Helper()
		subs := make([]store.Submission, len(all))
		for i, fp := range all {
			subs[i] = store.Submission{Fingerprint: fp, Institution: "lab"}
		}
		recs, _, err := s.Submit(ctx, subs, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.New || !r.ReceivedAt.Equal(first[r.Fingerprint].ReceivedAt) {
				t.Fatalf("%s: %s submitted again is new %v, received %v (first %v)", when, r.Fingerprint, r.New, r.ReceivedAt, first[r.Fingerprint].ReceivedAt)
			}
		}
	}
	for round := range 5 { // 100 fingerprints: past 16 and 16+32: three filters
		submit(s, round)
		again(s, fmt.Sprintf("after merge %d", round))
	}
	s.filter.mu.RLock()
	if len(s.filter.filters) != 3 || s.filter.limit != 64 {
		t.Fatalf("%d filters, the newest of %d: want 3 (16, 32, 64)", len(s.filter.filters), s.filter.limit)
	}
	s.filter.mu.RUnlock()
	for _, fp := range all {
		if s.filter.absent(&fp) {
			t.Fatalf("the filter says %s, indexed, is absent", fp)
		}
	}
	again(s, "after merges and rebuilds")
	absent := 0
	for i := range 1000 {
		fp := fingerprint.Sum(fmt.Appendf(nil, "never %d", i))
		if s.filter.absent(&fp) {
			absent++
		}
	}
	if absent < 900 {
		t.Fatalf("the filter says %d of 1,000 new fingerprints are absent, want most", absent)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openCfg(t, cfg)
	waitFor(t, "the filter rebuilt after the reopen", s.filter.ready)
	again(s, "after a reopen")
	submit(s, 99)
	again(s, "after a merge into the reopened store")
}

// TestAbsentFilterCoversMaps: the filters also hold the fingerprints not
// yet merged: those loaded from the log at Open (the filter is built from
// the map as well as the index), those committed since, and those of a
// merge round in progress. Each, submitted again, is known, not new.
func TestAbsentFilterCoversMaps(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	cfg := Config{Path: path, MergeAt: 1 << 30, MergeEvery: time.Hour, filterMin: 16}
	s := openCfg(t, cfg)
	var subs []store.Submission
	submit := func(s *Store, tag string) {
		t.Helper()
		more := subsOf(tag, 40)
		if _, _, err := s.Submit(ctx, more, 0); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, more...)
	}
	again := func(s *Store, when string) {
		t.Helper()
		for _, sub := range subs {
			if s.filter.absent(&sub.Fingerprint) {
				t.Fatalf("%s: the filter says %s, unindexed, is absent", when, sub.Fingerprint)
			}
		}
		recs, _, err := s.Submit(ctx, subs, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.New {
				t.Fatalf("%s: %s submitted again is new", when, r.Fingerprint)
			}
		}
	}
	submit(s, "first")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openCfg(t, cfg)
	waitFor(t, "the filter built after the reopen", s.filter.ready)
	if n := s.Unindexed(); n != len(subs) {
		t.Fatalf("%d unindexed after the reopen, want %d", n, len(subs))
	}
	again(s, "loaded from the log")
	submit(s, "second")
	again(s, "committed after the filter was built")
	// A round in progress: its map taken, nothing of it indexed yet.
	s.imu.Lock()
	s.merging, s.unindexed = s.unindexed, map[fingerprint.Fingerprint]uint64{}
	s.imu.Unlock()
	submit(s, "third")
	again(s, "during a merge round")
	if err := s.merge(); err != nil {
		t.Fatal(err)
	}
	if n := s.Unindexed(); n != 0 {
		t.Fatalf("%d unindexed after the merge", n)
	}
	again(s, "merged")
}
