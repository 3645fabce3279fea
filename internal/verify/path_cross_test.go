package verify_test

// These tests hold the verifier's own path code against the tree side
// (internal/merkle, and the merkletree library directly). Only test code
// imports them: package verify itself never does.

import (
	"crypto/sha256"
	"errors"
	"hash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cbergoon/merkletree"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/verify"
)

// pathFP is the published test fingerprint of leaf i (as in the vectors):
// SHA-256("attestd test leaf " || decimal i).
func pathFP(i uint64) fingerprint.Fingerprint {
	return sha256.Sum256([]byte("attestd test leaf " + strconv.FormatUint(i, 10)))
}

func pathFPs(n uint64) []fingerprint.Fingerprint {
	fps := make([]fingerprint.Fingerprint, n)
	for i := range fps {
		fps[i] = pathFP(uint64(i))
	}
	return fps
}

var pathTrees sync.Map // uint64 -> *merkle.Tree

// pathTree returns the tree of pathFPs(n), built once per test binary.
func pathTree(t testing.TB, n uint64) *merkle.Tree {
	if v, ok := pathTrees.Load(n); ok {
		return v.(*merkle.Tree)
	}
	tr, err := merkle.Build(pathFPs(n))
	if err != nil {
		t.Fatalf("merkle.Build(%d): %v", n, err)
	}
	pathTrees.Store(n, tr)
	return tr
}

func pathProof(t testing.TB, tr *merkle.Tree, i uint64) [][32]byte {
	p, err := tr.Proof(i)
	if err != nil {
		t.Fatalf("Proof(%d) of size %d: %v", i, tr.Size, err)
	}
	return p
}

// TestPathEveryLeafVerifies: every proof of every leaf of every tree of
// size 1…300 and of a few large trees verifies, and leads to the root the
// tree side computed.
func TestPathEveryLeafVerifies(t *testing.T) {
	sizes := []uint64{1000, 4097, 65537}
	for n := uint64(1); n <= 300; n++ {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		tr, err := merkle.Build(pathFPs(n)) // not cached: the large ones are big
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			path := pathProof(t, tr, i)
			if err := verify.VerifyPath(pathFP(i), i, n, path, tr.Root); err != nil {
				t.Fatalf("size %d index %d: %v", n, i, err)
			}
		}
	}
}

// libLeaf and newLibHasher feed the merkletree library directly, with the
// hashing of proof format v1, so that the library's own tree and path
// (GetMerklePath, linear, fine for a test) are checked without
// internal/merkle in between.
type libLeaf struct{ fp fingerprint.Fingerprint }

func (l libLeaf) CalculateHash() ([]byte, error) {
	h := sha256.Sum256(append([]byte{0x00}, l.fp[:]...))
	return h[:], nil
}

func (l libLeaf) Equals(o merkletree.Content) (bool, error) {
	other, ok := o.(libLeaf)
	return ok && other.fp == l.fp, nil
}

func newLibHasher() hash.Hash {
	h := sha256.New()
	h.Write([]byte{0x01}) // the library never calls Reset
	return h
}

func TestPathAgreesWithLibrary(t *testing.T) {
	for n := uint64(1); n <= 300; n++ {
		cs := make([]merkletree.Content, n)
		for i := range cs {
			cs[i] = libLeaf{pathFP(uint64(i))}
		}
		lt, err := merkletree.NewTreeWithHashStrategy(cs, newLibHasher)
		if err != nil {
			t.Fatal(err)
		}
		root := [32]byte(lt.MerkleRoot())
		for i := range n {
			lp, _, err := lt.GetMerklePath(cs[i])
			if err != nil {
				t.Fatal(err)
			}
			path := make([][32]byte, len(lp))
			for k, h := range lp {
				path[k] = [32]byte(h)
			}
			got, err := verify.RootFromPath(pathFP(i), i, n, path)
			if err != nil || got != root {
				t.Fatalf("size %d index %d: RootFromPath = %x, %v; library root %x", n, i, got, err, root)
			}
		}
	}
}

// pathShape is the kind of each level of the proof of leaf i in a tree of
// n leaves: 'L' sibling on the left, 'R' sibling on the right, 'S'
// self-paired (trailing odd node). It is the test's model of the rule.
func pathShape(i, n uint64) string {
	var s []byte
	w := n
	for range shapeDepth(n) {
		switch {
		case i%2 == 1:
			s = append(s, 'L')
		case i+1 < w:
			s = append(s, 'R')
		default:
			s = append(s, 'S')
		}
		i, w = i/2, w-w/2
	}
	return string(s)
}

// shapeDepth is the model's path length: the levels until width 1 (1 for
// a single leaf).
func shapeDepth(n uint64) int {
	d := 0
	for w := n; w > 1; w -= w / 2 {
		d++
	}
	if n == 1 {
		return 1
	}
	return d
}

// claimUndetectable reports whether the valid proof of leaf i in a tree of
// n distinct leaves also verifies, against the same root, when claimed as
// leaf j of a tree of m leaves. Level by level the true computation is
// node(p, h) for 'L', node(h, p) for 'R' and node(h, h) for 'S' (where the
// entry p is h itself). A claim computes the same root exactly when the
// path length is the same and on every level the claimed kind is the true
// one, or the true kind is 'S': then p = h and node(p, h), node(h, p) and
// node(h, h) coincide. Any other difference needs a sibling equal to its
// own node, which distinct leaves never give (and a claimed 'S' over a true
// sibling is caught by the self-pair check).
//
// With m = n no other index qualifies (a self-paired node is the last of its
// level, so no index of the same tree has a node after it there); but other
// sizes do, and with them, on a self-paired level, the index of the
// library's "virtual duplicate": leaf 2 of [a,b,c] is also leaf 3 of
// [a,b,c,c], whose root is the same. A path commits to sibling hashes and
// their order, not to how many leaves lie under a right-hand sibling or
// whether a node was paired with itself or with an equal copy. So the path
// alone cannot pin the size; the size anchored on chain with the root does,
// and (index, size) then pins the leaf.
func claimUndetectable(i, n, j, m uint64) bool {
	if m == 0 || j >= m {
		return false
	}
	a, b := pathShape(i, n), pathShape(j, m)
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] && a[k] != 'S' {
			return false
		}
	}
	return true
}

// sizeChangeUndetectable is claimUndetectable with the index unchanged.
func sizeChangeUndetectable(i, n, m uint64) bool { return claimUndetectable(i, n, i, m) }

func TestPathShapeModel(t *testing.T) {
	for _, tc := range []struct {
		i, n  uint64
		shape string
	}{
		{0, 1, "S"}, {0, 2, "R"}, {2, 3, "SL"}, {0, 5, "RRR"}, {3, 5, "LLR"}, {4, 5, "SSL"}, {6, 7, "SLL"},
	} {
		if got := pathShape(tc.i, tc.n); got != tc.shape {
			t.Errorf("pathShape(%d, %d) = %q, want %q", tc.i, tc.n, got, tc.shape)
		}
	}
	for n := uint64(1); n < 1<<12; n++ {
		if shapeDepth(n) != merkle.Depth(n) {
			t.Fatalf("shapeDepth(%d) = %d, merkle.Depth %d", n, shapeDepth(n), merkle.Depth(n))
		}
	}
}

func flipBit(h [32]byte, bit int) [32]byte {
	h[bit/8] ^= 1 << (bit % 8)
	return h
}

// TestPathMutations: every single-bit change of a path entry, of the root
// or of the fingerprint, and every change of the index alone, is rejected.
// A claim of another size (with the same or another index) is rejected
// unless claimUndetectable says the path genuinely cannot tell it from the
// truth — and then it must pass, which is why the size is anchored.
func TestPathMutations(t *testing.T) {
	sizes := []uint64{31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000}
	for n := uint64(1); n <= 20; n++ {
		sizes = append(sizes, n)
	}
	undetectable := map[bool]int{} // by "same index"
	for _, n := range sizes {
		tr := pathTree(t, n)
		indices := []uint64{0, 1, n / 2, n - 2, n - 1}
		if n <= 65 {
			indices = nil
			for i := range n {
				indices = append(indices, i)
			}
		}
		for _, i := range indices {
			if i >= n {
				continue
			}
			fp, path, root := pathFP(i), pathProof(t, tr, i), tr.Root
			if err := verify.VerifyPath(fp, i, n, path, root); err != nil {
				t.Fatalf("size %d index %d: unmutated proof: %v", n, i, err)
			}
			shape := pathShape(i, n)
			for k := range path {
				orig := path[k]
				for bit := range 256 {
					path[k] = flipBit(orig, bit)
					err := verify.VerifyPath(fp, i, n, path, root)
					// A changed entry changes every node above it, so the first
					// self-pair check at or above level k catches it, if any.
					want := verify.ErrRootMismatch
					if strings.Contains(shape[k:], "S") {
						want = verify.ErrSelfPair
					}
					if !errors.Is(err, want) {
						t.Fatalf("size %d index %d: path[%d] bit %d flipped: %v, want %v", n, i, k, bit, err, want)
					}
				}
				path[k] = orig
			}
			for bit := range 256 {
				if err := verify.VerifyPath(fp, i, n, path, flipBit(root, bit)); !errors.Is(err, verify.ErrRootMismatch) {
					t.Fatalf("size %d index %d: root bit %d flipped: %v", n, i, bit, err)
				}
				if err := verify.VerifyPath(flipBit(fp, bit), i, n, path, root); err == nil {
					t.Fatalf("size %d index %d: fingerprint bit %d flipped: accepted", n, i, bit)
				}
			}
			if err := verify.VerifyPath(fp, i, n, path[:len(path)-1], root); !errors.Is(err, verify.ErrPathLength) {
				t.Fatalf("size %d index %d: path shortened: %v", n, i, err)
			}
			if err := verify.VerifyPath(fp, i, n, append(path[:len(path):len(path)], root), root); !errors.Is(err, verify.ErrPathLength) {
				t.Fatalf("size %d index %d: path lengthened: %v", n, i, err)
			}

			otherIndices := []uint64{i - 1, i + 1, 0, n - 1, n, n + 1, 2 * n, math.MaxUint64}
			for k := range path {
				otherIndices = append(otherIndices, i^1<<k)
			}
			for _, j := range otherIndices {
				if j == i {
					continue
				}
				if claimUndetectable(i, n, j, n) {
					t.Fatalf("size %d index %d: the model says index %d of the same tree is undetectable", n, i, j)
				}
				err := verify.VerifyPath(fp, j, n, path, root)
				if err == nil || (j >= n && !errors.Is(err, verify.ErrIndexOutOfRange)) {
					t.Fatalf("size %d index %d: claimed index %d: %v", n, i, j, err)
				}
			}

			// Other sizes, alone and with other indices: accepted exactly when
			// the model says the path cannot tell the claims apart.
			d := len(path)
			otherSizes := []uint64{0, n - 1, n + 1, 2 * n, n / 2, 1 << (d - 1), 1<<(d-1) + 1, 1 << d, 1<<d + 1, math.MaxUint64}
			for _, m := range otherSizes {
				if m == n {
					continue
				}
				for _, j := range append(otherIndices, i) {
					err := verify.VerifyPath(fp, j, m, path, root)
					if claimUndetectable(i, n, j, m) {
						undetectable[j == i]++
						if err != nil {
							t.Fatalf("size %d index %d: claim (index %d, size %d) has a compatible shape (%s vs %s) yet fails: %v", n, i, j, m, pathShape(i, n), pathShape(j, m), err)
						}
					} else if err == nil {
						t.Fatalf("size %d index %d: claim (index %d, size %d) (shape %s vs %s): accepted", n, i, j, m, pathShape(i, n), pathShape(j, m))
					}
				}
			}
		}
	}
	if undetectable[true] == 0 || undetectable[false] == 0 {
		t.Errorf("undetectable claims met: %v; the model or the sizes are off", undetectable)
	}
	t.Logf("claims the path alone cannot tell from the truth (the anchored size pins them): %d of another size, %d of another size and index", undetectable[true], undetectable[false])
}

// TestPathSizeIsAnchored: [a,b,c] and [a,b,c,c] have the same root but
// different sizes. Leaf 3 exists only in the size-4 tree: its proof is
// rejected against the anchored size 3.
func TestPathSizeIsAnchored(t *testing.T) {
	a, b, c := pathFP(0), pathFP(1), pathFP(2)
	t3, err := merkle.Build([]fingerprint.Fingerprint{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	t4, err := merkle.Build([]fingerprint.Fingerprint{a, b, c, c})
	if err != nil {
		t.Fatal(err)
	}
	if t3.Root != t4.Root {
		t.Fatalf("roots differ: %x vs %x", t3.Root, t4.Root)
	}
	root := t3.Root
	p43 := pathProof(t, t4, 3)
	if err := verify.VerifyPath(c, 3, 4, p43, root); err != nil {
		t.Fatalf("index 3 against size 4: %v", err)
	}
	if err := verify.VerifyPath(c, 3, 3, p43, root); !errors.Is(err, verify.ErrIndexOutOfRange) {
		t.Fatalf("index 3 against the anchored size 3: %v, want ErrIndexOutOfRange", err)
	}
	// Leaf 2 of [a,b,c] has the same path as leaves 2 and 3 of [a,b,c,c]:
	// the path cannot tell them apart, the anchored size can.
	p32 := pathProof(t, t3, 2)
	for _, i := range []uint64{2, 3} {
		if p := pathProof(t, t4, i); !slices.Equal(p, p32) {
			t.Fatalf("leaf %d of [a,b,c,c] has path %x, leaf 2 of [a,b,c] %x", i, p, p32)
		}
	}
	for _, claim := range [][2]uint64{{2, 3}, {2, 4}, {3, 4}} {
		if err := verify.VerifyPath(c, claim[0], claim[1], p32, root); err != nil {
			t.Fatalf("index %d against size %d: %v", claim[0], claim[1], err)
		}
	}

	// The other examples of docs/proof-format.md: leaf 0 of 5 also fits
	// sizes 6, 7 and 8 (not 4 or 9); a size-1 proof also fits size 2.
	t5 := pathTree(t, 5)
	p50 := pathProof(t, t5, 0)
	for m := uint64(4); m <= 9; m++ {
		err := verify.VerifyPath(a, 0, m, p50, t5.Root)
		if fits := m >= 5 && m <= 8; (err == nil) != fits {
			t.Errorf("leaf 0 of 5 claimed at size %d: %v, want accepted %v", m, err, fits)
		}
	}
	t1 := pathTree(t, 1)
	if err := verify.VerifyPath(a, 0, 2, pathProof(t, t1, 0), t1.Root); err != nil {
		t.Errorf("size-1 proof claimed at size 2: %v", err)
	}
}

// FuzzRootFromPath: arbitrary (index, size, path) never panics and only
// succeeds on well-formed input; and against a real tree, a path is accepted
// only if it is that tree's path for that leaf, claimed at the leaf's
// (index, size) or at a claim the path cannot tell from it (see
// claimUndetectable), and the tree's own path is always accepted there.
func FuzzRootFromPath(f *testing.F) {
	f.Add(uint64(5), uint64(4), int8(0), int8(0), []byte{}, byte(0))
	f.Add(uint64(82), uint64(82), int8(35), int8(1), []byte{}, byte(0)) // leaf 82 of 83 as leaf 83 of 118
	f.Add(uint64(3), uint64(2), int8(0), int8(1), []byte{}, byte(0))
	f.Add(uint64(17), uint64(16), int8(-1), int8(0), []byte{0, 1}, byte(0))
	f.Add(uint64(100), uint64(37), int8(0), int8(0), make([]byte, 64), byte(3))
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64-1), int8(0), int8(0), make([]byte, 64*32), byte(0))
	f.Fuzz(fuzzRootFromPath)
}

func fuzzRootFromPath(t *testing.T, size, index uint64, dSize, dIndex int8, data []byte, fpFlip byte) {
	// Arbitrary input, path taken straight from data.
	raw := make([][32]byte, (len(data)+31)/32)
	for k := range raw {
		copy(raw[k][:], data[32*k:])
	}
	fp := pathFP(index)
	if _, err := verify.RootFromPath(fp, index, size, raw); err == nil {
		if size == 0 || index >= size || len(raw) != merkle.Depth(size) {
			t.Fatalf("accepted index %d size %d with %d path entries", index, size, len(raw))
		}
	} else if !errors.Is(err, verify.ErrEmptyTree) && !errors.Is(err, verify.ErrIndexOutOfRange) &&
		!errors.Is(err, verify.ErrPathLength) && !errors.Is(err, verify.ErrSelfPair) {
		t.Fatalf("unexpected error: %v", err)
	}

	// A real tree; the true path xor data; a claim near the truth.
	n := 1 + size%257
	i := index % n
	tr := pathTree(t, n)
	truth := pathProof(t, tr, i)
	cand := make([][32]byte, len(truth))
	copy(cand, truth)
	for b, x := range data {
		if b/32 < len(cand) {
			cand[b/32][b%32] ^= x
		}
	}
	if dSize == math.MinInt8 && len(cand) > 1 { // also try a wrong length
		cand = cand[:len(cand)-1]
	}
	ci, cs := i+uint64(int64(dIndex)), n+uint64(int64(dSize))
	cfp := pathFP(i)
	cfp[fpFlip%32] ^= fpFlip / 32 // fpFlip < 32 leaves it unchanged
	err := verify.VerifyPath(cfp, ci, cs, cand, tr.Root)
	same := slices.Equal(cand, truth) && cfp == pathFP(i)
	fits := (ci == i && cs == n) || claimUndetectable(i, n, ci, cs)
	if err == nil && (!same || !fits) {
		t.Fatalf("accepted a path that is not the tree's: size %d index %d claimed as index %d size %d, path changed %v", n, i, ci, cs, !same)
	}
	if err != nil && same && fits {
		t.Fatalf("rejected the tree's own path (size %d index %d, claimed as index %d size %d): %v", n, i, ci, cs, err)
	}
}

// go test ./internal/verify -run '^$' -bench VerifyPath -benchmem
func BenchmarkVerifyPath(b *testing.B) {
	const n = 1_000_000
	tr := pathTree(b, n)
	i := uint64(n - 1)
	path, fp := pathProof(b, tr, i), pathFP(i)
	b.ReportAllocs()
	for b.Loop() {
		if err := verify.VerifyPath(fp, i, n, path, tr.Root); err != nil {
			b.Fatal(err)
		}
	}
}
