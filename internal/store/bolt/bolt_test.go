package bolt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// benchFP returns the i-th fingerprint of a benchmark run.
func benchFP(run string, i uint64) fingerprint.Fingerprint {
	return fingerprint.Sum(fmt.Appendf(nil, "%s/%d", run, i))
}

// BenchmarkSubmit measures acknowledged (fsync'd) submissions: from many
// concurrent submitters sharing group commits, and (serial) from one
// submitter at a time, which pays MaxBatchDelay plus an fsync per call.
func BenchmarkSubmit(b *testing.B) {
	b.Run("fps=1/serial", func(b *testing.B) {
		s := open(b, filepath.Join(b.TempDir(), "attestd.db"), false)
		ctx := context.Background()
		b.ReportAllocs()
		for i := uint64(0); b.Loop(); i++ {
			subs := []store.Submission{{Fingerprint: benchFP(b.Name(), i), Institution: "bench", ReceivedAt: time.Now()}}
			if _, err := s.Submit(ctx, subs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps/s")
	})
	for _, per := range []int{1, 1000} {
		b.Run(fmt.Sprintf("fps=%d/parallel", per), func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "attestd.db"), false)
			ctx := context.Background()
			var next atomic.Uint64
			b.SetParallelism(32) // submitters per GOMAXPROCS
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				subs := make([]store.Submission, per)
				for pb.Next() {
					base := next.Add(uint64(per)) - uint64(per)
					now := time.Now()
					for j := range subs {
						subs[j] = store.Submission{Fingerprint: benchFP(b.Name(), base+uint64(j)), Institution: "bench", ReceivedAt: now}
					}
					if _, err := s.Submit(ctx, subs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "fps/s")
		})
	}
}

// BenchmarkNodes measures proof reads (the nodes of one leaf's path) from a
// sealed batch of 2^20 leaves.
func BenchmarkNodes(b *testing.B) {
	const size = 1 << 20
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "attestd.db"), true)
	const chunk = 10_000
	subs := make([]store.Submission, 0, chunk)
	now := time.Now()
	for i := range uint64(size) {
		subs = append(subs, store.Submission{Fingerprint: benchFP("nodes", i), Institution: "bench", ReceivedAt: now})
		if len(subs) == chunk || i == size-1 {
			if _, err := s.Submit(ctx, subs); err != nil {
				b.Fatal(err)
			}
			subs = subs[:0]
		}
	}
	fps, err := s.Pending(ctx, size)
	if err != nil {
		b.Fatal(err)
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		b.Fatal(err)
	}
	batch, err := s.CommitBatch(ctx, fps, tree, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	fps = nil

	b.Run("proof", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			i := rng.Uint64N(size)
			pos, err := merkle.PathPositions(i, size)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Nodes(ctx, batch.ID, pos); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proof/parallel", func(b *testing.B) {
		var seed atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(seed.Add(1), 2))
			for pb.Next() {
				i := rng.Uint64N(size)
				pos, err := merkle.PathPositions(i, size)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := s.Nodes(ctx, batch.ID, pos); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
