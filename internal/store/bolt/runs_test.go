package bolt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/crashpoint"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// fakeRuns returns runs of the given sizes, with no file.
func fakeRuns(sizes ...uint64) []*run {
	var runs []*run
	for i, n := range sizes {
		runs = append(runs, &run{id: uint64(i), n: n})
	}
	return runs
}

// TestPickCompaction: the runs of the lowest tier with compactFanIn or more
// are merged, at most 2·compactFanIn at once; fewer than compactFanIn per
// tier are left alone.
func TestPickCompaction(t *testing.T) {
	const b = tierBase
	for _, tc := range []struct {
		sizes []uint64
		want  []int // indices into sizes
	}{
		{sizes: nil},
		{sizes: []uint64{10, 20, 30}},
		{sizes: []uint64{10, 20, 30, 40}, want: []int{0, 1, 2, 3}},
		// 1, 4 and 16 tierBase are tiers 0, 1 and 2: no tier has four.
		{sizes: []uint64{b, b, b, 4 * b, 4 * b, 4 * b, 16 * b}},
		// Tier 1 has four; tier 0 three.
		{sizes: []uint64{b, 4 * b, b, 5 * b, 6 * b, b, 15 * b}, want: []int{1, 3, 4, 6}},
		// Both full: the lower first.
		{sizes: []uint64{4 * b, 4 * b, 4 * b, 4 * b, 1, 2, 3, 4, 5}, want: []int{4, 5, 6, 7, 8}},
		{sizes: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, want: []int{0, 1, 2, 3, 4, 5, 6, 7}},
	} {
		runs := fakeRuns(tc.sizes...)
		got := pickCompaction(runs)
		var want []*run
		for _, i := range tc.want {
			want = append(want, runs[i])
		}
		if !slices.Equal(got, want) {
			t.Errorf("sizes %v: picked %d runs, want %v", tc.sizes, len(got), tc.want)
		}
	}
}

// runFiles lists the run files in the index directory.
func runFiles(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.runDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// setFiles lists the files of a set's runs.
func setFiles(set *runSet) []string {
	var names []string
	for _, r := range set.runs {
		names = append(names, filepath.Base(r.f.Path()))
	}
	slices.Sort(names)
	return names
}

// checkEntries fails unless every submission reads back as submitted.
func checkEntries(t *testing.T, s *Store, subs []store.Submission, step string) {
	t.Helper()
	for _, sub := range subs {
		e, err := s.Entry(context.Background(), sub.Fingerprint)
		if err != nil || e.Institution != sub.Institution {
			t.Fatalf("%s: %x = %+v, %v", step, sub.Fingerprint[:4], e, err)
		}
	}
}

// TestCompaction: merge rounds make runs, compactions merge them (a set
// never holds compactFanIn runs of one tier once they are done), every
// fingerprint reads back through it all and after a reopen, a reader that
// holds the runs of before a compaction reads them until it lets go, and
// then their files are gone.
func TestCompaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	cfg := Config{Path: path, MergeAt: 1 << 30, MergeEvery: time.Hour, NoSync: true}
	s := openCfg(t, cfg)
	var all []store.Submission
	var held *runSet
	var heldSubs []store.Submission
	for r := range 11 {
		subs := subsOf(fmt.Sprint("compact ", r), 300+r)
		if _, _, err := s.Submit(ctx, subs, 0); err != nil {
			t.Fatal(err)
		}
		all = append(all, subs...)
		s.cmu.Lock() // no compaction between the merge and the look
		if err := s.merge(); err != nil {
			t.Fatal(err)
		}
		if r == 2 {
			held, heldSubs = s.acquireRuns(), slices.Clone(all)
		}
		s.cmu.Unlock()
		for {
			did, err := s.compactStep()
			if err != nil {
				t.Fatal(err)
			}
			if !did {
				break
			}
		}
		set := s.acquireRuns()
		if g := pickCompaction(set.runs); g != nil {
			t.Fatalf("round %d: %d runs left to compact", r, len(g))
		}
		if n := set.len(); n != uint64(len(all)) {
			t.Fatalf("round %d: %d entries in the index, want %d", r, n, len(all))
		}
		files := setFiles(set)
		set.release(s)
		if got := s.IndexRuns(); got != len(files) {
			t.Fatalf("round %d: IndexRuns %d, want %d", r, got, len(files))
		}
		checkEntries(t, s, all, fmt.Sprint("round ", r))
		if held != nil && r >= 3 {
			// The held runs are still there to read, besides the set's.
			for _, sub := range heldSubs {
				if _, ok, err := held.get(&sub.Fingerprint); !ok || err != nil {
					t.Fatalf("round %d: the held set lost %x (%v)", r, sub.Fingerprint[:4], err)
				}
			}
			if got := runFiles(t, s); len(got) <= len(files) {
				t.Fatalf("round %d: files %v with a set held from round 2, want more than the current %v", r, got, files)
			}
		}
		if r == 8 {
			held.release(s)
			held = nil
		}
		if r >= 8 {
			if got := runFiles(t, s); !slices.Equal(got, files) {
				t.Fatalf("round %d: files %v, want the set's %v", r, got, files)
			}
		}
	}
	if s.compacted.Load() == 0 {
		t.Fatal("no compaction ran: the test checked nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.IndexRuns(); n != 0 {
		t.Fatalf("IndexRuns after Close: %d", n)
	}
	s = openCfg(t, cfg)
	checkEntries(t, s, all, "reopened")
}

// closedStore writes a store with n fingerprints merged into two runs and
// closes it, returning its path and the submissions.
func closedStore(t *testing.T, n int) (string, []store.Submission) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	s, err := Open(Config{Path: path, MergeAt: 1 << 30, MergeEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	subs := subsOf("closed", n)
	for _, half := range [][]store.Submission{subs[:n/2], subs[n/2:]} {
		if _, _, err := s.Submit(ctx, half, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.merge(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, subs
}

// TestRunsAtOpen: a run file the main file does not list (a round or a
// compaction that did not commit) is deleted at Open; a listed run that is
// missing, or damaged where the check after an unclean shutdown reads it,
// makes Open fail with ErrCorrupt; a damaged run found by a read is an
// error, never "not found".
func TestRunsAtOpen(t *testing.T) {
	t.Run("orphan", func(t *testing.T) {
		path, subs := closedStore(t, 400)
		orphan := filepath.Join(path+IndexSuffix, fmt.Sprintf("%016x.run", 99))
		if err := os.WriteFile(orphan, []byte("half a run"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := open(t, path, true)
		if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the orphan run is still there: %v", err)
		}
		checkEntries(t, s, subs, "reopened")
		// IDs go on above the orphan's: a new run is never taken for it.
		if got := s.nextRun.Load(); got < 99 {
			t.Fatalf("next run ID %d, want at least 99", got+1)
		}
	})
	t.Run("missing", func(t *testing.T) {
		path, _ := closedStore(t, 400)
		names, err := filepath.Glob(filepath.Join(path+IndexSuffix, "*.run"))
		if err != nil || len(names) != 2 {
			t.Fatalf("runs %v, %v", names, err)
		}
		if err := os.Remove(names[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Config{Path: path}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(names[0])) {
			t.Fatalf("Open with a listed run missing: %v, want ErrCorrupt naming it", err)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		// A run of another store (or another time), under a listed name.
		path, _ := closedStore(t, 400)
		other, _ := closedStore(t, 402)
		name := fmt.Sprintf("%016x.run", 1)
		data, err := os.ReadFile(filepath.Join(other+IndexSuffix, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path+IndexSuffix, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Config{Path: path}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not the run the main file was written with") {
			t.Fatalf("Open with a listed run replaced: %v, want ErrCorrupt saying so", err)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		path, subs := closedStore(t, 400)
		names, err := filepath.Glob(filepath.Join(path+IndexSuffix, "*.run"))
		if err != nil || len(names) != 2 {
			t.Fatalf("runs %v, %v", names, err)
		}
		f, err := os.OpenFile(names[0], os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{0xff, 0xee}, 100); err != nil { // inside the first block
			t.Fatal(err)
		}
		f.Close()
		// A clean open reads only the runs' indexes: it opens, and the
		// damaged block's fingerprints answer an error.
		s := open(t, path, true)
		damaged := 0
		for _, sub := range subs {
			_, err := s.Entry(context.Background(), sub.Fingerprint)
			switch {
			case errors.Is(err, ErrCorrupt):
				damaged++
			case err != nil:
				t.Fatalf("%x: %v, want the entry or ErrCorrupt", sub.Fingerprint[:4], err)
			}
		}
		if damaged == 0 {
			t.Fatal("no look-up met the damaged block")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+UncleanSuffix, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Config{Path: path}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open after an unclean shutdown with a damaged run: %v, want ErrCorrupt", err)
		}
	})
}

// The child process of TestCrashDuringMerge: see there.
const crashChildEnv = "ATTESTD_BOLT_CRASH_CHILD"

// TestCrashDuringMerge kills a process (SIGKILL, at a crash point or at a
// random moment) that submits fingerprints while merge rounds and
// compactions run, and reopens the store each time: every fingerprint
// acknowledged before any kill reads back, and the index directory holds
// exactly the listed runs.
func TestCrashDuringMerge(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	acks := filepath.Join(dir, "acked")
	points := []string{crashpoint.RunWritten + ":3", crashpoint.RunsListed + ":2", crashpoint.RunsListed + ":5", "random", crashpoint.RunWritten + ":7", "random"}
	for i, point := range points {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringMerge$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "ATTESTD_BOLT_CRASH_ROUND="+strconv.Itoa(i))
		if point != "random" {
			cmd.Env = append(cmd.Env, "ATTESTD_CRASH_AT="+point)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if point == "random" {
			// Killed once it has acknowledged something this round.
			waitFor(t, "the child's first acknowledgement", func() bool { return ackedRound(acks, i) })
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
		}
		err := cmd.Wait()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("%s: the child ended with %v (%v), not SIGKILL: the crash point was not reached", point, cmd.ProcessState, err)
		}
		s, err := Open(Config{Path: filepath.Join(dir, "attestd.db"), MergeAt: 1 << 30, MergeEvery: time.Hour})
		if err != nil {
			t.Fatalf("after a kill at %s: %v", point, err)
		}
		n := 0
		for _, fp := range ackedFPs(t, acks) {
			if _, err := s.Entry(context.Background(), fp); err != nil {
				s.Close()
				t.Fatalf("after a kill at %s: acknowledged %x: %v", point, fp[:4], err)
			}
			n++
		}
		s.cmu.Lock() // no compaction under way
		set := s.acquireRuns()
		listed := setFiles(set)
		set.release(s)
		got := runFiles(t, s)
		s.cmu.Unlock()
		if !slices.Equal(got, listed) {
			s.Close()
			t.Fatalf("after a kill at %s: files %v, listed %v", point, got, listed)
		}
		t.Logf("killed at %s: %d acknowledged in all read back; %d runs", point, n, len(listed))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashChild submits rounds of 100 fingerprints into the store in dir,
// merging every 300 (MergeAt) so that compactions follow, recording each
// acknowledged round in dir/acked (synced) before the next, until killed.
func crashChild(t *testing.T, dir string) {
	s, err := Open(Config{Path: filepath.Join(dir, "attestd.db"), MergeAt: 300, MergeEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "acked"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	round := os.Getenv("ATTESTD_BOLT_CRASH_ROUND")
	for i := range 100_000 {
		tag := fmt.Sprintf("crash %s/%d", round, i)
		if _, _, err := s.Submit(context.Background(), subsOf(tag, 100), 0); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, round, tag)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("not killed")
}

// ackedFPs reads the acknowledged fingerprints from the child's record.
func ackedFPs(t *testing.T, path string) []fingerprint.Fingerprint {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var fps []fingerprint.Fingerprint
	for _, line := range lines[:len(lines)-1] { // the last one is cut short by the kill, or empty
		_, tag, _ := strings.Cut(line, " ")
		for _, sub := range subsOf(tag, 100) {
			fps = append(fps, sub.Fingerprint)
		}
	}
	return fps
}

// ackedRound reports whether the child of round i recorded an
// acknowledgement.
func ackedRound(path string, i int) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return strings.Contains(string(data), strconv.Itoa(i)+" crash ")
}
