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
