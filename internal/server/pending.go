package server

import (
	"context"
	"sync"
	"time"
)

// pendingTTL is how long the submit path trusts its view of the pending
// count before reading the store's again.
const pendingTTL = 10 * time.Millisecond

// pendingView is the submit path's view of the store's pending count, for
// admission (Config.MaxPending) and the sealer's size trigger (Poke).
//
// Reading the count from the store for every submission cost one more
// store call per request; on Redis a script call, about a third of Redis's
// time per one-fingerprint submission. The view is read from the store at
// most every pendingTTL, and this replica's own submissions are added to it
// in between. It is trusted only while it is fresh and clear of the limit
// in question: near a limit the store's own count decides, so a seal is
// seen at once and a stale count never refuses a submission or seals a
// small batch. What it can miss is bounded: what other replicas (and this
// replica's submissions in flight during a read) added in the last
// pendingTTL, by which the count may pass MaxPending.
type pendingView struct {
	ttl time.Duration // 0: pendingTTL

	mu      sync.Mutex
	n       int
	at      time.Time // when n was read from the store; zero: never
	reading bool      // a read of a stale view is under way: others use the view
}

// pendingReader is the part of store.Store the view reads.
type pendingReader interface {
	PendingStats(ctx context.Context) (count int, oldest time.Time, err error)
}

// count returns the pending count: the view while it is fresh (or being
// read again) and clear holds of it, else the store's own count.
func (v *pendingView) count(ctx context.Context, st pendingReader, clear func(pending int) bool) (int, error) {
	ttl := v.ttl
	if ttl == 0 {
		ttl = pendingTTL
	}
	v.mu.Lock()
	n, known := v.n, !v.at.IsZero()
	fresh := known && (time.Since(v.at) < ttl || v.reading)
	if fresh && clear(n) {
		v.mu.Unlock()
		return n, nil
	}
	v.reading = true
	v.mu.Unlock()

	read := time.Now()
	n, _, err := st.PendingStats(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reading = false
	if err != nil {
		return 0, err
	}
	if read.After(v.at) { // a later read may have landed first
		v.n, v.at = n, read
	}
	return n, nil
}

// add counts k fingerprints this replica has just made pending.
func (v *pendingView) add(k int) {
	v.mu.Lock()
	v.n += k
	v.mu.Unlock()
}
