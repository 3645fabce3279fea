package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
)

// pipeline runs the sealer and one anchorer per chain: always with the
// embedded store (its file lock makes the process the only writer), and
// only while this replica holds the lease with a shared store. Every seal
// and anchor write is fenced by the store, so a replica that lost its
// lease without noticing yet cannot commit; the campaign loop notices
// within ttl/3 and stops the work.
type pipeline struct {
	sealer    *batch.Sealer
	chains    []*chain
	store     store.Store
	m         *metrics.Metrics
	elector   store.Elector // nil: always the leader
	replicaID string
	ttl       time.Duration
	log       *slog.Logger

	leading atomic.Bool
	// recovered: this term compared the store with the chains
	// (recoverBatchIDs); until then nothing is sealed, at shutdown either.
	recovered atomic.Bool
}

// chain is one anchoring chain: its settled anchor config (key and chain
// ID known) and endpoint, and the anchorer of the running term.
type chain struct {
	cfg    anchor.Config
	client anchor.Client
	cur    atomic.Pointer[anchor.Anchorer]
	terms  int // terms run (by pipeline.run's goroutine)
}

func (c *chain) id() uint64 { return c.cfg.ChainID }

// newAnchorer returns a fresh anchorer for c (its nonce comes from the
// chain and the store, not from an earlier term) and makes it c's current
// one. With the chain ID settled it asks nothing of the endpoint.
func (p *pipeline) newAnchorer(c *chain) (*anchor.Anchorer, error) {
	a, err := anchor.New(context.Background(), c.cfg, c.client, p.store, p.m, p.log)
	if err != nil {
		return nil, err
	}
	c.cur.Store(a)
	return a, nil
}

// wake tells the running anchorers a batch was sealed.
func (p *pipeline) wake() {
	for _, c := range p.chains {
		if a := c.cur.Load(); a != nil {
			a.Wake()
		}
	}
}

// anchorErr is chain c's running anchorer's last error (nil when not
// leading).
func (p *pipeline) anchorErr(c *chain) error {
	if a := c.cur.Load(); a != nil && p.leading.Load() {
		return a.Err()
	}
	return nil
}

// sealErr is the sealer's last error while this replica leads (nil when
// not leading: the sealer does not run then).
func (p *pipeline) sealErr() error {
	if p.leading.Load() {
		return p.sealer.Err()
	}
	return nil
}

// run works until ctx is done.
func (p *pipeline) run(ctx context.Context) {
	if p.elector == nil {
		p.leading.Store(true)
		p.term(ctx)
		return
	}
	t := time.NewTicker(p.ttl / 3)
	defer t.Stop()
	var stop func()
	defer func() {
		// Shutting down while leading: stop the term but stay leading, so
		// that flush seals what is pending before Close resigns the lease
		// (its writes are fenced, so this is safe even if the lease has
		// just expired).
		if stop != nil {
			stop()
		}
	}()
	for {
		leader, token, err := p.elector.Campaign(ctx, p.replicaID, p.ttl)
		if err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "lease campaign failed", "err", err)
			leader = false
		}
		switch {
		case leader && stop == nil:
			p.log.InfoContext(ctx, "leading: sealing and anchoring", "replica", p.replicaID, "token", token)
			p.leading.Store(true)
			tctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { p.term(tctx) })
			stop = func() { cancel(); wg.Wait() }
		case !leader && stop != nil && ctx.Err() == nil:
			p.log.WarnContext(ctx, "no longer leading: stopped sealing and anchoring", "replica", p.replicaID)
			stop()
			stop = nil
			p.leading.Store(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// term seals and anchors until ctx is done, with a fresh anchorer per
// chain (the one New made, for the first term), each in its own loop: a
// chain whose endpoint fails holds up no other.
//
// Before sealing or anchoring anything it compares the store with the
// chains (recoverBatchIDs), retrying until that succeeds, so that a store
// restored from a backup never seals under a batch ID already anchored.
func (p *pipeline) term(ctx context.Context) {
	var ancs []*anchor.Anchorer
	for _, c := range p.chains {
		anc, err := c.cur.Load(), error(nil)
		if c.terms++; c.terms > 1 || anc == nil {
			anc, err = p.newAnchorer(c)
		}
		if err != nil {
			p.log.ErrorContext(ctx, "cannot anchor", "chain", c.id(), "err", err)
			continue
		}
		ancs = append(ancs, anc)
	}
	p.recovered.Store(false)
	for wait := recoverRetryMin; ; wait = min(2*wait, anchor.MaxBackoff) {
		err := p.recoverBatchIDs(ctx, ancs)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		p.log.ErrorContext(ctx, "comparing the store with the chains failed; not sealing until it succeeds", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	p.recovered.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.sealer.Run(ctx) })
	for _, anc := range ancs {
		wg.Go(func() { _ = anc.Run(ctx) })
	}
	wg.Wait()
}

// recoverRetryMin is the first wait before recoverBatchIDs is retried.
const recoverRetryMin = 100 * time.Millisecond

// flush seals what is pending and gives each chain's anchorer one step to
// sign and broadcast it — only if this replica leads. Used at shutdown.
func (p *pipeline) flush(ctx context.Context) {
	if !p.leading.Load() || !p.recovered.Load() {
		return
	}
	p.log.Info("shutting down: sealing what is pending")
	bs, err := p.sealer.SealAll(ctx)
	if err != nil {
		p.log.Error("final seal failed; pending fingerprints stay durable and are sealed later", "err", err)
		return
	}
	if len(bs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, c := range p.chains {
		wg.Go(func() {
			anc, err := p.newAnchorer(c)
			if err == nil {
				err = anc.Step(ctx)
			}
			if err != nil {
				p.log.Warn("final anchoring step failed; it resumes at the next start", "chain", c.id(), "err", err)
			}
		})
	}
	wg.Wait()
}
