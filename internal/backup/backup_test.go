package backup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
)

var quiet = slog.New(slog.DiscardHandler)

func openStore(t *testing.T, dir string) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(bolt.Config{Path: filepath.Join(dir, "attestd.db"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func submit(t *testing.T, st store.Store, from, n int) []fingerprint.Fingerprint {
	t.Helper()
	subs := make([]store.Submission, n)
	fps := make([]fingerprint.Fingerprint, n)
	for i := range subs {
		fps[i] = fingerprint.Sum(fmt.Appendf(nil, "backup test %d", from+i))
		subs[i] = store.Submission{Fingerprint: fps[i], Institution: "a", ReceivedAt: time.Now()}
	}
	if _, _, err := st.Submit(context.Background(), subs, 0); err != nil {
		t.Fatal(err)
	}
	return fps
}

func listed(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), Prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestTake: each copy restores to the store as it was; only the newest
// Keep copies stay, with what else the directory holds; the metrics say
// when, how long and how large; a failure is counted.
func TestTake(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	m := metrics.New("test").RegisterBackups(time.Hour)
	cfg := Config{Dir: filepath.Join(t.TempDir(), "backups"), Keep: 2}

	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(cfg.Dir, "notes.txt")
	if err := os.WriteFile(other, []byte("not a backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(cfg.Dir, Prefix+"20260101T000000.000Z.tmp") // an interrupted copy
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}

	var paths []string
	var want [][]fingerprint.Fingerprint
	for k := range 3 {
		before := time.Now()
		fps := submit(t, st, k*10, 10)
		path, err := Take(ctx, cfg, st, m, quiet)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
		if k > 0 {
			fps = append(slices.Clone(want[k-1]), fps...)
		}
		want = append(want, fps)
		if last := testutil.ToFloat64(m.LastSuccess); last < float64(before.Unix()) || last > float64(time.Now().Unix()) {
			t.Fatalf("last success %v, want the time of copy %d", last, k)
		}
		size, err := dirSize(path)
		if err != nil || size == 0 || testutil.ToFloat64(m.Bytes) != float64(size) {
			t.Fatalf("attestd_backup_bytes %v, want the copy's %d (%v)", testutil.ToFloat64(m.Bytes), size, err)
		}
		time.Sleep(2 * time.Millisecond) // names are to the millisecond
	}
	if got, wantNames := listed(t, cfg.Dir), []string{filepath.Base(paths[1]), filepath.Base(paths[2])}; !slices.Equal(got, wantNames) {
		t.Fatalf("copies kept %v, want the newest two %v (and no interrupted one)", got, wantNames)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("pruning touched another file: %v", err)
	}

	// Restore: the copy's files in an empty data dir open as the store as
	// it was when the copy was taken.
	for _, k := range []int{1, 2} {
		data := filepath.Join(t.TempDir(), "data")
		if err := os.CopyFS(data, os.DirFS(paths[k])); err != nil {
			t.Fatal(err)
		}
		restored := openStore(t, data)
		for _, f := range want[k] {
			if _, err := restored.Entry(ctx, f); err != nil {
				t.Fatalf("copy %d: %x: %v", k, f[:8], err)
			}
		}
		if n, _, err := restored.PendingStats(ctx); err != nil || n != len(want[k]) {
			t.Fatalf("copy %d: %d pending (%v), want %d", k, n, err, len(want[k]))
		}
	}

	st.Close()
	if _, err := Take(ctx, cfg, st, m, quiet); err == nil {
		t.Fatal("a copy of a closed store succeeded")
	}
	if f := testutil.ToFloat64(m.Failures); f != 1 {
		t.Fatalf("attestd_backup_failures_total %v, want 1", f)
	}
}

// TestRun: copies appear on the schedule, and Run returns when its
// context ends.
func TestRun(t *testing.T) {
	st := openStore(t, t.TempDir())
	submit(t, st, 0, 5)
	m := metrics.New("test").RegisterBackups(10 * time.Millisecond)
	cfg := Config{Dir: t.TempDir(), Every: 10 * time.Millisecond, Keep: 3}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, cfg, st, m, quiet); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(listed(t, cfg.Dir)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d copies after 10 s at one per 10 ms", len(listed(t, cfg.Dir)))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if n := len(listed(t, cfg.Dir)); n > 3 {
		t.Fatalf("%d copies kept, want at most 3", n)
	}
}

// TestRunFirstCopy: the first copy is due an interval after the newest
// one already there: at once with none or an old one, not before with a
// fresh one.
func TestRunFirstCopy(t *testing.T) {
	st := openStore(t, t.TempDir())
	submit(t, st, 0, 1)
	now := time.Now()
	for _, c := range []struct {
		name     string
		existing time.Duration // age of the copy already there; 0: none
		want     time.Duration // the wait before the first copy
	}{
		{"none", 0, 0},
		{"old", 2 * time.Hour, 0},
		{"fresh", time.Minute, 59 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.existing > 0 {
				if err := st.Backup(context.Background(), filepath.Join(dir, Prefix+now.Add(-c.existing).UTC().Format(nameTime))); err != nil {
					t.Fatal(err)
				}
			}
			// Names keep milliseconds: the wait is exact to them.
			if got := firstWait(dir, time.Hour, now); got < c.want-time.Millisecond || got > c.want {
				t.Fatalf("first copy due in %v, want %v", got, c.want)
			}
		})
	}
	// And Run uses it: with none there, a copy is written at once although
	// the interval is an hour.
	cfg := Config{Dir: t.TempDir(), Every: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, cfg, st, metrics.New("test").RegisterBackups(cfg.Every), quiet); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(listed(t, cfg.Dir)) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no copy within 10 s of starting with an empty directory")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestCheck: a backup directory is created at start; one that cannot be
// created or written, or a negative interval or count, is an error then;
// one on the data dir's file system is a warning.
func TestCheck(t *testing.T) {
	root := t.TempDir()
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	dir := filepath.Join(root, "a", "backups")
	if err := Check(Config{Dir: dir}, root, log); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("backup dir %v (%v), want a 0700 directory", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the write check left %v", ents)
	}
	if !strings.Contains(logged.String(), "same file system as the data dir") {
		t.Fatalf("no warning for backups on the data dir's file system: %q", logged.String())
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Check(Config{Dir: filepath.Join(file, "backups")}, root, quiet); err == nil || !strings.Contains(err.Error(), "backup: the directory") {
		t.Fatalf("a backup dir under a file: %v, want an error naming the backup directory", err)
	}
	for _, bad := range []Config{{Dir: dir, Every: -time.Second}, {Dir: dir, Keep: -1}} {
		if err := Check(bad, root, quiet); err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Fatalf("Check(%+v): %v, want a negative setting refused", bad, err)
		}
	}
}
