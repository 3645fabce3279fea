package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// Replica is one replica's handle on a backend shared by several replicas:
// a store that also elects the leader.
type Replica interface {
	store.Store
	store.Elector
}

// RunFencing checks the leader lease and its fencing of a shared backend
// (a store.Elector). newReplicas returns n replicas' stores on one new,
// empty backend and arranges for them to be closed at the end of the test.
// The tests use leases of a few hundred milliseconds and sleep past them.
func RunFencing(t *testing.T, newReplicas func(t *testing.T, n int) []Replica) {
	tests := []struct {
		name string
		n    int
		fn   func(t *testing.T, rs []Replica)
	}{
		{"NotLeading", 1, testNotLeading},
		{"LeaseExpiry", 2, testLeaseExpiry},
		{"Renew", 2, testRenew},
		{"Close", 2, testClose},
		{"ConcurrentCampaigns", 8, testConcurrentCampaigns},
		{"Takeover", 3, testTakeover},
		{"SubmitBound", 4, testSubmitBoundReplicas},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newReplicas(t, tt.n))
		})
	}
}

// testNotLeading: a replica that never won a campaign accepts submissions
// and statements and serves reads, but cannot seal or anchor.
func testNotLeading(t *testing.T, rs []Replica) {
	ctx := context.Background()
	r := rs[0]
	mustSubmit(t, r, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)})
	fps := mustPending(t, r, 10)
	if _, err := r.CommitBatch(ctx, fps, build(t, fps), at(1)); !errors.Is(err, store.ErrFenced) {
		t.Errorf("CommitBatch without the lease: error %v, want ErrFenced", err)
	}
	checkPendingStats(t, r, 1, at(0))
	if got := mustBatches(t, r, 0, 10); len(got) != 0 {
		t.Errorf("Batches after a fenced commit = %+v, want none", got)
	}
	// Statements are submissions: any replica records them.
	st := mustAddStatement(t, r, statementOf(t, r, fp(t, "a"), "not leading"))
	checkStatementsAbout(t, r, fp(t, "a"), st)
	mustCampaign(t, r, "a", time.Minute, true)
	seal(t, r, 1, at(2))
}

// testLeaseExpiry: once A's lease has expired, A cannot write, whether or
// not another replica has taken over; B takes over with a higher token.
func testLeaseExpiry(t *testing.T, rs []Replica) {
	a, b := rs[0], rs[1]
	const ttl = 300 * time.Millisecond
	tokA := mustCampaign(t, a, "A", ttl, true)
	for i := range 4 {
		mustSubmit(t, a, store.Submission{Fingerprint: fp(t, "", i), Institution: "x", ReceivedAt: at(i)})
	}
	b1, _ := seal(t, a, 1, at(10))
	signed := testAnchor(b1.ID, 1, store.AnchorSigned)
	mustPutAnchor(t, a, signed, "")
	mustCampaign(t, b, "B", ttl, false)

	time.Sleep(ttl + 100*time.Millisecond)
	// Expired, nobody else leads yet: A is fenced all the same.
	checkFenced(t, a, b1.ID, signed)

	tokB := mustCampaign(t, b, "B", ttl, true)
	if tokB <= tokA {
		t.Errorf("B's token %d is not above A's %d", tokB, tokA)
	}
	mustCampaign(t, a, "A", ttl, false)
	checkFenced(t, a, b1.ID, signed)

	// The new leader writes.
	b2, _ := seal(t, b, 1, at(20))
	if b2.ID != b1.ID+1 {
		t.Errorf("B sealed batch %d, want %d", b2.ID, b1.ID+1)
	}
	mustPutAnchor(t, b, testAnchor(b1.ID, 1, store.AnchorMined), store.AnchorSigned)
}

// checkFenced checks that r can neither seal the pending head nor advance
// the anchor a of batch id, and that both attempts changed nothing.
func checkFenced(t *testing.T, r Replica, id uint64, a store.Anchor) {
	t.Helper()
	ctx := context.Background()
	n, oldest, err := r.PendingStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pending := mustPending(t, r, n+1)
	batches := mustBatches(t, r, 0, 1<<20)
	fps := pending[:min(2, len(pending))]
	if _, err := r.CommitBatch(ctx, fps, build(t, fps), at(100)); !errors.Is(err, store.ErrFenced) {
		t.Errorf("CommitBatch by a fenced replica: error %v, want ErrFenced", err)
	}
	latest, err := r.LatestBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AdoptBatch(ctx, store.Batch{ID: latest + 1, Size: 1, Root: [32]byte{1}}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("AdoptBatch by a fenced replica: error %v, want ErrFenced", err)
	}
	mined := a
	mined.State = store.AnchorMined
	if err := r.PutAnchor(ctx, mined, a.State); !errors.Is(err, store.ErrFenced) {
		t.Errorf("PutAnchor by a fenced replica: error %v, want ErrFenced", err)
	}
	other := testAnchor(id, a.ChainID+1, store.AnchorSigned)
	if err := r.PutAnchor(ctx, other, ""); !errors.Is(err, store.ErrFenced) {
		t.Errorf("PutAnchor of a new record by a fenced replica: error %v, want ErrFenced", err)
	}
	checkPendingStats(t, r, n, oldest)
	if got := mustPending(t, r, n+1); !slices.Equal(got, pending) {
		t.Errorf("a fenced commit changed the pending queue")
	}
	if got := mustBatches(t, r, 0, 1<<20); len(got) != len(batches) {
		t.Errorf("a fenced commit changed the batches: %d, want %d", len(got), len(batches))
	}
	checkAnchors(t, mustBatch(t, r, id), a)
	for _, f := range fps {
		if e := mustEntry(t, r, f); !e.Pending() {
			t.Errorf("a fenced commit sealed %v: %+v", f, e)
		}
	}
}

// testRenew: a leader that renews in time keeps the lease and its token.
func testRenew(t *testing.T, rs []Replica) {
	a, b := rs[0], rs[1]
	const ttl = 400 * time.Millisecond
	tok := mustCampaign(t, a, "A", ttl, true)
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		time.Sleep(ttl / 4)
		if got := mustCampaign(t, a, "A", ttl, true); got != tok {
			t.Fatalf("renewal changed the token from %d to %d", tok, got)
		}
		mustCampaign(t, b, "B", ttl, false)
	}
	mustSubmit(t, a, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)})
	seal(t, a, 1, at(1))
}

// testClose: after the leader closes its store, another replica wins at
// once.
func testClose(t *testing.T, rs []Replica) {
	a, b := rs[0], rs[1]
	tokA := mustCampaign(t, a, "A", time.Minute, true)
	mustSubmit(t, a, store.Submission{Fingerprint: fp(t, "a"), Institution: "x", ReceivedAt: at(0)},
		store.Submission{Fingerprint: fp(t, "b"), Institution: "x", ReceivedAt: at(1)})
	b1, _ := seal(t, a, 1, at(2))
	signed := testAnchor(b1.ID, 1, store.AnchorSigned)
	mustPutAnchor(t, a, signed, "")
	mustCampaign(t, b, "B", time.Minute, false)

	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tokB := mustCampaign(t, b, "B", time.Minute, true)
	if tokB <= tokA {
		t.Errorf("B's token %d is not above A's %d", tokB, tokA)
	}
	mustPutAnchor(t, b, testAnchor(b1.ID, 1, store.AnchorMined), store.AnchorSigned)
	seal(t, b, 1, at(3))
}

// testConcurrentCampaigns: of replicas campaigning at once, exactly one
// leads; when it closes its store, exactly one of the others takes over.
func testConcurrentCampaigns(t *testing.T, rs []Replica) {
	ctx := context.Background()
	resigned := map[int]bool{}
	lastToken := uint64(0)
	for round := range 3 {
		leaders := make([]bool, len(rs))
		tokens := make([]uint64, len(rs))
		errs := make([]error, len(rs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, r := range rs {
			if resigned[i] {
				continue
			}
			wg.Go(func() {
				<-start
				leaders[i], tokens[i], errs[i] = r.Campaign(ctx, fmt.Sprint("replica-", i), time.Minute)
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i := range rs {
			if errs[i] != nil {
				t.Fatalf("round %d: Campaign of replica %d: %v", round, i, errs[i])
			}
			if leaders[i] {
				if won >= 0 {
					t.Fatalf("round %d: replicas %d and %d both lead", round, won, i)
				}
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no replica leads", round)
		}
		if tokens[won] <= lastToken {
			t.Errorf("round %d: token %d, not above the previous %d", round, tokens[won], lastToken)
		}
		lastToken = tokens[won]
		if err := rs[won].Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		resigned[won] = true
	}
}

// testTakeover runs the campaign loop a replica runs (every ttl/3): when
// the leader stops (dies without resigning), another replica leads within
// two lease periods, and no two replicas ever lead with the same token.
func testTakeover(t *testing.T, rs []Replica) {
	const ttl = 600 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type state struct {
		leader bool
		token  uint64
		since  time.Time
	}
	var mu sync.Mutex
	states := make([]state, len(rs))
	stops := make([]chan struct{}, len(rs))
	var wg sync.WaitGroup
	errs := make(chan error, len(rs))
	for i, r := range rs {
		stops[i] = make(chan struct{})
		wg.Go(func() {
			tick := time.NewTicker(ttl / 3)
			defer tick.Stop()
			for {
				leader, token, err := r.Campaign(ctx, fmt.Sprint("replica-", i), ttl)
				if err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				mu.Lock()
				if leader && !states[i].leader {
					states[i].since = time.Now()
				}
				states[i].leader, states[i].token = leader, token
				mu.Unlock()
				select {
				case <-tick.C:
				case <-stops[i]:
					return
				case <-ctx.Done():
					return
				}
			}
		})
	}
	dead := -1 // the stopped replica, guarded by mu
	leaderOf := func() (int, state) {
		mu.Lock()
		defer mu.Unlock()
		for i, s := range states {
			if s.leader && i != dead {
				return i, s
			}
		}
		return -1, state{}
	}
	waitLeader := func(within time.Duration) (int, state) {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if i, s := leaderOf(); i >= 0 {
				return i, s
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no replica leads within %s", within)
		return -1, state{}
	}

	first, s1 := waitLeader(2 * ttl)
	close(stops[first])
	died := time.Now()
	mu.Lock()
	dead = first
	mu.Unlock()
	second, s2 := waitLeader(3 * ttl) // fails the test later if beyond 2*ttl
	took := s2.since.Sub(died)
	if took > 2*ttl {
		t.Errorf("replica %d took over %s after the leader died, want within two lease periods (%s)", second, took, 2*ttl)
	}
	if s2.token <= s1.token {
		t.Errorf("the new leader's token %d is not above the old one's %d", s2.token, s1.token)
	}
	t.Logf("replica %d took over from replica %d after %s (ttl %s)", second, first, took.Round(time.Millisecond), ttl)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Campaign: %v", err)
	}
	// The dead leader's store is fenced.
	r := rs[first]
	mustSubmit(t, r, store.Submission{Fingerprint: fp(t, "dead"), Institution: "x", ReceivedAt: at(0)})
	fps := mustPending(t, r, 1)
	if _, err := r.CommitBatch(context.Background(), fps, build(t, fps), at(1)); !errors.Is(err, store.ErrFenced) {
		t.Errorf("CommitBatch by the replaced leader: error %v, want ErrFenced", err)
	}
}

// mustCampaign campaigns for ttl and checks that r leads (or not) as
// wanted; it returns the token.
func mustCampaign(t *testing.T, r Replica, id string, ttl time.Duration, wantLeader bool) uint64 {
	t.Helper()
	leader, token, err := r.Campaign(context.Background(), id, ttl)
	if err != nil {
		t.Fatalf("Campaign(%s): %v", id, err)
	}
	if leader != wantLeader {
		t.Fatalf("Campaign(%s) leader = %v, want %v", id, leader, wantLeader)
	}
	if leader && token == 0 {
		t.Errorf("Campaign(%s) leads with token 0", id)
	}
	return token
}

// testSubmitBoundReplicas: submitters on several replicas never take the
// shared pending count past the bound.
func testSubmitBoundReplicas(t *testing.T, rs []Replica) {
	stores := make([]store.Store, len(rs))
	for i, r := range rs {
		stores[i] = r
	}
	checkBoundConcurrent(t, stores)
}
