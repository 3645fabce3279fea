package bolt

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomPairs returns n pairs of random fingerprints whose first prefix
// bytes are zero, each with at = its position.
func randomPairs(n, prefix int, seed uint64) []pair {
	rng := rand.New(rand.NewPCG(seed, 1))
	ps := make([]pair, n)
	for i := range ps {
		for j := prefix; j < len(ps[i].fp); j += 8 {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], rng.Uint64())
			copy(ps[i].fp[j:], w[:])
		}
		ps[i].at, ps[i].end = uint32(i), uint32(i)+1
	}
	return ps
}

// TestSortPairs: sortPairs orders by the whole fingerprint and keeps each
// pair whole, for rounds below and above the bucket pass, fingerprints
// that share their first bytes (one bucket) or more, and duplicates.
func TestSortPairs(t *testing.T) {
	dup := randomPairs(300_000, 0, 3)
	for i := 0; i < len(dup); i += 7 {
		dup[i].fp = dup[i/2].fp
	}
	for name, ps := range map[string][]pair{
		"empty": nil, "one": randomPairs(1, 0, 1), "small": randomPairs(1000, 0, 1),
		"large": randomPairs(300_000, 0, 2), "one bucket": randomPairs(300_000, 2, 4),
		"first 9 bytes shared": randomPairs(300_000, 9, 5), "duplicates": dup,
	} {
		want := slices.Clone(ps)
		slices.SortStableFunc(want, func(a, b pair) int { return compareFP(&a.fp, &b.fp) })
		got := sortPairs(slices.Clone(ps))
		if len(got) != len(want) {
			t.Fatalf("%s: %d pairs, want %d", name, len(got), len(want))
		}
		seen := make([]bool, len(ps))
		for i := range got {
			if got[i].fp != want[i].fp {
				t.Fatalf("%s: pair %d is %x, want %x", name, i, got[i].fp[:8], want[i].fp[:8])
			}
			p := got[i]
			if int(p.at) >= len(ps) || seen[p.at] || ps[p.at] != p {
				t.Fatalf("%s: pair %d (%x, at %d) is not one of the input, once", name, i, p.fp[:8], p.at)
			}
			seen[p.at] = true
		}
	}
}

// BenchmarkSortPairs: a merge round of 1M, sorted as one (slices.SortFunc)
// or by sortPairs, side by side.
func BenchmarkSortPairs(b *testing.B) {
	src := randomPairs(1<<20, 0, 7)
	ps := make([]pair, len(src))
	b.Run("one", func(b *testing.B) {
		for b.Loop() {
			copy(ps, src)
			slices.SortFunc(ps, func(a, b pair) int { return compareFP(&a.fp, &b.fp) })
		}
	})
	b.Run("buckets", func(b *testing.B) {
		for b.Loop() {
			copy(ps, src)
			sortPairs(ps)
		}
	})
}
