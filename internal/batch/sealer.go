// Package batch seals pending fingerprints into Merkle trees: every
// Interval, or as soon as MaxSize fingerprints are waiting, whichever comes
// first. An interval with nothing pending seals nothing; a full batch is
// sealed alone, and what arrived meanwhile waits for the interval.
package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/attestd/attestd/internal/crashpoint"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
)

// Defaults for Config's zero values.
const (
	DefaultInterval     = time.Minute
	DefaultMaxSize      = 100_000
	DefaultAnchorWithin = 10 * time.Minute
)

// Config configures the sealer.
type Config struct {
	Interval time.Duration // seal at least this often; 0 = DefaultInterval
	MaxSize  int           // at most this many fingerprints per batch; 0 = DefaultMaxSize
	// AnchorWithin is how long after sealing a batch's anchors may take to
	// be mined on every chain; receipts promise anchoring by received +
	// Interval + AnchorWithin (like a transparency log's maximum merge
	// delay). 0 = DefaultAnchorWithin.
	AnchorWithin time.Duration
}

// Promise is how long after a fingerprint is received its receipt
// promises it anchored: one Interval plus AnchorWithin, with the defaults
// for zero values (Sealer.Deadline, and the overdue count of the
// anchorers).
func (c Config) Promise() time.Duration {
	c.setDefaults()
	return c.Interval + c.AnchorWithin
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxSize <= 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.AnchorWithin <= 0 {
		c.AnchorWithin = DefaultAnchorWithin
	}
}

// Store is what the sealer needs of the store. Every store.Store backend
// implements it (see store.Store for the full contract); the sealer relies
// on this much of it:
//
//   - PendingStats is cheap (O(1)); the oldest ReceivedAt it returns is
//     what a late seal is measured against.
//   - Pending only reads: it returns the oldest pending fingerprints in
//     acceptance order, and the sealer builds its tree of exactly that
//     slice.
//   - CommitBatch is all or nothing and durable when it returns nil: the
//     batch, its tree levels and every fingerprint's batch and index, and
//     their removal from the pending queue. onSealed (which wakes the
//     anchorers) runs only after that.
//   - CommitBatch fails with store.ErrConflict, having written nothing,
//     when fps is no longer the pending queue's prefix (another sealer won
//     the race), and with store.ErrFenced when this replica lost the
//     leader lease; the sealer then reads the queue afresh next time
//     rather than retrying the same slice.
//   - The methods are safe for concurrent use with the API's Submit: a
//     submission landing during a seal stays pending for the next batch.
type Store interface {
	PendingStats(ctx context.Context) (count int, oldest time.Time, err error)
	Pending(ctx context.Context, max int) ([]fingerprint.Fingerprint, error)
	CommitBatch(ctx context.Context, fps []fingerprint.Fingerprint, tree *merkle.Tree, sealedAt time.Time) (store.Batch, error)
}

// The store layer's contract implements the sealer's: a change of either
// that breaks this breaks the build here.
var _ Store = store.Store(nil)

// Sealer turns the pending queue into batches. Run it in one goroutine;
// Poke is safe from any.
type Sealer struct {
	cfg      Config
	store    Store
	m        *metrics.Metrics
	log      *slog.Logger
	onSealed func(store.Batch) // called after each durable commit
	poke     chan struct{}
	now      func() time.Time
	lastErr  atomic.Pointer[error] // the last SealOne's failure; nil after a success
}

// retryMin is the first wait before Run retries a failed seal; it doubles
// up to the Interval.
const retryMin = 100 * time.Millisecond

// Err returns the error of the last seal attempt if it failed (nil once
// one succeeds), for readiness: a store that cannot commit batches breaks
// the receipts' promise. Fencing (this replica lost the lease) is not a
// failure.
func (s *Sealer) Err() error {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// New returns a sealer; onSealed (may be nil) is told of every sealed batch,
// e.g. to wake the anchorers.
func New(cfg Config, st Store, m *metrics.Metrics, log *slog.Logger, onSealed func(store.Batch)) *Sealer {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &Sealer{cfg: cfg, store: st, m: m, log: log, onSealed: onSealed, poke: make(chan struct{}, 1), now: time.Now}
}

// Interval is the configured sealing interval.
func (s *Sealer) Interval() time.Duration { return s.cfg.Interval }

// MaxSize is the configured batch size limit.
func (s *Sealer) MaxSize() int { return s.cfg.MaxSize }

// Deadline is the latest time by which a fingerprint received then is
// anchored: sealed within one Interval, anchored within AnchorWithin of
// sealing. Receipts promise it. The sealer counts a batch sealed more than
// an Interval after its oldest fingerprint, and the anchorer one mined
// more than AnchorWithin after sealing, in attestd_deadline_missed_total:
// when neither happens, every receipt's deadline was kept.
func (s *Sealer) Deadline(received time.Time) time.Time {
	return received.Add(s.cfg.Promise())
}

// Poke tells the sealer that pending grew to n; it seals at once when a
// full batch is waiting.
func (s *Sealer) Poke(n int) {
	if n < s.cfg.MaxSize {
		return
	}
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Run seals every Interval (and on a full batch) until ctx is done.
func (s *Sealer) Run(ctx context.Context) error {
	s.lastErr.Store(nil) // a new term (see Err) starts clean
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	var retry <-chan time.Time // after a failure: sooner than the next tick
	backoff := time.Duration(0)
	for {
		seal := s.SealAll
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.poke:
			seal = s.sealFull
		case <-retry:
		}
		retry = nil
		if _, err := seal(ctx); err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, retryMin), s.cfg.Interval)
			s.log.ErrorContext(ctx, "sealing failed; will retry", "err", err, "retry_in", backoff)
			retry = time.After(backoff)
		} else {
			backoff = 0
		}
	}
}

// SealAll seals everything pending, in batches of at most MaxSize, and
// returns the batches it sealed (none when nothing was pending).
func (s *Sealer) SealAll(ctx context.Context) ([]store.Batch, error) { return s.sealEach(ctx, 1) }

// sealFull seals full batches (MaxSize) while at least MaxSize
// fingerprints are pending: what Poke wakes the sealer for. The rest waits
// for the next tick, which comes within one Interval of its arrival as
// its deadline requires. Sealing it along with the full batch would cost
// an anchor transaction on every chain for a handful of fingerprints
// (those that arrived while the full batch was sealed), at every full
// batch.
func (s *Sealer) sealFull(ctx context.Context) ([]store.Batch, error) {
	return s.sealEach(ctx, s.cfg.MaxSize)
}

// sealEach seals batches while at least least fingerprints are pending.
func (s *Sealer) sealEach(ctx context.Context, least int) ([]store.Batch, error) {
	var sealed []store.Batch
	for {
		b, err := s.sealAtLeast(ctx, least)
		if err != nil || b == nil {
			return sealed, err
		}
		sealed = append(sealed, *b)
	}
}

// SealOne seals up to MaxSize of the oldest pending fingerprints into one
// batch; it returns nil, nil when nothing is pending.
func (s *Sealer) SealOne(ctx context.Context) (*store.Batch, error) { return s.sealAtLeast(ctx, 1) }

// sealAtLeast is sealOne, with its outcome recorded for Err and the
// failure count. Fencing (this replica lost the lease) and an ended ctx
// are not failures.
func (s *Sealer) sealAtLeast(ctx context.Context, least int) (*store.Batch, error) {
	b, err := s.sealOne(ctx, least)
	switch {
	case err == nil:
		s.lastErr.Store(nil)
	case ctx.Err() != nil, errors.Is(err, store.ErrFenced):
	default:
		s.lastErr.Store(&err)
		s.m.SealFailures.Inc()
	}
	return b, err
}

// sealOne seals up to MaxSize of the oldest pending fingerprints into one
// batch if at least least are pending; otherwise it returns nil, nil.
func (s *Sealer) sealOne(ctx context.Context, least int) (*store.Batch, error) {
	start := time.Now()
	n, oldest, err := s.store.PendingStats(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading pending: %w", err)
	}
	if n < least { // least ≥ 1: nothing pending seals nothing
		return nil, nil
	}
	fps, err := s.store.Pending(ctx, s.cfg.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("reading pending: %w", err)
	}
	if len(fps) == 0 {
		return nil, nil
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		return nil, fmt.Errorf("building the tree: %w", err)
	}
	b, err := s.store.CommitBatch(ctx, fps, tree, s.now().UTC())
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("pending queue changed while sealing (another sealer?): %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("committing the batch: %w", err)
	}
	crashpoint.Hit(crashpoint.Sealed)
	s.m.SealDuration.Observe(time.Since(start).Seconds())
	if late := b.SealedAt.Sub(oldest) - s.cfg.Interval; late > 0 {
		s.m.DeadlineMissed.WithLabelValues("seal").Inc()
		s.log.WarnContext(ctx, "batch sealed after its oldest fingerprint's sealing deadline", "batch", b.ID, "late_by", late)
	}
	s.m.BatchSize.Observe(float64(b.Size))
	s.m.BatchesSealed.Inc()
	s.log.InfoContext(ctx, "batch sealed", "batch", b.ID, "size", b.Size, "root", fmt.Sprintf("%x", b.Root), "took", time.Since(start))
	if s.onSealed != nil {
		s.onSealed(b)
	}
	return &b, nil
}
