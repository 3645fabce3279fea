package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "attestd.db"), true)
	})
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T, dir string) store.Store {
		return open(t, filepath.Join(dir, "attestd.db"), false)
	})
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "attestd.db")
	open(t, path, true)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m&^0o600 != 0 {
		t.Errorf("file mode %v, want at most 0600", m)
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
	if _, err := s.Submit(ctx, []store.Submission{{Fingerprint: a, ReceivedAt: time.Now()}, {Fingerprint: b, ReceivedAt: time.Now()}}); err != nil {
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
	es, err := s.Submit(context.Background(), []store.Submission{{Fingerprint: fingerprint.Sum([]byte("x"))}})
	if err != nil {
		t.Fatal(err)
	}
	if got := es[0].ReceivedAt; got.Before(before.Truncate(time.Nanosecond)) || got.After(time.Now()) {
		t.Errorf("ReceivedAt of a submission without a time = %v, want about now", got)
	}
}
