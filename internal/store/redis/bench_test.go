package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/redistest"
	"github.com/attestd/attestd/internal/store"
)

// benchFP returns the i-th fingerprint of a benchmark run.
func benchFP(run string, i uint64) fingerprint.Fingerprint {
	return fingerprint.Sum(fmt.Appendf(nil, "%s/%d", run, i))
}

// BenchmarkSubmit measures acknowledged submissions (AOF with appendfsync
// always): from one submitter at a time (serial), which pays a round trip
// and an fsync per call, and from many concurrent submitters, whose
// writes Redis fsyncs together once per event-loop iteration.
func BenchmarkSubmit(b *testing.B) {
	srv := redistest.Start(b)
	b.Run("fps=1/serial", func(b *testing.B) {
		s := open(b, Config{URL: srv.URL(), Prefix: newPrefix()})
		ctx := context.Background()
		b.ReportAllocs()
		for i := uint64(0); b.Loop(); i++ {
			subs := []store.Submission{{Fingerprint: benchFP(b.Name(), i), Institution: "bench", ReceivedAt: time.Now()}}
			if _, _, err := s.Submit(ctx, subs, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps/s")
	})
	for _, per := range []int{1, 1000} {
		b.Run(fmt.Sprintf("fps=%d/parallel", per), func(b *testing.B) {
			s := open(b, Config{URL: srv.URL(), Prefix: newPrefix()})
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
					if _, _, err := s.Submit(ctx, subs, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "fps/s")
		})
	}
}

// BenchmarkNodes measures proof reads (an entry, then its batch and the
// nodes of its path in one pipelined round trip) from a sealed batch of 2^20 leaves. Its set-up
// also reports how long the 2^20-leaf commit took.
func BenchmarkNodes(b *testing.B) {
	const size = 1 << 20
	ctx := context.Background()
	srv := redistest.Start(b)
	s := open(b, Config{URL: srv.URL(), Prefix: newPrefix()})
	if _, _, err := s.Campaign(ctx, "bench", time.Hour); err != nil {
		b.Fatal(err)
	}
	const chunk = 10_000
	subs := make([]store.Submission, 0, chunk)
	now := time.Now()
	for i := range uint64(size) {
		subs = append(subs, store.Submission{Fingerprint: benchFP("nodes", i), Institution: "bench", ReceivedAt: now})
		if len(subs) == chunk || i == size-1 {
			if _, _, err := s.Submit(ctx, subs, 0); err != nil {
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
	start := time.Now()
	_, err = s.CommitBatch(ctx, fps, tree, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("CommitBatch of %d leaves took %s", size, time.Since(start))
	fps, tree = nil, nil

	b.Run("Proof", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Proof(ctx, benchFP("nodes", rng.Uint64N(size))); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Store.Proof: what GET /v1/fingerprints/{fp} reads (entry, batch,
	// path), from 16 goroutines per core, as a server's connections would.
	b.Run("Proof/parallel", func(b *testing.B) {
		var seed atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(seed.Add(1), 2))
			for pb.Next() {
				p, err := s.Proof(ctx, benchFP("nodes", rng.Uint64N(size)))
				if err == nil && len(p.Path) != 20 {
					err = fmt.Errorf("a path of %d nodes in a 2^20 batch", len(p.Path))
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSubmitFirst compares an institution's first submission of
// fingerprints nobody submitted ("new") with its first submission of
// fingerprints another institution submitted before ("other"): both write
// (entries, or the submitter's own records in subs) and wait for the AOF,
// so that a submitter's latency does not tell it whether someone else
// submitted a fingerprint. The two kinds of call alternate; each one's
// mean latency is reported.
func BenchmarkSubmitFirst(b *testing.B) {
	srv := redistest.Start(b)
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("fps=%d/serial", per), func(b *testing.B) {
			s := open(b, Config{URL: srv.URL(), Prefix: newPrefix()})
			ctx := context.Background()
			calls := uint64(b.N/2 + 1)
			subs := make([]store.Submission, 0, 20_000)
			for i := range calls * uint64(per) {
				subs = append(subs, store.Submission{Fingerprint: benchFP(b.Name()+"/other", i), Institution: "someone else", ReceivedAt: time.Now()})
				if len(subs) == cap(subs) || i == calls*uint64(per)-1 {
					if _, _, err := s.Submit(ctx, subs, 0); err != nil {
						b.Fatal(err)
					}
					subs = subs[:0]
				}
			}
			var lat [2]time.Duration
			var n [2]int
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				kind, run := i%2, b.Name()+"/new"
				if kind == 1 {
					run = b.Name() + "/other"
				}
				subs := make([]store.Submission, per)
				now := time.Now()
				for j := range subs {
					subs[j] = store.Submission{Fingerprint: benchFP(run, uint64((i/2)*per+j)), Institution: "bench", ReceivedAt: now}
				}
				start := time.Now()
				recs, _, err := s.Submit(ctx, subs, 0)
				lat[kind] += time.Since(start)
				n[kind]++
				if err != nil || recs[0].New != (kind == 0) || !recs[0].ReceivedAt.Equal(now) {
					b.Fatalf("Submit = %+v, %v", recs[0], err)
				}
			}
			b.ReportMetric(float64(lat[0].Microseconds())/float64(max(n[0], 1)), "new-µs/call")
			b.ReportMetric(float64(lat[1].Microseconds())/float64(max(n[1], 1)), "other-µs/call")
		})
	}
}
