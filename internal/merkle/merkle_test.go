package merkle

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"unsafe"

	"github.com/cbergoon/merkletree"

	"github.com/attestd/attestd/internal/fingerprint"
)

// testFP is the published test fingerprint of leaf i:
// SHA-256("attestd test leaf " || decimal i).
func testFP(i uint64) fingerprint.Fingerprint {
	return sha256.Sum256([]byte("attestd test leaf " + strconv.FormatUint(i, 10)))
}

func testFPs(n uint64) []fingerprint.Fingerprint {
	fps := make([]fingerprint.Fingerprint, n)
	for i := range fps {
		fps[i] = testFP(uint64(i))
	}
	return fps
}

func mustBuild(t testing.TB, fps []fingerprint.Fingerprint) *Tree {
	t.Helper()
	tr, err := Build(fps)
	if err != nil {
		t.Fatalf("Build(%d leaves): %v", len(fps), err)
	}
	return tr
}

// refLevels builds the levels the naive way, with its own hashing, as the
// reference for Build.
func refLevels(fps []fingerprint.Fingerprint) [][][32]byte {
	var lvl [][32]byte
	for _, fp := range fps {
		lvl = append(lvl, sha256.Sum256(append([]byte{0x00}, fp[:]...)))
	}
	levels := [][][32]byte{lvl}
	for len(lvl) > 1 || len(levels) == 1 {
		var next [][32]byte
		for i := 0; i < len(lvl); i += 2 {
			r := i + 1
			if r == len(lvl) {
				r = i
			}
			buf := append([]byte{0x01}, lvl[i][:]...)
			next = append(next, sha256.Sum256(append(buf, lvl[r][:]...)))
		}
		levels = append(levels, next)
		lvl = next
	}
	return levels
}

func hexHash(s string) [32]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("bad hash literal " + s)
	}
	return [32]byte(b)
}

func TestHashesKnownAnswers(t *testing.T) {
	var zero fingerprint.Fingerprint
	// sha256sum of 33 zero bytes, and of 0x01 followed by 64 zero bytes.
	if got, want := LeafHash(zero), hexHash("7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"); got != want {
		t.Errorf("LeafHash(0) = %x, want %x", got, want)
	}
	if got, want := NodeHash([32]byte{}, [32]byte{}), hexHash("ae0798d0ecaed2b778eddebf18f071a561c53658c05e76cedecc27cafbdbc577"); got != want {
		t.Errorf("NodeHash(0, 0) = %x, want %x", got, want)
	}
	// Domain separation: neither is the plain SHA-256 of its input.
	if LeafHash(zero) == sha256.Sum256(zero[:]) {
		t.Error("LeafHash is not domain separated")
	}
	a, b := LeafHash(testFP(0)), LeafHash(testFP(1))
	if NodeHash(a, b) == sha256.Sum256(append(a[:], b[:]...)) {
		t.Error("NodeHash is not domain separated")
	}
	if NodeHash(a, b) == NodeHash(b, a) {
		t.Error("NodeHash ignores order")
	}
}

func TestDepth(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		want int
	}{
		{0, 0}, {1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3}, {9, 4}, {16, 4}, {17, 5},
		{1 << 20, 20}, {1<<20 + 1, 21}, {1 << 63, 63}, {1<<63 + 1, 64}, {math.MaxUint64, 64},
	} {
		if got := Depth(tc.size); got != tc.want {
			t.Errorf("Depth(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

// testSizes is every size 1…300 and a few large ones.
func testSizes() []uint64 {
	var sizes []uint64
	for n := uint64(1); n <= 300; n++ {
		sizes = append(sizes, n)
	}
	return append(sizes, 1000, 1024, 1025, 4097)
}

func TestBuildMatchesReference(t *testing.T) {
	for _, n := range testSizes() {
		fps := testFPs(n)
		tr := mustBuild(t, fps)
		ref := refLevels(fps)
		if tr.Size != n {
			t.Fatalf("size %d: Tree.Size = %d", n, tr.Size)
		}
		if len(tr.Levels) != Depth(n)+1 || len(ref) != Depth(n)+1 {
			t.Fatalf("size %d: %d levels (reference %d), want Depth+1 = %d", n, len(tr.Levels), len(ref), Depth(n)+1)
		}
		for k, lvl := range ref {
			want := make([]byte, 0, 32*len(lvl))
			for _, h := range lvl {
				want = append(want, h[:]...)
			}
			if !bytes.Equal(tr.Levels[k], want) {
				t.Fatalf("size %d: level %d differs from the reference (%d bytes, want %d)", n, k, len(tr.Levels[k]), len(want))
			}
		}
		if tr.Root != ref[len(ref)-1][0] {
			t.Fatalf("size %d: root %x, reference %x", n, tr.Root, ref[len(ref)-1][0])
		}
	}
}

// TestProofMatchesLibraryPath holds Tree.Proof (stored levels read at
// PathPositions) against the library's own, linear GetMerklePath, which
// production code never calls but which makes an independent oracle here.
func TestProofMatchesLibraryPath(t *testing.T) {
	for n := uint64(1); n <= 80; n++ {
		fps := testFPs(n)
		tr := mustBuild(t, fps)
		lt, err := libraryTree(fps)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(lt.MerkleRoot(), tr.Root[:]) {
			t.Fatalf("size %d: library root %x, Tree.Root %x", n, lt.MerkleRoot(), tr.Root)
		}
		for i := range n {
			got, err := tr.Proof(i)
			if err != nil {
				t.Fatalf("size %d: Proof(%d): %v", n, i, err)
			}
			want, _, err := lt.GetMerklePath(&leafContent{fp: fps[i]})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("size %d index %d: path has %d entries, library %d", n, i, len(got), len(want))
			}
			for k := range want {
				if !bytes.Equal(got[k][:], want[k]) {
					t.Fatalf("size %d index %d: path[%d] = %x, library %x", n, i, k, got[k], want[k])
				}
			}
		}
	}
}

func TestPathPositions(t *testing.T) {
	p := func(level int, index uint64) Pos { return Pos{Level: level, Index: index} }
	for _, tc := range []struct {
		index, size uint64
		want        []Pos
	}{
		{0, 1, []Pos{p(0, 0)}}, // single leaf: paired with itself
		{0, 2, []Pos{p(0, 1)}},
		{1, 2, []Pos{p(0, 0)}},
		{2, 3, []Pos{p(0, 2), p(1, 0)}},
		// Size 5 (widths 5, 3, 2, 1), the worked example of docs/proof-format.md.
		{0, 5, []Pos{p(0, 1), p(1, 1), p(2, 1)}},
		{1, 5, []Pos{p(0, 0), p(1, 1), p(2, 1)}},
		{2, 5, []Pos{p(0, 3), p(1, 0), p(2, 1)}},
		{3, 5, []Pos{p(0, 2), p(1, 0), p(2, 1)}},
		{4, 5, []Pos{p(0, 4), p(1, 2), p(2, 0)}},
		{6, 7, []Pos{p(0, 6), p(1, 2), p(2, 0)}},
		{8, 9, []Pos{p(0, 8), p(1, 4), p(2, 2), p(3, 0)}},
		// The largest tree: no overflow in the widths.
		{math.MaxUint64 - 1, math.MaxUint64, func() []Pos {
			ps := []Pos{p(0, math.MaxUint64-1)}
			for k := 1; k < 64; k++ {
				ps = append(ps, p(k, (math.MaxUint64-1)>>k^1))
			}
			return ps
		}()},
	} {
		got, err := PathPositions(tc.index, tc.size)
		if err != nil {
			t.Errorf("PathPositions(%d, %d): %v", tc.index, tc.size, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("PathPositions(%d, %d) = %v, want %v", tc.index, tc.size, got, tc.want)
		}
	}
	for _, tc := range []struct {
		index, size uint64
		want        error
	}{
		{0, 0, ErrEmptyTree},
		{5, 0, ErrEmptyTree},
		{1, 1, ErrIndexOutOfRange},
		{5, 5, ErrIndexOutOfRange},
		{math.MaxUint64, math.MaxUint64, ErrIndexOutOfRange},
	} {
		if _, err := PathPositions(tc.index, tc.size); !errors.Is(err, tc.want) {
			t.Errorf("PathPositions(%d, %d) error = %v, want %v", tc.index, tc.size, err, tc.want)
		}
	}
}

func TestBuildEmpty(t *testing.T) {
	for _, fps := range [][]fingerprint.Fingerprint{nil, {}} {
		if tr, err := Build(fps); !errors.Is(err, ErrEmptyTree) || tr != nil {
			t.Errorf("Build(%v) = %v, %v; want nil, ErrEmptyTree", fps, tr, err)
		}
	}
}

func TestProofErrors(t *testing.T) {
	tr := mustBuild(t, testFPs(5))
	if _, err := tr.Proof(5); !errors.Is(err, ErrIndexOutOfRange) {
		t.Errorf("Proof(5) of size 5: %v, want ErrIndexOutOfRange", err)
	}
	if _, err := (&Tree{}).Proof(0); !errors.Is(err, ErrEmptyTree) {
		t.Errorf("Proof of an empty Tree: %v, want ErrEmptyTree", err)
	}
	damaged := map[string]func(*Tree){
		"level missing":   func(t *Tree) { t.Levels = t.Levels[:len(t.Levels)-1] },
		"level truncated": func(t *Tree) { t.Levels[1] = t.Levels[1][:64] },
		"level too long":  func(t *Tree) { t.Levels[0] = append(t.Levels[0], make([]byte, 32)...) },
		"ragged level":    func(t *Tree) { t.Levels[2] = t.Levels[2][:63] },
		"size too large":  func(t *Tree) { t.Size = 8 },
	}
	for name, damage := range damaged {
		d := mustBuild(t, testFPs(5))
		damage(d)
		for i := range uint64(5) {
			if _, err := d.Proof(i); !errors.Is(err, ErrMalformedTree) {
				t.Errorf("%s: Proof(%d): %v, want ErrMalformedTree", name, i, err)
			}
		}
	}
}

// TestSameRootDifferentSize shows why the size is anchored: the library's
// rule gives [a,b,c] and [a,b,c,c] one root.
func TestSameRootDifferentSize(t *testing.T) {
	a, b, c := testFP(0), testFP(1), testFP(2)
	t3 := mustBuild(t, []fingerprint.Fingerprint{a, b, c})
	t4 := mustBuild(t, []fingerprint.Fingerprint{a, b, c, c})
	if t3.Root != t4.Root {
		t.Fatalf("roots differ: %x vs %x", t3.Root, t4.Root)
	}
	if t3.Size == t4.Size {
		t.Fatal("sizes are equal")
	}
	if _, err := t3.Proof(3); !errors.Is(err, ErrIndexOutOfRange) {
		t.Errorf("Proof(3) of [a,b,c]: %v, want ErrIndexOutOfRange", err)
	}
}

func TestDuplicateFingerprints(t *testing.T) {
	fps := []fingerprint.Fingerprint{testFP(0), testFP(0), testFP(1), testFP(0), testFP(0)}
	tr := mustBuild(t, fps)
	ref := refLevels(fps)
	if tr.Root != ref[len(ref)-1][0] {
		t.Fatalf("root %x, reference %x", tr.Root, ref[len(ref)-1][0])
	}
}

// TestLibraryHashSlices checks the hardening against the library's
// append(left.Hash, right.Hash...): every hash slice we hand it is a
// 32-byte hash whose spare capacity (the scratch the append writes into)
// overlaps no other node's hash, and the hash strategy carries the prefix
// across Reset.
func TestLibraryHashSlices(t *testing.T) {
	c := &leafContent{fp: testFP(7)}
	h, err := c.CalculateHash()
	if err != nil || len(h) != 32 || cap(h) != slot || [32]byte(h) != LeafHash(testFP(7)) {
		t.Errorf("CalculateHash = %x (cap %d), %v; want LeafHash with cap %d", h, cap(h), err, slot)
	}
	l, r := LeafHash(testFP(1)), LeafHash(testFP(2))
	hs := &nodeHasher{Hash: sha256.New()} // no slab: Sum(nil) takes fresh slots
	hs.Write([]byte("garbage"))
	hs.Reset()
	hs.Write(append(l[:], r[:]...))
	sum := hs.Sum(nil)
	if [32]byte(sum) != NodeHash(l, r) || cap(sum) != slot {
		t.Errorf("hash strategy after Reset = %x (cap %d), want NodeHash %x with cap %d", sum, cap(sum), NodeHash(l, r), slot)
	}
	if sum := hs.Sum(make([]byte, 3, 100)); len(sum) != 35 || cap(sum) != 35 {
		t.Errorf("Sum(prefix) has len %d cap %d, want 35 35", len(sum), cap(sum))
	}

	// In built trees, the 64-byte room of every distinct hash slice is
	// disjoint from every other's (the library's duplicate leaf shares the
	// last leaf's slice).
	for _, n := range []int{1, 2, 3, 5, 8, 17, 1000} {
		fps := make([]fingerprint.Fingerprint, n)
		for i := range fps {
			fps[i] = testFP(uint64(i))
		}
		lt, err := libraryTree(fps)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[*byte]bool{}
		type span struct{ lo, hi uintptr }
		var spans []span
		var walk func(nd *merkletree.Node)
		walk = func(nd *merkletree.Node) {
			if nd == nil {
				return
			}
			if len(nd.Hash) != 32 || cap(nd.Hash) < slot {
				t.Fatalf("size %d: node hash len %d cap %d", n, len(nd.Hash), cap(nd.Hash))
			}
			if p := &nd.Hash[0]; !seen[p] {
				seen[p] = true
				lo := uintptr(unsafe.Pointer(p))
				spans = append(spans, span{lo, lo + slot})
			}
			walk(nd.Left)
			if nd.Right != nd.Left {
				walk(nd.Right)
			}
		}
		walk(lt.Root)
		slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
		for i := 1; i < len(spans); i++ {
			if spans[i].lo < spans[i-1].hi {
				t.Fatalf("size %d: two node hashes share their 64-byte room", n)
			}
		}
	}
}

// fuzzTrees caches trees by size across fuzz iterations.
var fuzzTrees sync.Map // uint64 -> *fuzzTree

type fuzzTree struct {
	fps  []fingerprint.Fingerprint
	tree *Tree
}

func cachedTree(t testing.TB, n uint64) fuzzTree {
	if v, ok := fuzzTrees.Load(n); ok {
		return v.(fuzzTree)
	}
	fps := testFPs(n)
	ft := fuzzTree{fps: fps, tree: mustBuild(t, fps)}
	fuzzTrees.Store(n, ft)
	return ft
}

func FuzzPathPositions(f *testing.F) {
	for _, s := range [][2]uint64{{0, 0}, {0, 1}, {4, 5}, {2, 3}, {7, 300}, {1000, 4097}, {math.MaxUint64 - 1, math.MaxUint64}, {1, 0}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, index, size uint64) {
		pos, err := PathPositions(index, size)
		switch {
		case size == 0:
			if !errors.Is(err, ErrEmptyTree) {
				t.Fatalf("size 0: %v", err)
			}
			return
		case index >= size:
			if !errors.Is(err, ErrIndexOutOfRange) {
				t.Fatalf("index %d size %d: %v", index, size, err)
			}
			return
		case err != nil:
			t.Fatalf("PathPositions(%d, %d): %v", index, size, err)
		}
		if len(pos) != Depth(size) {
			t.Fatalf("%d positions, Depth %d", len(pos), Depth(size))
		}
		for k, p := range pos {
			width := (size-1)>>k + 1 // ceil(size / 2^k)
			node := index >> k
			if p.Level != k || p.Index >= width {
				t.Fatalf("position %d = %+v outside level of width %d", k, p, width)
			}
			switch p.Index {
			case node ^ 1:
			case node:
				if node^1 < width {
					t.Fatalf("level %d: self-pair although sibling %d exists (width %d)", k, node^1, width)
				}
			default:
				t.Fatalf("level %d: position %d is neither node %d nor its sibling", k, p.Index, node)
			}
		}
		if top := (size-1)>>len(pos) + 1; top != 1 {
			t.Fatalf("width above the path is %d, want 1", top)
		}

		// On a real tree, the proof read at these positions is the library's
		// own path.
		n := 1 + size%200
		i := index % n
		ft := cachedTree(t, n)
		got, err := ft.tree.Proof(i)
		if err != nil {
			t.Fatal(err)
		}
		ref := refLevels(ft.fps)
		node := i
		for k := range got {
			sib := node ^ 1
			if sib >= uint64(len(ref[k])) {
				sib = node
			}
			if got[k] != ref[k][sib] {
				t.Fatalf("size %d index %d: path[%d] = %x, reference %x", n, i, k, got[k], ref[k][sib])
			}
			node >>= 1
		}
	})
}
