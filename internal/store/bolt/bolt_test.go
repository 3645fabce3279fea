package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/storetest"
)

func open(t testing.TB, path string, noSync bool) *Store {
	t.Helper()
	s, err := Open(Config{Path: path, NoSync: noSync})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openCfg(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStore runs the conformance suite with the default merge thresholds
// (nothing is merged into the index during a test) and with a merge after
// every commit, racing the suite's operations.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "attestd.db"), true)
	})
	t.Run("merging", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true, MergeAt: 1, segmentShift: 2})
		})
	})
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T, dir string) store.Store {
		return open(t, filepath.Join(dir, "attestd.db"), false)
	})
	t.Run("merging", func(t *testing.T) {
		storetest.RunReopen(t, func(t *testing.T, dir string) store.Store {
			return openCfg(t, Config{Path: filepath.Join(dir, "attestd.db"), MergeAt: 3, segmentShift: 3})
		})
	})
}

// TestMergeAndReload follows fingerprints through the log, the in-memory
// map, a reopen (the map is rebuilt from the log), a merge into the index
// and the log's truncation, checking every entry at each step.
func TestMergeAndReload(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	cfg := Config{Path: path, MergeAt: 1 << 30, MergeEvery: time.Hour, segmentShift: 4} // segments of 16 records
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	fps := make([]fingerprint.Fingerprint, n)
	want := map[fingerprint.Fingerprint]store.Entry{}
	for i := range fps {
		fps[i] = fingerprint.Sum([]byte(fmt.Sprintf("merge %d", i)))
	}
	for i := 0; i < n; i += 100 {
		subs := make([]store.Submission, 100)
		for j := range subs {
			subs[j] = store.Submission{Fingerprint: fps[i+j], Institution: fmt.Sprint("inst", j%3)}
		}
		es, _, err := s.Submit(ctx, subs, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			want[e.Fingerprint] = store.Entry{Fingerprint: e.Fingerprint, Institution: e.Institution, ReceivedAt: e.ReceivedAt}
		}
	}
	seal := func(s *Store, k int) {
		t.Helper()
		pend, err := s.Pending(ctx, k)
		if err != nil || len(pend) != k {
			t.Fatalf("Pending(%d) = %d, %v", k, len(pend), err)
		}
		tree, err := merkle.Build(pend)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.CommitBatch(ctx, pend, tree, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for i, fp := range pend {
			e := want[fp]
			e.BatchID, e.Index = b.ID, uint64(i)
			want[fp] = e
		}
	}
	elses := map[fingerprint.Fingerprint]time.Time{} // someone else's first re-submissions
	check := func(s *Store, step string) {
		t.Helper()
		for fp, w := range want {
			e, err := s.Entry(ctx, fp)
			if err != nil || e.BatchID != w.BatchID || e.Index != w.Index || !e.ReceivedAt.Equal(w.ReceivedAt) || e.Institution != w.Institution {
				t.Fatalf("%s: entry %x = %+v, %v; want %+v", step, fp[:4], e, err, w)
			}
		}
		// Re-submitting finds every one, whoever submits.
		subs := make([]store.Submission, 0, len(want))
		for fp := range want {
			subs = append(subs, store.Submission{Fingerprint: fp, Institution: "someone else"})
		}
		es, _, err := s.Submit(ctx, subs, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			// Known (not New), and someone else's own record: the time of
			// its first re-submission, whichever step that was in.
			first, seen := elses[e.Fingerprint]
			if e.New || e.Institution != "someone else" || seen && !e.ReceivedAt.Equal(first) || e.ReceivedAt.Equal(want[e.Fingerprint].ReceivedAt) {
				t.Fatalf("%s: re-submission of %x gave %+v, want someone else's own record (first %v)", step, e.Fingerprint[:4], e, first)
			}
			elses[e.Fingerprint] = e.ReceivedAt
		}
		if c, _, err := s.PendingStats(ctx); err != nil || c != n-300 {
			t.Fatalf("%s: PendingStats = %d, %v; want %d", step, c, err, n-300)
		}
	}
	unindexed := func(s *Store) int {
		s.imu.RLock()
		defer s.imu.RUnlock()
		return len(s.unindexed)
	}
	logRecords := func(s *Store) (n int, first uint64) {
		s.log.View(func(tx *bbolt.Tx) error {
			return s.logOf(tx).scan(0, func(seq uint64, _ []byte) (bool, error) {
				if n == 0 {
					first = seq
				}
				n++
				return true, nil
			})
		})
		return n, first
	}

	seal(s, 300)
	check(s, "in the log")
	if got := unindexed(s); got != n {
		t.Fatalf("%d unindexed before any merge, want %d", got, n)
	}
	s.Close()

	s = openCfg(t, cfg)
	if got := unindexed(s); got != n {
		t.Fatalf("%d unindexed after reopening, want %d (rebuilt from the log)", got, n)
	}
	check(s, "reopened")
	if recs, first := logRecords(s); recs != n || first != 1 {
		t.Fatalf("log before any merge: %d records from %d, want %d from 1", recs, first, n)
	}

	if err := s.merge(); err != nil {
		t.Fatal(err)
	}
	if got := unindexed(s); got != 0 || s.indexed.Load() != n {
		t.Fatalf("after a merge: %d unindexed, indexed through %d; want 0 and %d", got, s.indexed.Load(), n)
	}
	check(s, "merged")
	// Commits (check re-submits) delete the log segments that are sealed
	// and indexed: sequence numbers 1…300 are, and segments of 16 records
	// end at 15, 31, … 287, 303.
	if _, _, err := s.Submit(ctx, []store.Submission{{Fingerprint: fps[0], Institution: "x"}}, 0); err != nil {
		t.Fatal(err)
	}
	if recs, first := logRecords(s); recs != n-287 || first != 288 {
		t.Fatalf("log after truncation: %d records from %d, want %d from 288", recs, first, n-287)
	}
	seal(s, 200)
	want2 := n - 500
	s.Close()
	s = openCfg(t, cfg)
	if got := unindexed(s); got != 0 {
		t.Fatalf("%d unindexed after reopening a merged store", got)
	}
	for fp, w := range want {
		if e, err := s.Entry(ctx, fp); err != nil || e.BatchID != w.BatchID || e.Index != w.Index {
			t.Fatalf("after the second seal and reopen: entry %x = %+v, %v; want %+v", fp[:4], e, err, w)
		}
	}
	if c, _, _ := s.PendingStats(ctx); c != want2 {
		t.Fatalf("PendingStats = %d, want %d", c, want2)
	}
}

// TestMissingLog: a main file whose ingest log is gone is refused, not
// reopened with a fresh log (whose sequence numbers would collide).
func TestMissingLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attestd.db")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	sealOne(t, s, fingerprint.Sum([]byte("x")))
	s.Close()
	if err := os.Remove(path + LogSuffix); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(Config{Path: path}); err == nil || !strings.Contains(err.Error(), "ingest log") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open without the log: %v, want an error naming the ingest log", err)
	}
}

// sealOne submits fp and seals it as a batch of its own.
func sealOne(t *testing.T, s *Store, fp fingerprint.Fingerprint) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.Submit(ctx, []store.Submission{{Fingerprint: fp, Institution: "a"}}, 0); err != nil {
		t.Fatal(err)
	}
	tree, _ := merkle.Build([]fingerprint.Fingerprint{fp})
	if _, err := s.CommitBatch(ctx, []fingerprint.Fingerprint{fp}, tree, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestFreelistOnDisk: the index writes its freelist, so opening it never
// reads every page to rebuild one (20 s for a cold 10M-fingerprint index);
// the log, committed at every ingest, does not.
func TestFreelistOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attestd.db")
	s := open(t, path, true)
	sealOne(t, s, fingerprint.Sum([]byte("x")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := freelistPage(t, path); got == noFreelist {
		t.Errorf("the index has no freelist on disk: opening it rebuilds one from every page")
	}
	if got := freelistPage(t, path+LogSuffix); got != noFreelist {
		t.Errorf("the log has its freelist on disk (page %d): every ingest commit writes it", got)
	}
}

// noFreelist is bbolt's meta.freelist when the freelist is not written.
const noFreelist = ^uint64(0)

// freelistPage reads the freelist page ID of the bbolt file at path from
// its current meta page: the one of the two at the start of the file with
// the higher transaction ID. A meta page is a 16-byte page header, then
// magic, version, page size, flags (4 bytes each), the root bucket (16),
// and then the freelist page ID, the high-water page ID and the
// transaction ID (8 each), little-endian here.
func freelistPage(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(b[16+8:]))
	if ps < 512 || len(b) < 2*ps || binary.LittleEndian.Uint32(b[16:]) != 0xED0CDAED {
		t.Fatalf("%s: not a bbolt file (page size %d)", path, ps)
	}
	var best, txid uint64
	for i := range 2 {
		m := b[i*ps+16:]
		if tx := binary.LittleEndian.Uint64(m[48:]); i == 0 || tx > txid {
			best, txid = binary.LittleEndian.Uint64(m[32:]), tx
		}
	}
	return best
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attestd.db")
	open(t, path, true)
	for _, p := range []string{path, path + LogSuffix} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&^0o600 != 0 {
			t.Errorf("%s: file mode %v, want at most 0600", p, m)
		}
	}
}

func TestOpenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attestd.db")
	first := open(t, path, true)

	start := time.Now()
	s, err := Open(Config{Path: path, LockTimeout: 200 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, ErrInUse) {
		t.Errorf("second Open error = %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open error %q does not name the file and say it is in use", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v to fail", d)
	}

	// Once the first is closed the file opens again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path, true)
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Error("Open with no path succeeded")
	}
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "missing", "attestd.db")}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	notBolt := filepath.Join(t.TempDir(), "notbolt")
	if err := os.WriteFile(notBolt, []byte(strings.Repeat("not a bolt file\n", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Path: notBolt}); err == nil {
		t.Error("Open of a file that is not a bolt database succeeded")
	}
}

func TestCommitBatchRejectsForeignTree(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "attestd.db"), true)
	a, b := fingerprint.Sum([]byte("a")), fingerprint.Sum([]byte("b"))
	if _, _, err := s.Submit(ctx, []store.Submission{{Fingerprint: a, ReceivedAt: time.Now()}, {Fingerprint: b, ReceivedAt: time.Now()}}, 0); err != nil {
		t.Fatal(err)
	}
	fps := []fingerprint.Fingerprint{a, b}
	other, err := merkle.Build([]fingerprint.Fingerprint{b, a})
	if err != nil {
		t.Fatal(err)
	}
	small, err := merkle.Build(fps[:1])
	if err != nil {
		t.Fatal(err)
	}
	good, err := merkle.Build(fps)
	if err != nil {
		t.Fatal(err)
	}
	truncated := *good
	truncated.Levels = good.Levels[:len(good.Levels)-1]
	for name, tree := range map[string]*merkle.Tree{"nil": nil, "other leaves": other, "other size": small, "missing level": &truncated} {
		if _, err := s.CommitBatch(ctx, fps, tree, time.Now()); err == nil || errors.Is(err, store.ErrConflict) {
			t.Errorf("CommitBatch with a %s tree: error %v, want a validation error", name, err)
		}
	}
	if _, err := s.CommitBatch(ctx, nil, good, time.Now()); err == nil {
		t.Error("CommitBatch of no fingerprints succeeded")
	}
	if n, _, _ := s.PendingStats(ctx); n != 2 {
		t.Errorf("pending count %d after refused commits, want 2", n)
	}
	if _, err := s.CommitBatch(ctx, fps, good, time.Now()); err != nil {
		t.Errorf("CommitBatch with the right tree: %v", err)
	}
}

func TestSubmitZeroTime(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "attestd.db"), true)
	before := time.Now()
	es, _, err := s.Submit(context.Background(), []store.Submission{{Fingerprint: fingerprint.Sum([]byte("x"))}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := es[0].ReceivedAt; got.Before(before.Truncate(time.Nanosecond)) || got.After(time.Now()) {
		t.Errorf("ReceivedAt of a submission without a time = %v, want about now", got)
	}
}

// TestMergeTriggers: a merge starts once MergeAt fingerprints are
// unindexed, and once the oldest has waited MergeEvery.
func TestMergeTriggers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"count", Config{MergeAt: 10, MergeEvery: time.Hour}},
		{"age", Config{MergeAt: 1 << 30, MergeEvery: 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Path, cfg.NoSync = filepath.Join(t.TempDir(), "attestd.db"), true
			s := openCfg(t, cfg)
			subs := make([]store.Submission, 10)
			for i := range subs {
				subs[i] = store.Submission{Fingerprint: fingerprint.Sum([]byte(fmt.Sprint(tc.name, i))), Institution: "a"}
			}
			if _, _, err := s.Submit(ctx, subs, 0); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for s.indexed.Load() != 10 {
				if time.Now().After(deadline) {
					t.Fatalf("no merge within 10 s: indexed through %d", s.indexed.Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
			s.imu.RLock()
			n := len(s.unindexed)
			s.imu.RUnlock()
			if n != 0 {
				t.Fatalf("%d still unindexed after the merge", n)
			}
			for _, sub := range subs {
				if e, err := s.Entry(ctx, sub.Fingerprint); err != nil || e.Institution != "a" {
					t.Fatalf("entry after merge: %+v, %v", e, err)
				}
			}
		})
	}
	t.Run("below both", func(t *testing.T) {
		s := openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true, MergeAt: 1 << 30, MergeEvery: time.Hour})
		if _, _, err := s.Submit(ctx, []store.Submission{{Fingerprint: fingerprint.Sum([]byte("x")), Institution: "a"}}, 0); err != nil {
			t.Fatal(err)
		}
		// Wake the merger and wait for it to decide: it must not merge.
		before := s.mergeRounds.Load()
		s.mergeWake <- struct{}{}
		deadline := time.Now().Add(10 * time.Second)
		for s.mergeRounds.Load() == before {
			if time.Now().After(deadline) {
				t.Fatal("the merger did not look within 10 s of a wake")
			}
			time.Sleep(time.Millisecond)
		}
		if s.indexed.Load() != 0 || s.Unindexed() != 1 {
			t.Fatal("merged below MergeAt and before MergeEvery")
		}
	})
}

// TestWriteStall: while the merger cannot keep up (here: it cannot write
// the index at all), commits wait once twice MergeAt fingerprints are
// unindexed, and go on once it catches up.
func TestWriteStall(t *testing.T) {
	ctx := context.Background()
	s := openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true, MergeAt: 10, MergeEvery: time.Hour})
	submit := func(round int) error {
		subs := make([]store.Submission, 10)
		for i := range subs {
			subs[i] = store.Submission{Fingerprint: fingerprint.Sum([]byte(fmt.Sprint("stall", round, i))), Institution: "a"}
		}
		_, _, err := s.Submit(ctx, subs, 0)
		return err
	}
	tx, err := s.db.Begin(true) // holds the index's write lock: no merge can commit
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := submit(round); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- submit(2) }()
	// Wait for the committer to hold the third commit back (or for the
	// commit, if it wrongly went through), not for a time.
	deadline := time.Now().Add(10 * time.Second)
	for s.stalls.Load() == 0 {
		select {
		case err := <-done:
			tx.Rollback()
			t.Fatalf("a commit went through with %d unindexed (stall at 20): %v", s.Unindexed(), err)
		default:
		}
		if time.Now().After(deadline) {
			tx.Rollback()
			t.Fatal("the committer did not stall within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		tx.Rollback()
		t.Fatalf("a stalled commit went through with %d unindexed (stall at 20): %v", s.Unindexed(), err)
	default:
	}
	if n := s.Unindexed(); n != 20 {
		t.Fatalf("%d unindexed during the stall, want 20", n)
	}
	tx.Rollback()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for s.Unindexed() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d still unindexed 10 s after the merger was let go", s.Unindexed())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMergeAfterUncertainRound: a merge round whose transaction
// committed though it reported a failure (an fsync that failed after the
// meta page was written) leaves a run in the index with "indexed" not
// raised in memory, and all of the round in its map (merging). The next
// round takes the fingerprints committed since into that map, reads the
// records from the log again and writes them into a second run, with the
// same values; every fingerprint reads back as submitted, before and after
// a compaction of the two runs (which keeps one entry of each) and a
// reopen.
func TestMergeAfterUncertainRound(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	cfg := Config{Path: path, MergeAt: 1 << 30, MergeEvery: time.Hour}
	s := openCfg(t, cfg)
	subs := subsOf("partial", 3000)
	recs, _, err := s.Submit(ctx, subs, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The round, listed as a run, as the uncertain commit leaves it.
	s.imu.Lock()
	s.merging, s.unindexed = s.unindexed, map[fingerprint.Fingerprint]uint64{}
	s.imu.Unlock()
	r, err := s.readRound(s.indexed.Load()+1, s.mapTop, s.Unindexed())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.pairs) != len(subs) {
		t.Fatalf("the round has %d records, want %d", len(r.pairs), len(subs))
	}
	nr, err := s.writeRound(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.commitRound(nr, r); err != nil {
		t.Fatal(err)
	}
	if n := s.Unindexed(); n != len(subs) {
		t.Fatalf("%d unindexed after the uncertain round, want %d", n, len(subs))
	}
	// Committed after the failed round: in the new map.
	more := subsOf("after", 500)
	recs2, _, err := s.Submit(ctx, more, 0)
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, recs2...)

	if err := s.merge(); err != nil {
		t.Fatal(err)
	}
	if n := s.Unindexed(); n != 0 {
		t.Fatalf("%d fingerprints left unindexed", n)
	}
	if got, want := s.indexed.Load(), s.mapTop; got != want {
		t.Fatalf("indexed = %d, want %d (the highest sequence number merged)", got, want)
	}
	check := func(s *Store, step string) {
		t.Helper()
		for _, rec := range recs {
			e, err := s.Entry(ctx, rec.Fingerprint)
			if err != nil || e.Institution != rec.Institution || !e.ReceivedAt.Equal(rec.ReceivedAt) || !e.Pending() {
				t.Fatalf("%s: %x = %+v, %v; want pending, as submitted", step, rec.Fingerprint[:4], e, err)
			}
		}
		idx := s.acquireRuns()
		defer idx.release(s)
		if n := idx.len(); n != uint64(len(recs)+len(subs)*(len(idx.runs)-1)) {
			t.Fatalf("%s: the index holds %d entries in %d runs, want %d", step, n, len(idx.runs), len(recs)+len(subs)*(len(idx.runs)-1))
		}
	}
	check(s, "merged")
	// The two runs hold subs twice: a compaction keeps one of each.
	idx := s.acquireRuns()
	if len(idx.runs) != 2 {
		t.Fatalf("%d runs, want 2", len(idx.runs))
	}
	s.cmu.Lock()
	err = s.compact(idx.runs)
	s.cmu.Unlock()
	idx.release(s)
	if err != nil {
		t.Fatal(err)
	}
	check(s, "compacted")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openCfg(t, cfg)
	if n := s.Unindexed(); n != 0 {
		t.Fatalf("reopened: %d fingerprints unindexed, want 0", n)
	}
	check(s, "reopened")
}
