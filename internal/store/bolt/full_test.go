package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tmpfstest"
)

func subsOf(tag string, n int) []store.Submission {
	subs := make([]store.Submission, n)
	for i := range subs {
		subs[i] = store.Submission{Fingerprint: fingerprint.Sum([]byte(fmt.Sprintf("%s %d", tag, i))), Institution: "inst"}
	}
	return subs
}

// sealAll seals everything pending in one batch.
func sealAll(ctx context.Context, s *Store) (store.Batch, error) {
	pend, err := s.Pending(ctx, 1<<30)
	if err != nil {
		return store.Batch{}, err
	}
	tree, err := merkle.Build(pend)
	if err != nil {
		return store.Batch{}, err
	}
	return s.CommitBatch(ctx, pend, tree, time.Now())
}

// waitHealthy waits until Health reports nil (it probes at most every
// probeEvery), failing t after d.
func waitHealthy(t *testing.T, s *Store, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := s.Health(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store is still unhealthy after %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFullDisk: on a full file system a Submit and a seal fail with
// store.ErrUnavailable (naming ENOSPC), nothing of them is acknowledged or
// half-written, reads still work, and Health says the store cannot write;
// once space is back Health recovers, the same Submit succeeds, everything
// acknowledged before and after is sealed, and a reopened store has all of
// it.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := tmpfstest.Mount(t, 8<<20)
	path := filepath.Join(dir, "attestd.db")
	s, err := Open(Config{Path: path, MergeAt: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()

	acked := map[fingerprint.Fingerprint]bool{}
	submit := func(subs []store.Submission) error {
		es, _, err := s.Submit(ctx, subs, 0)
		if err == nil {
			for _, e := range es {
				acked[e.Fingerprint] = true
			}
		}
		return err
	}
	for i := range 4 {
		if err := submit(subsOf(fmt.Sprint("before ", i), 500)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sealAll(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := submit(subsOf("pending", 5000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health before the disk is full: %v", err)
	}

	// The merger writes the index in the background. Filling the disk
	// while a merge round writes lets that round's pages take file space
	// that a later commit reuses without growing the file, and the seal
	// below might then fit: let the round finish first.
	waitFor(t, "the pending fingerprints merged into the index", func() bool { return s.Unindexed() == 0 })
	filler := filepath.Join(dir, "filler")
	tmpfstest.Fill(t, filler)
	big := subsOf("while full", 20000)
	err = submit(big)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Submit on a full disk: %v, want store.ErrUnavailable wrapping ENOSPC", err)
	}
	if err := s.Health(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Health after a failed commit: %v, want store.ErrUnavailable", err)
	}
	if _, err := sealAll(ctx, s); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("sealing on a full disk: %v, want store.ErrUnavailable", err)
	}
	// Reads work, and nothing of the failed Submit is there.
	if n, _, err := s.PendingStats(ctx); err != nil || n != 5000 {
		t.Fatalf("PendingStats on a full disk = %d, %v; want 5000", n, err)
	}
	if _, err := s.Entry(ctx, big[0].Fingerprint); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a fingerprint of the failed Submit: %v, want ErrNotFound", err)
	}
	// Health keeps failing while the disk is full, probes included.
	if err := s.Health(ctx); err == nil {
		t.Fatal("Health recovered while the disk is still full")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, s, 10*time.Second)
	if err := submit(big[:5000]); err != nil {
		t.Fatalf("Submit once space is back: %v", err)
	}
	b, err := sealAll(ctx, s)
	if err != nil {
		t.Fatalf("sealing once space is back: %v", err)
	}
	if b.Size != 10000 {
		t.Fatalf("sealed %d, want the 5000 pending and the 5000 new", b.Size)
	}
	check := func(s *Store) {
		t.Helper()
		for fp := range acked {
			e, err := s.Entry(ctx, fp)
			if err != nil || e.Pending() {
				t.Fatalf("acknowledged %x: %+v, %v; want sealed", fp[:4], e, err)
			}
		}
		if n, _, err := s.PendingStats(ctx); err != nil || n != 0 {
			t.Fatalf("pending = %d, %v; want 0", n, err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	check(s)
}

// TestCommitFailsAfterMeta: a commit that reached the meta page and then
// failed (an fsync error after the write) is never acknowledged, and the
// store then refuses writes until reopened, because what this process
// reads may not be on the disk. Reopening loads what the file holds.
func TestCommitFailsAfterMeta(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "attestd.db")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if _, _, err := s.Submit(ctx, subsOf("ok", 10), 0); err != nil {
		t.Fatal(err)
	}
	commitTx = func(tx *bbolt.Tx) error {
		if err := tx.Commit(); err != nil {
			return err
		}
		return syscall.EIO // as if the fsync after the meta page failed
	}
	defer func() { commitTx = (*bbolt.Tx).Commit }()
	failed := subsOf("fsync failed", 10)
	if _, _, err := s.Submit(ctx, failed, 0); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Submit whose fsync failed: %v, want store.ErrUnavailable wrapping EIO", err)
	}
	commitTx = (*bbolt.Tx).Commit
	if _, _, err := s.Submit(ctx, subsOf("after", 1), 0); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Submit after an uncertain commit: %v, want it refused with store.ErrUnavailable", err)
	}
	if _, err := sealAll(ctx, s); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("sealing after an uncertain commit: %v, want it refused", err)
	}
	if err := s.Health(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Health after an uncertain commit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + UncleanSuffix); err != nil {
		t.Fatalf("the unclean marker after closing a store with an uncertain commit: %v; want it kept, so the next Open checks the files", err)
	}
	s, err = Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health after reopening: %v", err)
	}
	// The failed commit did reach the file here, so its (unacknowledged)
	// fingerprints are pending once; nothing is duplicated.
	if n, _, err := s.PendingStats(ctx); err != nil || n != 20 {
		t.Fatalf("pending after reopening = %d, %v; want 20", n, err)
	}
	if _, _, err := s.Submit(ctx, failed, 0); err != nil {
		t.Fatal(err)
	}
	if b, err := sealAll(ctx, s); err != nil || b.Size != 20 {
		t.Fatalf("seal after reopening: %+v, %v; want 20 fingerprints", b, err)
	}
}
