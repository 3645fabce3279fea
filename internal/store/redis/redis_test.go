package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	goredis "github.com/redis/go-redis/v9"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/redistest"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/storetest"
)

// prefixes gives every store of a test run its own key prefix, so the
// tests of a package share one server without seeing each other's data.
var prefixes atomic.Uint64

func newPrefix() string { return fmt.Sprintf("t%d:", prefixes.Add(1)) }

func open(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openLeader opens a store on a new prefix and makes it the leader.
func openLeader(t testing.TB, url string) *Store {
	t.Helper()
	s := open(t, Config{URL: url, Prefix: newPrefix()})
	if leader, _, err := s.Campaign(context.Background(), "test", time.Hour); err != nil || !leader {
		t.Fatalf("Campaign = %v, %v; want the lease", leader, err)
	}
	return s
}

func TestStore(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openLeader(t, srv.URL()) })
}

// TestStoreStaged runs the suite with every tree of more than 256 bytes
// (4 leaves and up) staged before the commit script.
func TestStoreStaged(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openLeader(t, srv.URL())
		s.stageAbove = 256
		return s
	})
}

func TestFencing(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunFencing(t, func(t *testing.T, n int) []storetest.Replica {
		prefix := newPrefix()
		rs := make([]storetest.Replica, n)
		for i := range rs {
			rs[i] = open(t, Config{URL: srv.URL(), Prefix: prefix})
		}
		return rs
	})
}

// TestReopen closes the client and opens a new one on the same prefix
// (the lease is resigned by Close and won again by the new store).
func TestReopen(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	storetest.RunReopen(t, func(t *testing.T, _ string) store.Store {
		s := open(t, Config{URL: srv.URL(), Prefix: prefix})
		if leader, _, err := s.Campaign(context.Background(), "test", time.Hour); err != nil || !leader {
			t.Fatalf("Campaign after reopen = %v, %v; want the lease", leader, err)
		}
		return s
	})
}

// TestReopenAfterCrash kills the server with SIGKILL while submitters run
// and checks that every acknowledged submission, batch and anchor is there
// after it restarts from its AOF, through the same Store (its client
// reconnects).
func TestReopenAfterCrash(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := openLeader(t, srv.URL())
	fp := func(i int) fingerprint.Fingerprint { return fingerprint.Sum(fmt.Append(nil, "crash", i)) }

	for i := range 10 {
		if _, _, err := s.Submit(ctx, []store.Submission{{Fingerprint: fp(i), Institution: "x", ReceivedAt: time.Unix(0, int64(i+1))}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	fps, err := s.Pending(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CommitBatch(ctx, fps, tree, time.Unix(100, 5))
	if err != nil {
		t.Fatal(err)
	}
	a := store.Anchor{BatchID: b.ID, ChainID: 1, State: store.AnchorSigned, Nonce: 7, RawTx: []byte{2, 1}, SignedAt: time.Unix(200, 0).UTC()}
	if err := s.PutAnchor(ctx, a, ""); err != nil {
		t.Fatal(err)
	}

	// Submitters keep going while the server dies; whatever was
	// acknowledged must survive. The kill comes once they have had 20
	// submissions acknowledged, and they stop once each has seen one fail
	// after it.
	const submitters, ackedBeforeKill = 4, 20
	var mu sync.Mutex
	var acked []int
	var next atomic.Int64
	next.Store(10)
	stop := make(chan struct{})
	ackedSome := make(chan struct{})           // closed at the ackedBeforeKill-th acknowledgement
	var killed atomic.Bool                     // set once the server is dead
	sawDead := make(chan struct{}, submitters) // each submitter's first failure after the kill
	var wg sync.WaitGroup
	for range submitters {
		wg.Go(func() {
			reported := false
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1))
				sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				// With a new fingerprint, another institution's first
				// submission of a known one: its record is acknowledged
				// with the entry.
				_, _, err := s.Submit(sctx, []store.Submission{
					{Fingerprint: fp(i), Institution: "x", ReceivedAt: time.Unix(0, int64(i+1))},
					{Fingerprint: fp(i % 10), Institution: fmt.Sprint("y", i), ReceivedAt: time.Unix(0, int64(i+1))},
				}, 0)
				cancel()
				switch {
				case err == nil:
					mu.Lock()
					if acked = append(acked, i); len(acked) == ackedBeforeKill {
						close(ackedSome)
					}
					mu.Unlock()
				case killed.Load() && !reported:
					reported = true
					sawDead <- struct{}{}
				}
			}
		})
	}
	within := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			close(stop)
			wg.Wait()
			t.Fatalf("not within 20 s: %s", what)
		}
	}
	within(ackedSome, fmt.Sprint(ackedBeforeKill, " acknowledged submissions"))
	srv.Kill()
	killed.Store(true)
	for range submitters {
		within(sawDead, "every submitter sees the server dead")
	}
	close(stop)
	wg.Wait()
	srv.Restart()
	// The client dials again by itself, within about a second of the
	// server's return (a pool whose dials failed probes once a second).
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, _, err := s.PendingStats(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store does not answer 10 s after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no submission was acknowledged before the kill")
	}
	for _, i := range append(acked, 4, 5, 6, 7, 8, 9) {
		e, err := s.Entry(ctx, fp(i))
		if err != nil {
			t.Fatalf("after kill and restart, Entry of acknowledged fingerprint %d: %v", i, err)
		}
		if !e.Pending() || !e.ReceivedAt.Equal(time.Unix(0, int64(i+1))) {
			t.Errorf("after restart, entry %d = %+v", i, e)
		}
	}
	for _, i := range acked {
		rec, _, err := s.Submission(ctx, fp(i%10), fmt.Sprint("y", i))
		if err != nil || !rec.ReceivedAt.Equal(time.Unix(0, int64(i+1))) {
			t.Errorf("after kill and restart, the acknowledged record of y%d = %+v, %v", i, rec, err)
		}
	}
	for i := range 4 {
		if e, err := s.Entry(ctx, fps[i]); err != nil || e.BatchID != b.ID || e.Index != uint64(i) {
			t.Errorf("after restart, sealed entry %d = %+v, %v", i, e, err)
		}
	}
	got, err := s.Batch(ctx, b.ID)
	if err != nil || got.Root != tree.Root || len(got.Anchors) != 1 || got.Anchors[0].Nonce != 7 {
		t.Errorf("after restart, Batch = %+v, %v", got, err)
	}
	n, _, err := s.PendingStats(ctx)
	if err != nil || n < 6+len(acked) {
		t.Errorf("after restart, PendingStats = %d, %v; want at least %d", n, err, 6+len(acked))
	}
	t.Logf("%d submissions acknowledged around the kill survived", len(acked))
	// The lease survived too (its expiry is absolute in the AOF).
	if _, err := s.CommitBatch(ctx, mustPending(t, s, 1), mustTree(t, mustPending(t, s, 1)), time.Now()); err != nil {
		t.Errorf("CommitBatch after restart: %v", err)
	}
}

func mustPending(t *testing.T, s *Store, n int) []fingerprint.Fingerprint {
	t.Helper()
	fps, err := s.Pending(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return fps
}

func mustTree(t testing.TB, fps []fingerprint.Fingerprint) *merkle.Tree {
	t.Helper()
	tree, err := merkle.Build(fps)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestLargeBatch seals a batch whose tree is staged in several chunks
// and checks its proofs, entries and that no staging key is left.
func TestLargeBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("large batch")
	}
	ctx := context.Background()
	srv := redistest.Start(t)
	s := openLeader(t, srv.URL())
	const size = 40_000 // level 0 is 1.28 MB: two chunks
	subs := make([]store.Submission, size)
	for i := range subs {
		subs[i] = store.Submission{Fingerprint: fingerprint.Sum(fmt.Append(nil, "large", i)), Institution: "x", ReceivedAt: time.Unix(1, 0)}
	}
	if _, _, err := s.Submit(ctx, subs, 0); err != nil {
		t.Fatal(err)
	}
	fps := mustPending(t, s, size)
	tree := mustTree(t, fps)
	b, err := s.CommitBatch(ctx, fps, tree, time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 1, 12345, size - 2, size - 1} {
		p, err := s.Proof(ctx, fps[i])
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tree.Proof(i)
		if !slices.Equal(p.Path, want) {
			t.Errorf("leaf %d: the stored path differs from the proof", i)
		}
		if e := p.Entry; e.BatchID != b.ID || e.Index != i {
			t.Errorf("entry %d = %+v", i, e)
		}
	}
	for l, level := range tree.Levels {
		v, err := s.rdb.Get(ctx, s.k.levelKey(b.ID, l)).Bytes()
		if err != nil || !bytes.Equal(v, level) {
			t.Errorf("level %d differs (%d bytes, want %d): %v", l, len(v), len(level), err)
		}
		if ttl, err := s.rdb.PTTL(ctx, s.k.levelKey(b.ID, l)).Result(); err != nil || ttl != -1 {
			t.Errorf("level %d has TTL %v, %v; want none", l, ttl, err)
		}
	}
	if keys, err := s.rdb.Keys(ctx, s.k.base+"stage:*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("staging keys left after the commit: %v, %v", keys, err)
	}
}

// TestStagedNotVisible: staged levels of a commit that never ran are not a
// batch, expire, and a refused commit removes its staged levels.
func TestStagedNotVisible(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := openLeader(t, srv.URL())
	s.stageAbove = 0
	var subs []store.Submission
	for i := range 5 {
		subs = append(subs, store.Submission{Fingerprint: fingerprint.Sum(fmt.Append(nil, "staged", i)), ReceivedAt: time.Unix(1, 0)})
	}
	if _, _, err := s.Submit(ctx, subs, 0); err != nil {
		t.Fatal(err)
	}
	fps := mustPending(t, s, 5)
	tree := mustTree(t, fps)
	staged, err := s.stage(ctx, tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range staged {
		if ttl, err := s.rdb.PTTL(ctx, k).Result(); err != nil || ttl <= 0 || ttl > stageTTL {
			t.Errorf("staged key %s has TTL %v, %v; want at most %s", k, ttl, err, stageTTL)
		}
	}
	if bs, err := s.Batches(ctx, 0, 10); err != nil || len(bs) != 0 {
		t.Errorf("Batches with only staged levels = %v, %v; want none", bs, err)
	}
	if _, err := s.Batch(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Batch of the staged batch: %v, want ErrNotFound", err)
	}
	if p, err := s.Proof(ctx, fps[0]); err != nil || !p.Entry.Pending() {
		t.Errorf("Proof of a fingerprint of the staged batch = %+v, %v; want it pending", p, err)
	}
	s.rdb.Del(ctx, staged...)

	// A commit refused by the script leaves no staging keys behind.
	if _, err := s.CommitBatch(ctx, fps[1:], mustTree(t, fps[1:]), time.Now()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CommitBatch of a non-prefix: %v, want ErrConflict", err)
	}
	if keys, err := s.rdb.Keys(ctx, s.k.base+"stage:*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("staging keys left after a refused commit: %v, %v", keys, err)
	}
}

// TestCommitRetry: a commit whose reply was lost and that is sent again
// reports success, not a conflict; so does a repeated anchor write.
func TestCommitRetry(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := openLeader(t, srv.URL())
	sub := store.Submission{Fingerprint: fingerprint.Sum([]byte("retry")), ReceivedAt: time.Unix(1, 0)}
	if _, _, err := s.Submit(ctx, []store.Submission{sub}, 0); err != nil {
		t.Fatal(err)
	}
	fps := mustPending(t, s, 1)
	tree := mustTree(t, fps)
	sealed := time.Unix(5, 0)
	b, err := s.CommitBatch(ctx, fps, tree, sealed)
	if err != nil {
		t.Fatal(err)
	}
	// The retry reads seq = 1 and so tries batch 2: that is a conflict. A
	// retry inside go-redis re-sends the same script call, batch 1.
	header := encodeHeader(store.Batch{Size: 1, Root: tree.Root, SealedAt: sealed})
	keys := s.k.commitKeys(b.ID, 2)
	res, err := commitScript.Run(ctx, s.rdb, keys, s.heldLease(), "1", string(fps[0][:]), header, 2, "i", tree.Levels[0], tree.Levels[1]).Slice()
	if err != nil || s.scriptResult("commit", res, s.heldLease()) != nil {
		t.Errorf("re-sent commit script = %v, %v; want success", res, err)
	}
	if bs, _ := s.Batches(ctx, 0, 10); len(bs) != 1 {
		t.Errorf("%d batches after the re-sent commit, want 1", len(bs))
	}
	a := store.Anchor{BatchID: b.ID, ChainID: 1, State: store.AnchorSigned, Nonce: 1}
	for range 2 {
		if err := s.PutAnchor(ctx, a, ""); err != nil {
			t.Errorf("PutAnchor (repeated): %v", err)
		}
	}
	a.Nonce = 2
	if err := s.PutAnchor(ctx, a, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutAnchor of another new record: %v, want ErrConflict", err)
	}
}

func TestDurability(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		durable     bool
		known       bool
		fsync, warn string
	}{
		{"always", nil, true, true, "always", ""},
		{"everysec", []string{"--appendfsync", "everysec"}, false, true, "everysec", "appendfsync everysec"},
		{"no aof", []string{"--appendonly", "no"}, false, true, "always", "without the AOF"},
		{"config disabled", []string{"--rename-command", "CONFIG", ""}, false, false, "", "cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.WithArgs(tc.args...))
			s := open(t, Config{URL: srv.URL(), Prefix: newPrefix()})
			d := s.Durability()
			if d.Durable() != tc.durable || d.Known != tc.known || d.AppendFsync != tc.fsync {
				t.Errorf("Durability = %+v; want durable %v, known %v, appendfsync %q", d, tc.durable, tc.known, tc.fsync)
			}
			if w := d.Warning(); (tc.warn == "") != (w == "") || !strings.Contains(w, tc.warn) {
				t.Errorf("Warning() = %q, want one containing %q", w, tc.warn)
			}
			if d.Node != srv.Addr() {
				t.Errorf("Durability.Node = %q, want %q", d.Node, srv.Addr())
			}
		})
	}
}

func TestPassword(t *testing.T) {
	const pw = "s3cret-pw"
	srv := redistest.Start(t, redistest.WithArgs("--requirepass", pw))
	url := srv.URL()
	open(t, Config{URL: url, Prefix: newPrefix(), Password: pw})
	withPW := strings.Replace(url, "redis://", "redis://:"+pw+"@", 1)
	open(t, Config{URL: withPW, Prefix: newPrefix()})
	// Config.Password overrides the URL's.
	wrong := strings.Replace(url, "redis://", "redis://:wrong-pw@", 1)
	open(t, Config{URL: wrong, Prefix: newPrefix(), Password: pw})

	_, err := Open(context.Background(), Config{URL: strings.Replace(url, "redis://", "redis://:"+pw+"x@", 1), Prefix: newPrefix()})
	if err == nil {
		t.Fatal("Open with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("Open error shows the password: %v", err)
	}
	if ErrorKind(err) != "auth" {
		t.Errorf("ErrorKind(%v) = %q, want auth", err, ErrorKind(err))
	}
}

func TestConfigLogValue(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "redis://user:s3cret@db.example:6379/2", Password: "other-s3cret"},
		{URL: "rediss+sentinel://u:s3cret@[::1]:26379,10.0.0.2/mymaster/1?password=s3cret", SentinelPassword: "s3cret"},
		{URL: "redis+cluster://:s3cret@h1:7000,h2:7001"},
		{URL: "redis://:s3cret@bad host/%zz"},
	} {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("store", "redis", cfg)
		fmt.Fprintf(&buf, " %v %+v %s", cfg, cfg, cfg)
		if strings.Contains(buf.String(), "s3cret") {
			t.Errorf("logged config shows a secret: %s", buf.String())
		}
		if !strings.Contains(buf.String(), "password_set") {
			t.Errorf("logged config = %s", buf.String())
		}
	}
}

func TestParseURL(t *testing.T) {
	o, err := parseConfig(Config{URL: "redis+cluster://u:p@h1:7000,[::1]:7001,h3?dial_timeout=2s"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cluster == nil || !slices.Equal(o.cluster.Addrs, []string{"h1:7000", "[::1]:7001", "h3:6379"}) ||
		o.cluster.Username != "u" || o.cluster.Password != "p" || o.cluster.DialTimeout != 2*time.Second || o.cluster.TLSConfig != nil {
		t.Errorf("cluster options = %+v", o.cluster)
	}

	o, err = parseConfig(Config{URL: "rediss+sentinel://:p@s1,s2:26380/mymaster/3", SentinelPassword: "sp", Password: "override"})
	if err != nil {
		t.Fatal(err)
	}
	if f := o.failover; f == nil || f.MasterName != "mymaster" || !slices.Equal(f.SentinelAddrs, []string{"s1:26379", "s2:26380"}) ||
		f.DB != 3 || f.Password != "override" || f.SentinelPassword != "sp" || f.TLSConfig == nil {
		t.Errorf("failover options = %+v", o.failover)
	}

	o, err = parseConfig(Config{URL: "rediss://:p@h:6380/4"})
	if err != nil {
		t.Fatal(err)
	}
	if o.simple == nil || o.simple.Addr != "h:6380" || o.simple.DB != 4 || o.simple.TLSConfig == nil || o.simple.ReadTimeout != DefaultReadTimeout {
		t.Errorf("simple options = %+v", o.simple)
	}

	for _, bad := range []string{
		"", "h:6379", "http://h", "redis+cluster://h1,,h2", "redis+cluster://h1/0",
		"redis+sentinel://s1", "redis+sentinel://s1/m/0/x", "redis://h?nonsense=1",
	} {
		if _, err := parseConfig(Config{URL: bad}); err == nil {
			t.Errorf("parseConfig(%q) succeeded", bad)
		}
	}
	if _, err := Open(context.Background(), Config{URL: "redis://127.0.0.1:1", Prefix: "a{b}"}); err == nil {
		t.Error("Open with braces in the prefix succeeded")
	}
}

func TestFormatVersion(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	s := open(t, Config{URL: srv.URL(), Prefix: prefix})
	if err := s.rdb.Set(context.Background(), s.k.version, "99", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Config{URL: srv.URL(), Prefix: prefix}); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("Open of a store of another format version: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Open(ctx, Config{URL: srv.URL()}); err == nil {
		t.Error("Open of a dead server succeeded")
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	prefix := newPrefix()
	a := open(t, Config{URL: srv.URL(), Prefix: prefix, Metrics: m})
	b := open(t, Config{URL: srv.URL(), Prefix: prefix, Metrics: NewMetrics(prometheus.NewRegistry())})

	if _, _, err := a.Campaign(ctx, "A", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Leader); got != 1 {
		t.Errorf("leader gauge = %v after winning, want 1", got)
	}
	// B takes over once A's lease has expired on the server's clock.
	for deadline := time.Now().Add(10 * time.Second); ; {
		leader, _, err := b.Campaign(ctx, "B", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B did not take over within 10 s of a 200 ms lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if leader, _, _ := a.Campaign(ctx, "A", time.Minute); leader {
		t.Fatal("A still leads")
	}
	if got := testutil.ToFloat64(m.Leader); got != 0 {
		t.Errorf("leader gauge = %v after losing, want 0", got)
	}
	if got := testutil.ToFloat64(m.LeaseChanges.WithLabelValues(EventAcquired)); got != 1 {
		t.Errorf("acquired = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.LeaseChanges.WithLabelValues(EventLost)); got != 1 {
		t.Errorf("lost = %v, want 1", got)
	}

	srv.Kill()
	if _, err := a.Entry(ctx, fingerprint.Sum([]byte("x"))); err == nil {
		t.Fatal("Entry on a dead server succeeded")
	}
	if got := testutil.ToFloat64(m.Errors.WithLabelValues("connection")); got < 1 {
		t.Errorf("connection errors = %v, want at least 1", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n < 3 {
		t.Errorf("registry has %d series, %v", n, err)
	}
}

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{store.ErrNotFound, ""},
		{fmt.Errorf("x: %w", store.ErrFenced), ""},
		{context.Canceled, ""},
		{goredis.ErrPoolTimeout, "timeout"},
		{goredis.ErrClosed, "connection"},
		{errors.New("boom"), "other"},
	} {
		if got := ErrorKind(tc.err); got != tc.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
