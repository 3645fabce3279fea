package bolt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/verify"
)

// TestBackup: backups taken while submitters, seals and merges (into
// 8-record log segments, so the log drops segments all the time) race
// them each open as a store that holds every fingerprint acknowledged and
// every batch committed before the backup began, with working proofs.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	s := openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true,
		MergeAt: 40, MergeEvery: 5 * time.Millisecond, segmentShift: 3})

	var mu sync.Mutex
	var acked []fingerprint.Fingerprint
	batches := map[uint64]store.Batch{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subs := make([]store.Submission, 1+i%5)
				for j := range subs {
					subs[j] = store.Submission{Fingerprint: fingerprint.Sum(fmt.Appendf(nil, "backup %d/%d/%d", g, i, j)), Institution: "a", ReceivedAt: time.Now()}
				}
				if _, _, err := s.Submit(ctx, subs, 0); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, sub := range subs {
					acked = append(acked, sub.Fingerprint)
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			pend, err := s.Pending(ctx, 37)
			if err != nil {
				t.Error(err)
				return
			}
			if len(pend) == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			tree, err := merkle.Build(pend)
			if err != nil {
				t.Error(err)
				return
			}
			b, err := s.CommitBatch(ctx, pend, tree, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			batches[b.ID] = b
			mu.Unlock()
		}
	})
	defer func() { close(stop); wg.Wait() }()

	for k := range 10 {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		fps, sealed := slices.Clone(acked), maps.Clone(batches)
		mu.Unlock()
		dir := filepath.Join(t.TempDir(), fmt.Sprint("backup-", k))
		if err := s.Backup(ctx, dir); err != nil {
			t.Fatalf("backup %d: %v", k, err)
		}
		if _, err := os.Stat(dir + ".tmp"); !os.IsNotExist(err) {
			t.Fatalf("backup %d left %s.tmp behind (%v)", k, dir, err)
		}
		checkCopy(t, dir, fps, sealed)
	}
	mu.Lock()
	t.Logf("%d fingerprints acknowledged, %d batches sealed; %d unindexed at the end", len(acked), len(batches), s.Unindexed())
	mu.Unlock()
}

// checkCopy opens the backup in dir and requires fps and batches in it.
func checkCopy(t *testing.T, dir string, fps []fingerprint.Fingerprint, batches map[uint64]store.Batch) {
	t.Helper()
	ctx := context.Background()
	// Both files pass bbolt's check as written: before the store opens
	// them, as tx.Check compares a view with the free list of the moment,
	// and the copy's compactor may be writing.
	for _, name := range []string{"attestd.db", "attestd.db" + LogSuffix} {
		raw, err := bbolt.Open(filepath.Join(dir, name), 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		err = raw.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		raw.Close()
		if err != nil {
			t.Fatalf("the copy's %s: %v", name, err)
		}
	}
	c, err := Open(Config{Path: filepath.Join(dir, "attestd.db"), NoSync: true, segmentShift: 3}) // as written
	if err != nil {
		t.Fatalf("opening the backup: %v", err)
	}
	defer c.Close()
	for _, f := range fps {
		if _, err := c.Entry(ctx, f); err != nil {
			t.Fatalf("fingerprint %x acknowledged before the backup: %v", f[:8], err)
		}
	}
	for id, want := range batches {
		b, err := c.Batch(ctx, id)
		if err != nil || b.Root != want.Root || b.Size != want.Size {
			t.Fatalf("batch %d: %+v (%v), want root %x size %d", id, b, err, want.Root[:8], want.Size)
		}
	}
	if n, _, err := c.PendingStats(ctx); err != nil || n < 0 {
		t.Fatalf("pending %d, %v", n, err)
	}
	// A proof from the copy checks against its batch root.
	for _, f := range fps[:min(len(fps), 50)] {
		p, err := c.Proof(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if p.Entry.Pending() {
			continue
		}
		root, err := verify.RootFromPath(f, p.Entry.Index, p.Batch.Size, p.Path)
		if err != nil || root != p.Batch.Root {
			t.Fatalf("proof of %x in the copy: root %x (%v), want batch %d's %x", f[:8], root[:8], err, p.Batch.ID, p.Batch.Root[:8])
		}
	}
}

// TestBackupCut: a view of the index taken before a seal and a merge,
// paired with a view of the log taken after the log dropped the segments
// they made droppable, is not a state the store can open: covers refuses
// it, and accepts the pairs cut takes.
func TestBackupCut(t *testing.T) {
	ctx := context.Background()
	s := openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true,
		MergeAt: 1 << 30, MergeEvery: time.Hour, segmentShift: 3})
	submit := func(from, n int) []fingerprint.Fingerprint {
		t.Helper()
		subs := make([]store.Submission, n)
		fps := make([]fingerprint.Fingerprint, n)
		for i := range subs {
			fps[i] = fingerprint.Sum(fmt.Appendf(nil, "cut %d", from+i))
			subs[i] = store.Submission{Fingerprint: fps[i], Institution: "a"}
		}
		if _, _, err := s.Submit(ctx, subs, 0); err != nil {
			t.Fatal(err)
		}
		return fps
	}
	fps := submit(0, 20)
	old, err := s.db.Begin(false) // the index before the seal and the merge
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback()

	tree, err := merkle.Build(fps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitBatch(ctx, fps, tree, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.merge(); err != nil {
		t.Fatal(err)
	}
	submit(20, 1) // this commit drops the log segments of records 1–15
	ltx, err := s.log.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer ltx.Rollback()
	if rec, err := s.logOf(ltx).get(1); rec != nil || err != nil {
		t.Fatalf("record 1 is still in the log (%v): the test does not set up what it means to", err)
	}
	if ok, err := s.covers(old, ltx); ok || err != nil {
		t.Fatal("covers accepts an index view that needs log records the log view has dropped")
	}
	mtx, ltx2, idx, err := s.cut()
	if err != nil {
		t.Fatal(err)
	}
	defer idx.release(s)
	defer mtx.Rollback()
	defer ltx2.Rollback()
	if ok, err := s.covers(mtx, ltx2); !ok || err != nil {
		t.Fatalf("cut returned views that covers refuses (%v)", err)
	}
}

// TestBackupRefuses: an existing directory, a cancelled context and a
// closed store each fail the backup and leave nothing behind.
func TestBackupRefuses(t *testing.T) {
	s := openCfg(t, Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true})
	root := t.TempDir()
	if err := s.Backup(context.Background(), root); err == nil {
		t.Fatal("backup into an existing directory: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Backup(ctx, filepath.Join(root, "cancelled")); err == nil {
		t.Fatal("backup with a cancelled context: no error")
	}
	// Cancelled in the middle of the copy.
	for i := range 200 {
		if _, _, err := s.Submit(context.Background(), []store.Submission{{Fingerprint: fingerprint.Sum(fmt.Appendf(nil, "refuse %d", i)), Institution: "a"}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	mid := &cancelAfter{Context: context.Background()}
	mid.left.Store(3)
	if err := s.Backup(mid, filepath.Join(root, "mid")); !errors.Is(err, context.Canceled) {
		t.Fatalf("backup cancelled while copying: %v, want context.Canceled", err)
	}
	s.Close()
	if err := s.Backup(context.Background(), filepath.Join(root, "closed")); err == nil {
		t.Fatal("backup of a closed store: no error")
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("failed backups left %v behind", ents)
	}
}

// cancelAfter is a context that reports itself cancelled from its left-th
// Err call on: a cancellation in the middle of an operation.
type cancelAfter struct {
	context.Context
	left atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}
