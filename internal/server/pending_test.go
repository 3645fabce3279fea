package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
)

// countingStore counts the pending reads of a real store, and fails them
// while fail is set.
type countingStore struct {
	store.Store
	reads atomic.Int64
	fail  atomic.Pointer[error]
}

func (c *countingStore) PendingStats(ctx context.Context) (int, time.Time, error) {
	c.reads.Add(1)
	if err := c.fail.Load(); err != nil {
		return 0, time.Time{}, *err
	}
	return c.Store.PendingStats(ctx)
}

func newCountingStore(t *testing.T) *countingStore {
	t.Helper()
	st, err := bolt.Open(bolt.Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &countingStore{Store: st}
}

func submitN(st store.Store, from, n int) error {
	subs := make([]store.Submission, n)
	for i := range subs {
		subs[i] = store.Submission{Fingerprint: fingerprint.Fingerprint(sha256.Sum256(fmt.Appendf(nil, "pending/%d", from+i))), Institution: "a", ReceivedAt: time.Now()}
	}
	_, err := st.Submit(context.Background(), subs)
	return err
}

func TestPendingView(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore(t)
	v := pendingView{ttl: time.Hour}
	always := func(int) bool { return true }
	count := func(clear func(int) bool) int {
		t.Helper()
		n, err := v.count(ctx, st, clear)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if n := count(always); n != 0 || st.reads.Load() != 1 {
		t.Fatalf("first count %d after %d reads, want 0 after 1: a view never read is read", n, st.reads.Load())
	}
	if err := submitN(st, 0, 3); err != nil {
		t.Fatal(err)
	}
	v.add(3)
	if n := count(always); n != 3 || st.reads.Load() != 1 {
		t.Fatalf("fresh view: %d after %d reads, want the 3 added and no new read", n, st.reads.Load())
	}

	// Not clear of the limit: the store's own count, whatever the view says.
	reads := st.reads.Load()
	v.add(100) // a wrong view
	if n := count(func(p int) bool { return p < 5 }); n != 3 || st.reads.Load() != reads+1 {
		t.Fatalf("near the limit: %d after %d reads, want the store's 3 after %d", n, st.reads.Load(), reads+1)
	}

	// Stale: read again.
	if err := submitN(st, 3, 2); err != nil { // not added: another replica's
		t.Fatal(err)
	}
	if n := count(always); n != 3 {
		t.Fatalf("fresh view: %d, want 3: what it was not told of shows when it is read again", n)
	}
	v.ttl = 10 * time.Millisecond
	time.Sleep(2 * v.ttl)
	reads = st.reads.Load()
	if n := count(always); n != 5 || st.reads.Load() != reads+1 {
		t.Fatalf("stale view: %d after %d reads, want 5 after %d", n, st.reads.Load(), reads+1)
	}

	// Many counts in a row read the store about once per pendingTTL.
	reads, start := st.reads.Load(), time.Now()
	for range 2000 {
		count(always)
	}
	most := int64(time.Since(start)/v.ttl) + 1
	if got := st.reads.Load() - reads; got > most {
		t.Fatalf("2000 counts read the store %d times in %v, want at most %d", got, time.Since(start), most)
	}

	// A failed read is an error, and the view it failed to refresh is
	// not trusted near a limit afterwards.
	boom := errors.New("store down")
	st.fail.Store(&boom)
	if _, err := v.count(ctx, st, func(int) bool { return false }); !errors.Is(err, boom) {
		t.Fatalf("failed read: %v, want %v", err, boom)
	}
	st.fail.Store(nil)
	if n := count(func(p int) bool { return false }); n != 5 {
		t.Fatalf("after a failed read: %d, want the store's 5", n)
	}
}

// TestPendingViewConcurrent: counts and adds from many goroutines (run
// with -race) end in a view that a fresh read agrees with.
func TestPendingViewConcurrent(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore(t)
	var v pendingView
	done := make(chan error)
	for g := range 16 {
		go func() {
			var err error
			for i := range 50 {
				if _, err = v.count(ctx, st, func(p int) bool { return p < 700 }); err != nil {
					break
				}
				if err = submitN(st, g*1000+i, 1); err != nil {
					break
				}
				v.add(1)
			}
			done <- err
		}()
	}
	for range 16 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := v.count(ctx, st, func(p int) bool { return false }); err != nil || n != 800 {
		t.Fatalf("after 800 submissions: %d (%v), want 800", n, err)
	}
}
