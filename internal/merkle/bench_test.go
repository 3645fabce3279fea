package merkle

import (
	"fmt"
	"testing"
)

var benchSizes = []struct {
	name string
	n    uint64
}{{"1k", 1000}, {"100k", 100_000}, {"1M", 1_000_000}}

// go test ./internal/merkle -run '^$' -bench . -benchmem
func BenchmarkBuild(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%s", s.name), func(b *testing.B) {
			fps := testFPs(s.n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(fps); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.n)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
		})
	}
}

func BenchmarkProof(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%s", s.name), func(b *testing.B) {
			tr := cachedTree(b, s.n).tree
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				if _, err := tr.Proof(i); err != nil {
					b.Fatal(err)
				}
				i = (i + 7919) % s.n
			}
		})
	}
}

// BenchmarkRawSHA256 is the hashing Build cannot avoid, without the
// library: the leaf hashes and every inner node hash of a tree of the same
// size, on one goroutine, into preallocated levels. Build's time above it
// is the library's (and the extraction of levels).
func BenchmarkRawSHA256(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%s", s.name), func(b *testing.B) {
			fps := testFPs(s.n)
			levels := make([][][32]byte, Depth(s.n)+1)
			for w, k := s.n, 0; k < len(levels); w, k = halve(w), k+1 {
				levels[k] = make([][32]byte, w)
			}
			b.ReportAllocs()
			for b.Loop() {
				for i, fp := range fps {
					levels[0][i] = LeafHash(fp)
				}
				for k := 1; k < len(levels); k++ {
					below := levels[k-1]
					for j := range levels[k] {
						r := min(2*j+1, len(below)-1)
						levels[k][j] = NodeHash(below[2*j], below[r])
					}
				}
			}
			b.ReportMetric(float64(s.n)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
		})
	}
}

// BenchmarkPathPositions is the proof shape computation of one leaf.
func BenchmarkPathPositions(b *testing.B) {
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		if _, err := PathPositions(i, 1_000_000); err != nil {
			b.Fatal(err)
		}
		i = (i + 7919) % 1_000_000
	}
}
