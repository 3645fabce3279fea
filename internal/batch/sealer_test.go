package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
	"github.com/attestd/attestd/internal/verify"
)

var quiet = slog.New(slog.DiscardHandler)

func openStore(t *testing.T) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(bolt.Config{Path: filepath.Join(t.TempDir(), "attestd.db"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// makeFPs returns n fingerprints unique to the test and tag.
func makeFPs(t *testing.T, tag string, n int) []fingerprint.Fingerprint {
	out := make([]fingerprint.Fingerprint, n)
	for i := range out {
		out[i] = fingerprint.Sum(fmt.Appendf(nil, "%s/%s/%d", t.Name(), tag, i))
	}
	return out
}

// submit makes fps pending, accepted in slice order.
func submit(t *testing.T, st store.Store, fps []fingerprint.Fingerprint) {
	t.Helper()
	subs := make([]store.Submission, len(fps))
	for i, fp := range fps {
		subs[i] = store.Submission{Fingerprint: fp, Institution: "lab", ReceivedAt: time.Now()}
	}
	if _, _, err := st.Submit(context.Background(), subs, 0); err != nil {
		t.Fatal(err)
	}
}

func pendingCount(t *testing.T, st store.Store) int {
	t.Helper()
	n, _, err := st.PendingStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func allBatches(t *testing.T, st store.Store) []store.Batch {
	t.Helper()
	bs, err := st.Batches(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// checkPartition asserts that every fingerprint of fps is sealed in
// exactly one batch, that the batches are exactly those of the store with
// the given sizes (in ID order), that indices within each batch are
// 0..size-1 without gaps or repeats, and that the stored tree proves each
// fingerprint at its index under its batch root.
func checkPartition(t *testing.T, st store.Store, fps []fingerprint.Fingerprint, sizes []uint64) {
	t.Helper()
	ctx := context.Background()
	bs := allBatches(t, st)
	if len(bs) != len(sizes) {
		t.Fatalf("%d batches, want %d (sizes %v)", len(bs), len(sizes), sizes)
	}
	byID := map[uint64]store.Batch{}
	for i, b := range bs {
		if b.ID != uint64(i+1) || b.Size != sizes[i] {
			t.Fatalf("batch %d: id %d size %d, want id %d size %d", i, b.ID, b.Size, i+1, sizes[i])
		}
		byID[b.ID] = b
	}
	seen := map[[2]uint64]fingerprint.Fingerprint{} // (batch, index) -> fp
	for _, fp := range fps {
		e, err := st.Entry(ctx, fp)
		if err != nil {
			t.Fatalf("entry %s: %v", fp, err)
		}
		b, ok := byID[e.BatchID]
		if e.Pending() || !ok {
			t.Fatalf("fingerprint %s: batch %d, not in a sealed batch", fp, e.BatchID)
		}
		if e.Index >= b.Size {
			t.Fatalf("fingerprint %s: index %d in batch %d of size %d", fp, e.Index, b.ID, b.Size)
		}
		key := [2]uint64{e.BatchID, e.Index}
		if prev, dup := seen[key]; dup {
			t.Fatalf("batch %d index %d holds both %s and %s", e.BatchID, e.Index, prev, fp)
		}
		seen[key] = fp
		p, err := st.Proof(ctx, fp)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify.VerifyPath(fp, e.Index, b.Size, p.Path, b.Root); err != nil {
			t.Fatalf("fingerprint %s is not at index %d of batch %d: %v", fp, e.Index, b.ID, err)
		}
	}
	total := uint64(0)
	for _, s := range sizes {
		total += s
	}
	if uint64(len(seen)) != total {
		t.Fatalf("%d fingerprints sealed, batches hold %d leaves", len(seen), total)
	}
	if n := pendingCount(t, st); n != 0 {
		t.Fatalf("%d still pending", n)
	}
}

// wait polls cond until it holds or the deadline passes.
func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts s.Run and stops it at cleanup, checking it returns nil.
func run(t *testing.T, s *Sealer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// countingStore counts Pending calls (one per sealing pass and batch) and
// can fail the first failPending of them.
type countingStore struct {
	store.Store
	pendingCalls atomic.Int64
	failPending  int64
	err          error // the failure; nil means errInjected
}

var errInjected = errors.New("injected store failure")

// PendingStats starts every sealing attempt, so its calls count them.
func (c *countingStore) PendingStats(ctx context.Context) (int, time.Time, error) {
	if n := c.pendingCalls.Add(1); n <= c.failPending {
		if c.err != nil {
			return 0, time.Time{}, c.err
		}
		return 0, time.Time{}, errInjected
	}
	return c.Store.PendingStats(ctx)
}

// recorder collects the batches onSealed is told of.
type recorder struct {
	mu sync.Mutex
	bs []store.Batch
}

func (r *recorder) onSealed(b store.Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bs = append(r.bs, b)
}

func (r *recorder) get() []store.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.Batch(nil), r.bs...)
}

func TestConfigDefaults(t *testing.T) {
	st := openStore(t)
	recv := time.Date(2026, 3, 14, 9, 26, 53, 123, time.UTC)
	cases := []struct {
		name         string
		cfg          Config
		wantInterval time.Duration
		wantMax      int
	}{
		{"zero", Config{}, DefaultInterval, DefaultMaxSize},
		{"negative", Config{Interval: -time.Second, MaxSize: -1}, DefaultInterval, DefaultMaxSize},
		{"set", Config{Interval: 5 * time.Second, MaxSize: 7}, 5 * time.Second, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(c.cfg, st, metrics.New("test"), nil, nil)
			if s.Interval() != c.wantInterval || s.MaxSize() != c.wantMax {
				t.Fatalf("interval %v max %d, want %v %d", s.Interval(), s.MaxSize(), c.wantInterval, c.wantMax)
			}
			if d := s.Deadline(recv); !d.Equal(recv.Add(c.wantInterval + DefaultAnchorWithin)) {
				t.Fatalf("deadline %v, want received + interval + anchoring allowance = %v", d, recv.Add(c.wantInterval+DefaultAnchorWithin))
			}
		})
	}
}

func TestEmptySealsNothing(t *testing.T) {
	st := openStore(t)
	m := metrics.New("test")
	var rec recorder
	s := New(Config{Interval: time.Hour, MaxSize: 4}, st, m, quiet, rec.onSealed)
	ctx := context.Background()
	if b, err := s.SealOne(ctx); b != nil || err != nil {
		t.Fatalf("SealOne with nothing pending: %+v %v", b, err)
	}
	if bs, err := s.SealAll(ctx); len(bs) != 0 || err != nil {
		t.Fatalf("SealAll with nothing pending: %+v %v", bs, err)
	}

	// Several empty interval ticks of a running sealer seal nothing either.
	cs := &countingStore{Store: st}
	s = New(Config{Interval: 2 * time.Millisecond, MaxSize: 4}, cs, m, quiet, rec.onSealed)
	run(t, s)
	wait(t, "five empty ticks", func() bool { return cs.pendingCalls.Load() >= 5 })
	if bs := allBatches(t, st); len(bs) != 0 {
		t.Fatalf("empty intervals sealed %+v", bs)
	}
	if len(rec.get()) != 0 || testutil.ToFloat64(m.BatchesSealed) != 0 {
		t.Fatalf("onSealed %d calls, batches sealed %v", len(rec.get()), testutil.ToFloat64(m.BatchesSealed))
	}
}

func TestSealOneOldestFirst(t *testing.T) {
	st := openStore(t)
	m := metrics.New("test")
	var rec recorder
	s := New(Config{Interval: time.Hour, MaxSize: 3}, st, m, quiet, rec.onSealed)
	sealedAt := time.Date(2026, 3, 14, 9, 27, 50, 0, time.UTC)
	s.now = func() time.Time { return sealedAt }
	ctx := context.Background()

	// Accepted in three submissions; the acceptance order is the order.
	older, mid, newer := makeFPs(t, "older", 2), makeFPs(t, "mid", 2), makeFPs(t, "newer", 3)
	submit(t, st, older)
	submit(t, st, mid)
	submit(t, st, newer)
	all := append(append(append([]fingerprint.Fingerprint{}, older...), mid...), newer...)

	wantBatches := [][]fingerprint.Fingerprint{all[0:3], all[3:6], all[6:7]}
	for i, want := range wantBatches {
		b, err := s.SealOne(ctx)
		if err != nil || b == nil {
			t.Fatalf("SealOne %d: %+v %v", i, b, err)
		}
		tree, err := merkle.Build(want)
		if err != nil {
			t.Fatal(err)
		}
		if b.ID != uint64(i+1) || b.Size != uint64(len(want)) || b.Root != tree.Root || !b.SealedAt.Equal(sealedAt) {
			t.Fatalf("batch %d: id %d size %d root %x sealed %v; want size %d root %x", i, b.ID, b.Size, b.Root, b.SealedAt, len(want), tree.Root)
		}
		for j, fp := range want {
			e, err := st.Entry(ctx, fp)
			if err != nil || e.BatchID != b.ID || e.Index != uint64(j) {
				t.Fatalf("batch %d: %s is in batch %d at %d (%v), want %d at %d", i, fp, e.BatchID, e.Index, err, b.ID, j)
			}
		}
		rest := all[3*i+len(want):]
		if n := pendingCount(t, st); n != len(rest) {
			t.Fatalf("after batch %d: %d pending, want %d", i, n, len(rest))
		}
		if got := rec.get(); len(got) != i+1 || got[i].ID != b.ID || got[i].Root != b.Root {
			t.Fatalf("onSealed saw %+v after batch %d", got, b.ID)
		}
	}
	if b, err := s.SealOne(ctx); b != nil || err != nil {
		t.Fatalf("SealOne after draining: %+v %v", b, err)
	}
	if got := testutil.ToFloat64(m.BatchesSealed); got != 3 {
		t.Fatalf("batches sealed metric %v, want 3", got)
	}
	if got := testutil.CollectAndCount(m.BatchSize); got != 1 {
		t.Fatalf("batch size histogram series %d", got)
	}
	checkPartition(t, st, all, []uint64{3, 3, 1})
}

func TestSealAll(t *testing.T) {
	cases := []struct {
		max   int
		n     int
		sizes []uint64
	}{
		{8, 20, []uint64{8, 8, 4}}, // 2.5 × MaxSize
		{4, 10, []uint64{4, 4, 2}}, // 2.5 × MaxSize
		{4, 8, []uint64{4, 4}},
		{5, 1, []uint64{1}},
		{1, 3, []uint64{1, 1, 1}},
		{3, 0, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("max%d_n%d", c.max, c.n), func(t *testing.T) {
			st := openStore(t)
			m := metrics.New("test")
			var rec recorder
			s := New(Config{Interval: time.Hour, MaxSize: c.max}, st, m, quiet, rec.onSealed)
			fps := makeFPs(t, "fp", c.n)
			submit(t, st, fps)
			bs, err := s.SealAll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) != len(c.sizes) {
				t.Fatalf("%d batches, want %d", len(bs), len(c.sizes))
			}
			got := rec.get()
			if len(got) != len(bs) {
				t.Fatalf("onSealed called %d times for %d batches", len(got), len(bs))
			}
			off := 0
			for i, b := range bs {
				if b.Size != c.sizes[i] || got[i].ID != b.ID || got[i].Root != b.Root {
					t.Fatalf("batch %d: %+v, onSealed %+v, want size %d", i, b, got[i], c.sizes[i])
				}
				// Oldest first: batch i holds the next fingerprints in order.
				for j := range int(b.Size) {
					e, err := st.Entry(context.Background(), fps[off+j])
					if err != nil || e.BatchID != b.ID || e.Index != uint64(j) {
						t.Fatalf("fingerprint %d: batch %d index %d (%v), want %d %d", off+j, e.BatchID, e.Index, err, b.ID, j)
					}
				}
				off += int(b.Size)
			}
			if got := testutil.ToFloat64(m.BatchesSealed); got != float64(len(c.sizes)) {
				t.Fatalf("batches sealed metric %v", got)
			}
			checkPartition(t, st, fps, c.sizes)
		})
	}
}

func TestPoke(t *testing.T) {
	st := openStore(t)
	s := New(Config{Interval: time.Hour, MaxSize: 10}, st, metrics.New("test"), quiet, nil)
	cases := []struct {
		pending int
		wake    bool
	}{
		{0, false}, {1, false}, {9, false}, {10, true}, {11, true}, {1 << 20, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.pending), func(t *testing.T) {
			for len(s.poke) > 0 {
				<-s.poke
			}
			s.Poke(c.pending)
			if got := len(s.poke) == 1; got != c.wake {
				t.Fatalf("Poke(%d) with MaxSize 10: wake %v, want %v", c.pending, got, c.wake)
			}
			// Poke never blocks, however often it is called.
			for range 3 {
				s.Poke(c.pending)
			}
		})
	}
}

// TestRunSealsFullBatchEarly: with an hour-long interval, Run seals only
// once Poke reports a full batch, and then only full batches: the
// remainder waits for the interval (here: SealAll, what a tick runs), so a
// full batch costs one anchor transaction, not one more for the few
// fingerprints that arrived while it was sealed.
func TestRunSealsFullBatchEarly(t *testing.T) {
	st := openStore(t)
	cs := &countingStore{Store: st}
	var rec recorder
	s := New(Config{Interval: time.Hour, MaxSize: 5}, cs, metrics.New("test"), quiet, rec.onSealed)
	run(t, s)

	fps := makeFPs(t, "fp", 12)
	submit(t, st, fps[:4])
	s.Poke(4) // below MaxSize: no wake-up is queued
	if len(s.poke) != 0 {
		t.Fatal("Poke below MaxSize queued a wake-up")
	}
	submit(t, st, fps[4:])
	s.Poke(12)
	// The pass: 12 pending, seal 5; 7 pending, seal 5; 2 pending: below a
	// full batch, the pass ends.
	wait(t, "the early sealing pass", func() bool { return cs.pendingCalls.Load() >= 3 })
	if got := rec.get(); len(got) != 2 || got[0].Size != 5 || got[1].Size != 5 {
		t.Fatalf("sealed %+v, want two full batches of 5", got)
	}
	if n := cs.pendingCalls.Load(); n != 3 {
		t.Fatalf("%d pending reads, want 3 (one pass: 12, 7, 2)", n)
	}
	if n, _, err := st.PendingStats(context.Background()); err != nil || n != 2 {
		t.Fatalf("pending after the pass = %d, %v; want the 2 that do not fill a batch", n, err)
	}
	// A tick seals the rest.
	if _, err := s.SealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkPartition(t, st, fps, []uint64{5, 5, 2})
}

// TestSealFull: what a poke runs seals full batches only, oldest first,
// and leaves the rest pending.
func TestSealFull(t *testing.T) {
	st := openStore(t)
	s := New(Config{Interval: time.Hour, MaxSize: 4}, st, metrics.New("test"), quiet, nil)
	fps := makeFPs(t, "fp", 11)
	submit(t, st, fps)
	bs, err := s.sealFull(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Size != 4 || bs[1].Size != 4 {
		t.Fatalf("sealed %+v, want two batches of 4", bs)
	}
	if n, _, err := st.PendingStats(context.Background()); err != nil || n != 3 {
		t.Fatalf("pending = %d, %v; want 3", n, err)
	}
	if bs, err := s.sealFull(context.Background()); err != nil || len(bs) != 0 {
		t.Fatalf("with 3 pending: sealed %+v, %v; want nothing", bs, err)
	}
	if _, err := s.SealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkPartition(t, st, fps, []uint64{4, 4, 3})
}

// TestRunSealsOnTick: without any poke, the interval tick seals what is
// pending, and later ticks seal later submissions.
func TestRunSealsOnTick(t *testing.T) {
	st := openStore(t)
	var rec recorder
	s := New(Config{Interval: 20 * time.Millisecond, MaxSize: 100}, st, metrics.New("test"), quiet, rec.onSealed)
	run(t, s)

	first := makeFPs(t, "first", 5)
	submit(t, st, first)
	wait(t, "the first tick seal", func() bool { return len(rec.get()) == 1 })
	second := makeFPs(t, "second", 3)
	submit(t, st, second)
	wait(t, "the second tick seal", func() bool { return len(rec.get()) == 2 })
	checkPartition(t, st, append(first, second...), []uint64{5, 3})
}

// TestRunRetriesAfterStoreError: a failing store read is logged, not fatal;
// a later tick seals.
func TestRunRetriesAfterStoreError(t *testing.T) {
	st := openStore(t)
	cs := &countingStore{Store: st, failPending: 3}
	s := New(Config{Interval: 5 * time.Millisecond, MaxSize: 100}, cs, metrics.New("test"), quiet, nil)
	fps := makeFPs(t, "fp", 4)
	submit(t, st, fps)

	if _, err := s.SealAll(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("SealAll with a failing store: %v, want the store's error", err)
	}
	run(t, s)
	wait(t, "a seal after the store recovers", func() bool { return pendingCount(t, st) == 0 })
	checkPartition(t, st, fps, []uint64{4})
}

// barrierStore holds each sealer's first Pending until both sealers have
// read the queue, so they race to commit the same prefix.
type barrierStore struct {
	store.Store
	once    sync.Once
	arrived *sync.WaitGroup
}

func (b *barrierStore) Pending(ctx context.Context, limit int) ([]fingerprint.Fingerprint, error) {
	fps, err := b.Store.Pending(ctx, limit)
	b.once.Do(func() {
		b.arrived.Done()
		b.arrived.Wait()
	})
	return fps, err
}

// TestTwoSealersConflict: two sealers that read the same pending prefix
// race to commit it; exactly one wins, the other gets ErrConflict and
// writes nothing; sealing on then leaves every fingerprint in one batch.
func TestTwoSealersConflict(t *testing.T) {
	st := openStore(t)
	fps := makeFPs(t, "fp", 7)
	submit(t, st, fps)

	var arrived sync.WaitGroup
	arrived.Add(2)
	var recs [2]recorder
	sealers := [2]*Sealer{}
	for i := range sealers {
		sealers[i] = New(Config{Interval: time.Hour, MaxSize: 3}, &barrierStore{Store: st, arrived: &arrived}, metrics.New("test"), quiet, recs[i].onSealed)
	}
	var wg sync.WaitGroup
	var results [2]*store.Batch
	var errs [2]error
	for i, s := range sealers {
		wg.Go(func() { results[i], errs[i] = s.SealOne(context.Background()) })
	}
	wg.Wait()

	winners, conflicts := 0, 0
	for i := range sealers {
		switch {
		case errs[i] == nil && results[i] != nil:
			winners++
			if results[i].ID != 1 || results[i].Size != 3 || len(recs[i].get()) != 1 {
				t.Fatalf("winner: %+v, onSealed %d", results[i], len(recs[i].get()))
			}
		case errors.Is(errs[i], store.ErrConflict):
			conflicts++
			if results[i] != nil || len(recs[i].get()) != 0 {
				t.Fatalf("the loser returned %+v and told onSealed %d times", results[i], len(recs[i].get()))
			}
		default:
			t.Fatalf("sealer %d: %+v %v", i, results[i], errs[i])
		}
	}
	if winners != 1 || conflicts != 1 {
		t.Fatalf("%d winners, %d conflicts; want 1 and 1", winners, conflicts)
	}
	if n := pendingCount(t, st); n != 4 {
		t.Fatalf("%d pending after one batch of 3, want 4", n)
	}
	// Both sealers carry on; the loser's retry starts from the new head.
	for _, s := range sealers {
		if _, err := s.SealAll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	checkPartition(t, st, fps, []uint64{3, 3, 1})
}

// TestConcurrentSealersStress: two running sealers and a steady stream of
// submissions; conflicts are retried, and in the end every fingerprint is
// in exactly one batch.
func TestConcurrentSealersStress(t *testing.T) {
	st := openStore(t)
	var total atomic.Int64
	count := func(b store.Batch) { total.Add(int64(b.Size)) }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		s := New(Config{Interval: time.Millisecond, MaxSize: 7}, st, metrics.New("test"), quiet, count)
		wg.Go(func() { _ = s.Run(ctx) })
	}
	var all []fingerprint.Fingerprint
	for i := range 40 {
		fps := makeFPs(t, fmt.Sprint(i), 1+i%9)
		submit(t, st, fps)
		all = append(all, fps...)
		if i%8 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	wait(t, "everything sealed", func() bool { return total.Load() == int64(len(all)) })
	cancel()
	wg.Wait()
	bs := allBatches(t, st)
	sizes := make([]uint64, len(bs))
	for i, b := range bs {
		sizes[i] = b.Size
		if b.Size == 0 || b.Size > 7 {
			t.Fatalf("batch %d has %d fingerprints, max 7", b.ID, b.Size)
		}
	}
	checkPartition(t, st, all, sizes)
}

// TestSealDeadlineMissed: a batch sealed more than an interval after its
// oldest fingerprint counts as a missed deadline; one sealed in time does not.
func TestSealDeadlineMissed(t *testing.T) {
	st := openStore(t)
	m := metrics.New("test")
	s := New(Config{Interval: time.Minute, MaxSize: 10}, st, m, quiet, nil)
	ctx := context.Background()
	fps := makeFPs(t, "late", 2)

	submit(t, st, fps[:1])
	s.now = func() time.Time { return time.Now().Add(30 * time.Second) }
	if _, err := s.SealOne(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.DeadlineMissed.WithLabelValues("seal")); got != 0 {
		t.Fatalf("in time: missed = %v", got)
	}
	submit(t, st, fps[1:])
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, err := s.SealOne(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.DeadlineMissed.WithLabelValues("seal")); got != 1 {
		t.Fatalf("late: missed = %v, want 1", got)
	}
}

// TestSealFailureIsReported: a failed seal is counted in
// attestd_seal_failures_total and reported by Err (with its cause, here
// store.ErrUnavailable) until a seal succeeds; Run retries it long before
// the next interval, so sealing resumes soon after the store does.
func TestSealFailureIsReported(t *testing.T) {
	st := openStore(t)
	unavailable := store.Unavailable(errInjected)
	cs := &countingStore{Store: st, failPending: 3, err: unavailable}
	m := metrics.New("test")
	s := New(Config{Interval: time.Hour, MaxSize: 100}, cs, m, quiet, nil)
	fps := makeFPs(t, "fp", 4)
	submit(t, st, fps)

	if _, err := s.SealOne(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("SealOne with an unavailable store: %v", err)
	}
	if err := s.Err(); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Err after a failed seal: %v, want store.ErrUnavailable", err)
	}
	if n := testutil.ToFloat64(m.SealFailures); n != 1 {
		t.Fatalf("attestd_seal_failures_total = %v, want 1", n)
	}
	// The next seal fails in Run too; then Run retries (with the interval
	// an hour away) until the store answers.
	s.Poke(100)
	run(t, s)
	wait(t, "a seal after the store recovers", func() bool { return pendingCount(t, st) == 0 })
	if err := s.Err(); err != nil {
		t.Fatalf("Err after a successful seal: %v", err)
	}
	if n := testutil.ToFloat64(m.SealFailures); n != 3 {
		t.Fatalf("attestd_seal_failures_total = %v, want 3", n)
	}
}
