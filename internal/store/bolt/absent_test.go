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
