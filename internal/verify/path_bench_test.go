package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
)

// BenchmarkVerifyRandomPaths checks proofs of random leaves of one tree on one
// goroutine (proofs/s per core): 2^20 leaves, or 2^16 with -short.
func BenchmarkVerifyRandomPaths(b *testing.B) {
	size := uint64(1 << 20)
	if testing.Short() {
		size = 1 << 16
	}
	fps := make([]fingerprint.Fingerprint, size)
	for i := range fps {
		fps[i] = sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		b.Fatal(err)
	}
	const nProofs = 4096
	type pr struct {
		idx  uint64
		path [][32]byte
	}
	rng := rand.New(rand.NewPCG(1, 2))
	proofs := make([]pr, nProofs)
	for i := range proofs {
		idx := rng.Uint64N(size)
		p, err := tree.Proof(idx)
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = pr{idx, p}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := proofs[i%nProofs]
		if err := VerifyPath(fps[p.idx], p.idx, size, p.path, tree.Root); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
}
