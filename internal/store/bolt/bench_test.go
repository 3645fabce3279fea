package bolt

// Benchmarks of the embedded store (durable unless said otherwise). With
// -short (make bench) the stores are smaller; make bench-full runs the
// sizes docs/benchmarks.md reports.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greatroar/blobloom"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
)

// benchFP returns the i-th fingerprint of a benchmark run.
func benchFP(run string, i uint64) fingerprint.Fingerprint {
	return fingerprint.Sum(fmt.Appendf(nil, "%s/%d", run, i))
}

// fill submits n fingerprints of run in chunks (not measured).
func fill(b *testing.B, s *Store, run string, n uint64) {
	b.Helper()
	fillPer(b, s, run, n, 20_000)
}

// fillPer submits n fingerprints of run, chunk per call (not measured).
func fillPer(b *testing.B, s *Store, run string, n uint64, chunk int) {
	b.Helper()
	ctx := context.Background()
	subs := make([]store.Submission, 0, chunk)
	now := time.Now()
	for i := range n {
		subs = append(subs, store.Submission{Fingerprint: benchFP(run, i), Institution: "bench", ReceivedAt: now})
		if len(subs) == chunk || i == n-1 {
			if _, _, err := s.Submit(ctx, subs, 0); err != nil {
				b.Fatal(err)
			}
			subs = subs[:0]
		}
	}
}

// BenchmarkSubmit measures acknowledged (fsync'd) submissions: from many
// concurrent submitters sharing group commits, and (serial) from one
// submitter at a time, which pays a commit (two fsyncs) per call.
func BenchmarkSubmit(b *testing.B) {
	b.Run("fps=1/serial", func(b *testing.B) {
		s := open(b, filepath.Join(b.TempDir(), "attestd.db"), false)
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
			s := open(b, filepath.Join(b.TempDir(), "attestd.db"), false)
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

// sealSize is the batch of BenchmarkSeal: 1M, or 100k with -short.
func sealSize() uint64 {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// BenchmarkSeal is one seal as batch.Sealer.SealOne does it, durable:
// Pending, merkle.Build and CommitBatch of the whole pending queue. It
// reports the parts' times and the peak Go heap above the baseline (heap
// objects sampled every millisecond).
func BenchmarkSeal(b *testing.B) {
	n := sealSize()
	ctx := context.Background()
	var pendingT, buildT, commitT time.Duration
	var peak uint64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s := open(b, filepath.Join(b.TempDir(), "attestd.db"), false)
		fill(b, s, fmt.Sprint("seal", i), n)
		runtime.GC()
		base := heapObjects()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var max atomic.Uint64
		wg.Go(func() {
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				if h := heapObjects(); h > max.Load() {
					max.Store(h)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		b.StartTimer()

		t0 := time.Now()
		fps, err := s.Pending(ctx, int(n))
		if err != nil || uint64(len(fps)) != n {
			b.Fatal(len(fps), err)
		}
		t1 := time.Now()
		tree, err := merkle.Build(fps)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := s.CommitBatch(ctx, fps, tree, time.Now()); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()

		b.StopTimer()
		close(stop)
		wg.Wait()
		pendingT += t1.Sub(t0)
		buildT += t2.Sub(t1)
		commitT += t3.Sub(t2)
		if m := max.Load(); m > base && m-base > peak {
			peak = m - base
		}
		s.Close()
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(pendingT), "pending-s")
	b.ReportMetric(per(buildT), "build-s")
	b.ReportMetric(per(commitT), "commit-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// readSize is the sealed store of BenchmarkEntry and BenchmarkNodes:
// 2^20 fingerprints, or 2^16 with -short.
func readSize() uint64 {
	if testing.Short() {
		return 1 << 16
	}
	return 1 << 20
}

// sealedStore returns a store holding n fingerprints of run sealed in one
// batch and merged into the index (written without fsync: only reads are
// measured).
func sealedStore(b *testing.B, run string, n uint64) (*Store, store.Batch) {
	b.Helper()
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "attestd.db"), true)
	fill(b, s, run, n)
	fps, err := s.Pending(ctx, int(n))
	if err != nil {
		b.Fatal(err)
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		b.Fatal(err)
	}
	batch, err := s.CommitBatch(ctx, fps, tree, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	// Reads of a store at rest: everything merged into the index.
	if err := s.merge(); err != nil {
		b.Fatal(err)
	}
	return s, batch
}

// BenchmarkRead measures the store side of GET /v1/fingerprints/{fp} on a
// sealed batch: Proof (fingerprint → batch, index, then the batch's
// header and anchors and the path), one goroutine and all cores.
func BenchmarkRead(b *testing.B) {
	size := readSize()
	ctx := context.Background()
	s, _ := sealedStore(b, "read", size)
	b.Run("entry", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Entry(ctx, benchFP("read", rng.Uint64N(size))); err != nil {
				b.Fatal(err)
			}
		}
	})
	proof := func(rng *rand.Rand) error {
		p, err := s.Proof(ctx, benchFP("read", rng.Uint64N(size)))
		if err == nil && len(p.Path) == 0 {
			err = fmt.Errorf("proof of %x has no path", p.Entry.Fingerprint[:])
		}
		return err
	}
	for _, read := range []struct {
		name string
		fn   func(*rand.Rand) error
	}{{"proof", proof}} {
		b.Run(read.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				if err := read.fn(rng); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(read.name+"/parallel", func(b *testing.B) {
			var seed atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 2))
				for pb.Next() {
					if err := read.fn(rng); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSubmitFirst compares an institution's first submission of
// fingerprints nobody submitted ("new") with its first submission of
// fingerprints another institution submitted before ("other"): both are a
// durable write in one group commit (entries in the log, or the
// submitter's own records in the log's subs bucket), so that a
// submitter's latency does not tell it whether someone else submitted a
// fingerprint. The two kinds of call alternate; each one's mean latency is
// reported.
func BenchmarkSubmitFirst(b *testing.B) {
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("fps=%d/serial", per), func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "attestd.db"), false)
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

// BenchmarkOpen measures Open of a store of readSize() sealed and merged
// fingerprints after a clean Close, and after an unclean shutdown (the
// marker left behind), when both files are walked and tx.Check'd and
// every index run is read in full.
func BenchmarkOpen(b *testing.B) {
	s, _ := sealedStore(b, "open", readSize())
	path := s.path
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, unclean := range []bool{false, true} {
		b.Run(map[bool]string{false: "clean", true: "unclean"}[unclean], func(b *testing.B) {
			for b.Loop() {
				if unclean {
					if err := os.WriteFile(path+UncleanSuffix, nil, 0o600); err != nil {
						b.Fatal(err)
					}
				}
				s, err := Open(Config{Path: path, NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			fi, _ := os.Stat(path)
			b.ReportMetric(float64(fi.Size())/(1<<20), "main-MiB")
		})
	}
}

// BenchmarkMerge is one merge round of 200,000 fingerprints (20,000 with
// -short) into an index that already holds 1M (100k): reading their
// records, sorting them and writing them as a run. The merger is
// held off (MergeAt and MergeEvery out of reach), so each round is
// exactly what the loop submitted before it.
func BenchmarkMerge(b *testing.B) {
	indexed, per := uint64(1_000_000), uint64(200_000)
	if testing.Short() {
		indexed, per = 100_000, 20_000
	}
	s := openCfg(b, Config{Path: filepath.Join(b.TempDir(), "attestd.db"), NoSync: true, MergeAt: 1 << 30, MergeEvery: time.Hour})
	fill(b, s, b.Name()+"/indexed", indexed)
	if err := s.merge(); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		fill(b, s, fmt.Sprintf("%s/%d", b.Name(), i), per)
		b.StartTimer()
		if err := s.merge(); err != nil {
			b.Fatal(err)
		}
		if n := s.Unindexed(); n != 0 {
			b.Fatalf("%d fingerprints left unindexed", n)
		}
	}
	b.ReportMetric(float64(b.N)*float64(per)/b.Elapsed().Seconds(), "fps/s")
}

// BenchmarkMergeRounds grows an index by merge rounds, as a bulk load
// does: 10 rounds of 1M fingerprints (5 of 20,000 with -short), each
// submitted 1,000 per call (durable, not measured) and then merged by one
// s.merge() and the compactions it calls for (measured; the background
// compactor does them as the next round comes in). It reports the first
// and the last round's seconds, the runs left and the entries written per
// fingerprint indexed (the compactions' write amplification).
func BenchmarkMergeRounds(b *testing.B) {
	rounds, per := 10, uint64(1_000_000)
	if testing.Short() {
		rounds, per = 5, 20_000
	}
	var first, last time.Duration
	var runs int
	var written uint64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s := openCfg(b, Config{Path: filepath.Join(b.TempDir(), "attestd.db"), MergeAt: 1 << 30, MergeEvery: time.Hour})
		for r := range rounds {
			fillPer(b, s, fmt.Sprintf("%s/%d/%d", b.Name(), i, r), per, 1000)
			start := time.Now()
			b.StartTimer()
			if err := s.merge(); err != nil {
				b.Fatal(err)
			}
			for {
				did, err := s.compactStep()
				if err != nil {
					b.Fatal(err)
				}
				if !did {
					break
				}
			}
			b.StopTimer()
			switch d := time.Since(start); r {
			case 0:
				first = d
			case rounds - 1:
				last = d
			}
		}
		if n := s.Unindexed(); n != 0 {
			b.Fatalf("%d fingerprints left unindexed", n)
		}
		set := s.acquireRuns()
		runs = len(set.runs)
		set.release(s)
		written = uint64(rounds)*per + s.compacted.Load()
		s.Close()
		b.StartTimer() // b.Loop wants it running
	}
	b.ReportMetric(first.Seconds(), "first-round-s")
	b.ReportMetric(last.Seconds(), "last-round-s")
	b.ReportMetric(float64(runs), "runs")
	b.ReportMetric(float64(written)/float64(uint64(rounds)*per), "writes/fp")
}

// BenchmarkAbsentFilter: the index filters of a store of 13M fingerprints
// (the end of a 60 s bulk run), asked about new fingerprints (the common
// case of a submission), and new ones added; with a first filter of 1M
// (four filters: 1M, 2M, 4M and 8M) and of minFilterCapacity (two: 8M
// and 16M).
func BenchmarkAbsentFilter(b *testing.B) {
	for _, first := range []uint64{1 << 20, minFilterCapacity} {
		a := newAbsentFilter()
		a.filters, a.limit = []*blobloom.Filter{newFilter(first)}, first
		a.mu.Lock()
		for i := range uint64(13 << 20) {
			fp := benchFP("in", i)
			a.addLocked(&fp)
		}
		a.mu.Unlock()
		fresh := make([]fingerprint.Fingerprint, 1<<16)
		for i := range fresh {
			fresh[i] = benchFP("new", uint64(i))
		}
		name := fmt.Sprintf("first=%dM/filters=%d", first>>20, len(a.filters))
		b.Run(name+"/absent", func(b *testing.B) {
			i, maybe := 0, 0
			for b.Loop() {
				if !a.absent(&fresh[i%len(fresh)]) {
					maybe++
				}
				i++
			}
			b.ReportMetric(float64(maybe)/float64(i), "maybe/op")
		})
		b.Run(name+"/add", func(b *testing.B) {
			i := 0
			a.mu.Lock()
			defer a.mu.Unlock()
			for b.Loop() {
				a.addLocked(&fresh[i%len(fresh)])
				i++
			}
		})
	}
}
