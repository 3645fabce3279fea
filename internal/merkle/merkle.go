// Package merkle builds attestd's batch Merkle trees, proof format v1
// (docs/proof-format.md), and answers inclusion proofs from them.
//
// Trees are built with github.com/cbergoon/merkletree v0.2.0, hardened with
// RFC 6962 domain separation:
//
//	leaf = SHA-256(0x00 || fingerprint)
//	node = SHA-256(0x01 || left || right)
//
// On a level with an odd number of nodes the last node is paired with itself
// (the library's rule; for the leaf level the library duplicates the last
// leaf, which gives the same hashes). Because that rule lets [a,b,c] and
// [a,b,c,c] share a root, a root means nothing without the tree size: the
// size is anchored with the root and every proof carries (index, size).
//
// The shape of a proof is a function of (index, size) alone, defined once by
// [PathPositions]. A [Tree] keeps every level, so a proof is O(log n) reads
// (here or from a store that persisted [Tree.Levels]) and never a rebuild.
//
// internal/verify checks proofs with its own, independent code.
package merkle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"runtime"
	"sync"

	"github.com/cbergoon/merkletree"

	"github.com/attestd/attestd/internal/fingerprint"
)

// Domain separation prefixes (RFC 6962 §2.1).
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

// HashSize is the length of every leaf and node hash.
const HashSize = sha256.Size

// Sentinel errors; test for them with errors.Is.
var (
	// ErrEmptyTree: a tree needs at least one leaf (Build of no
	// fingerprints, or a size of 0).
	ErrEmptyTree = errors.New("merkle: empty tree")
	// ErrIndexOutOfRange: the leaf index is not below the tree size.
	ErrIndexOutOfRange = errors.New("merkle: leaf index out of range")
	// ErrMalformedTree: a Tree's Levels do not have the shape its Size
	// requires (for example a Tree reassembled from damaged storage).
	ErrMalformedTree = errors.New("merkle: malformed tree")
)

// LeafHash returns the leaf hash of a fingerprint: SHA-256(0x00 || fp).
func LeafHash(fp fingerprint.Fingerprint) [32]byte {
	var buf [1 + fingerprint.Size]byte
	buf[0] = leafPrefix
	copy(buf[1:], fp[:])
	return sha256.Sum256(buf[:])
}

// NodeHash returns the hash of an interior node:
// SHA-256(0x01 || left || right).
func NodeHash(left, right [32]byte) [32]byte {
	var buf [1 + 2*HashSize]byte
	buf[0] = nodePrefix
	copy(buf[1:], left[:])
	copy(buf[1+HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

// Depth returns the number of entries in a proof for a tree of size leaves,
// which is also the number of levels above the leaves: 0 for size 0, 1 for
// size 1 (the single leaf is paired with itself), and ceil(log2(size))
// otherwise.
func Depth(size uint64) int {
	switch size {
	case 0:
		return 0
	case 1:
		return 1
	}
	return bits.Len64(size - 1)
}

// halve returns ceil(w/2), the width of the level above a level of width w.
// It does not overflow for w = 2^64-1.
func halve(w uint64) uint64 { return w/2 + w&1 }

// Tree is a built batch tree. It is immutable after Build and safe for
// concurrent use.
type Tree struct {
	// Size is the number of leaves (fingerprints).
	Size uint64
	// Root is the tree head that gets anchored together with Size.
	Root [32]byte
	// Levels holds every node, bottom-up: Levels[0] is the leaf hashes
	// concatenated (32*Size bytes), Levels[k] the 32-byte hashes of level k
	// concatenated, level k having ceil(width(k-1)/2) nodes. The last level
	// is [Root]; len(Levels) == Depth(Size)+1 (so a size-1 tree has
	// Levels = [leaf, Root]).
	Levels [][]byte
}

// Pos names one node of a tree: its level (0 = leaves) and its index on
// that level.
type Pos struct {
	Level int
	Index uint64
}

// PathPositions returns, for the proof of leaf index in a tree of size
// leaves, the node to read on each level 0..Depth(size)-1: the sibling
// (index^1 on that level), or the node itself when it is the trailing odd
// node of its level and so is paired with itself. This is the single
// definition of the proof shape on the tree side; stores serve proofs by
// reading these positions.
//
// It fails with ErrEmptyTree if size is 0 and with ErrIndexOutOfRange if
// index >= size. It runs in O(log size).
func PathPositions(index, size uint64) ([]Pos, error) {
	return appendPathPositions(nil, index, size)
}

// appendPathPositions appends PathPositions(index, size) to dst.
func appendPathPositions(dst []Pos, index, size uint64) ([]Pos, error) {
	if size == 0 {
		return nil, ErrEmptyTree
	}
	if index >= size {
		return nil, fmt.Errorf("%w: index %d, size %d", ErrIndexOutOfRange, index, size)
	}
	width := size
	for level := range Depth(size) {
		sib := index ^ 1
		if sib >= width { // index == width-1 with width odd: paired with itself
			sib = index
		}
		dst = append(dst, Pos{Level: level, Index: sib})
		index >>= 1
		width = halve(width)
	}
	return dst, nil
}

// Proof returns the Merkle path of leaf index, leaf level first, in
// O(log Size) reads of Levels. It fails with ErrIndexOutOfRange or
// ErrEmptyTree as PathPositions does, and with ErrMalformedTree if Levels
// does not have the shape Size requires.
func (t *Tree) Proof(index uint64) ([][32]byte, error) {
	return AppendProof[[32]byte](nil, t, index)
}

// AppendProof appends t.Proof(index) to dst, with no allocation when dst
// has room: the receipt signer writes the paths of a whole tree into one
// array.
func AppendProof[H ~[32]byte](dst []H, t *Tree, index uint64) ([]H, error) {
	var buf [64]Pos // a tree of 2^64 leaves has 64 levels below its root
	pos, err := appendPathPositions(buf[:0], index, t.Size)
	if err != nil {
		return dst, err
	}
	if len(t.Levels) != len(pos)+1 {
		return dst, fmt.Errorf("%w: %d levels, want %d for size %d", ErrMalformedTree, len(t.Levels), len(pos)+1, t.Size)
	}
	width := t.Size
	for _, p := range pos {
		level := t.Levels[p.Level]
		if len(level)%HashSize != 0 || uint64(len(level)/HashSize) != width {
			return dst, fmt.Errorf("%w: level %d is %d bytes, want %d nodes", ErrMalformedTree, p.Level, len(level), width)
		}
		dst = append(dst, H(level[p.Index*HashSize:][:HashSize]))
		width = halve(width)
	}
	return dst, nil
}

// Build builds the tree of fps, in order, with the merkletree library and
// extracts its levels. It fails with ErrEmptyTree for no fingerprints.
func Build(fps []fingerprint.Fingerprint) (*Tree, error) {
	if len(fps) == 0 {
		return nil, ErrEmptyTree
	}
	lt, err := libraryTree(fps)
	if err != nil {
		return nil, err
	}
	t, err := levelsOf(lt, uint64(len(fps)))
	if err != nil {
		return nil, err
	}
	// Cheap checks that the library hashed the way proof format v1 says:
	// the first leaf is LeafHash (the Content type) and the root is
	// NodeHash of the level below (the 0x01 hash strategy).
	if LeafHash(fps[0]) != nodeAt(t.Levels[0], 0) {
		return nil, fmt.Errorf("merkle: library leaf hash differs from LeafHash")
	}
	below := t.Levels[len(t.Levels)-2]
	right := uint64(1)
	if len(below) == HashSize {
		right = 0 // size-1 tree: the leaf is paired with itself
	}
	if NodeHash(nodeAt(below, 0), nodeAt(below, right)) != t.Root {
		return nil, fmt.Errorf("merkle: library root differs from NodeHash of its children")
	}
	return t, nil
}

func nodeAt(level []byte, i uint64) (h [32]byte) {
	copy(h[:], level[i*HashSize:])
	return h
}

// libraryTree builds the merkletree library's tree of fps.
//
// The library allocates per node: a hasher from the hash strategy, the
// left||right concatenation (append to the left hash), the digest (Sum(nil))
// and the Node. All but the Node are fed from slabs here: leaf hashes are
// computed up front (in parallel) into one slab, the strategy hands out
// one reused hasher per build, and Sum(nil) takes the next slot of a
// digest slab. Every hash the library holds is a 32-byte slot with 32
// bytes of scratch after it that belong to that node alone, so the
// library's append(left, right...) writes into the left node's scratch
// and never into another node's hash.
func libraryTree(fps []fingerprint.Fingerprint) (*merkletree.MerkleTree, error) {
	n := len(fps)
	leaves := make([]leafContent, n)
	cs := make([]merkletree.Content, n)
	hashes := make([]byte, n*slot)
	parallelLeaves(fps, hashes)
	for i := range fps {
		leaves[i].fp = fps[i]
		leaves[i].hash = hashes[i*slot : i*slot+HashSize : i*slot+slot]
		cs[i] = &leaves[i]
	}
	// A tree of n leaves has fewer than n+n&1 inner nodes (n ≥ 2), or one.
	digests := make([]byte, (n+1)*slot)
	h := &nodeHasher{Hash: sha256.New(), slab: digests}
	lt, err := merkletree.NewTreeWithHashStrategy(cs, func() hash.Hash {
		h.Reset()
		return h
	})
	if err != nil {
		return nil, fmt.Errorf("merkle: building tree: %w", err)
	}
	return lt, nil
}

// slot is the room of one library-held hash: the hash and scratch for the
// library's append of its sibling.
const slot = 2 * HashSize

// parallelLeaves writes LeafHash(fps[i]) into hashes[i*slot:], on up to
// GOMAXPROCS goroutines for large inputs.
func parallelLeaves(fps []fingerprint.Fingerprint, hashes []byte) {
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			h := LeafHash(fps[i])
			copy(hashes[i*slot:], h[:])
		}
	}
	const minPerWorker = 16 << 10
	workers := min(runtime.GOMAXPROCS(0), len(fps)/minPerWorker)
	if workers <= 1 {
		work(0, len(fps))
		return
	}
	var wg sync.WaitGroup
	per := (len(fps) + workers - 1) / workers
	for lo := 0; lo < len(fps); lo += per {
		wg.Go(func() { work(lo, min(lo+per, len(fps))) })
	}
	wg.Wait()
}

// levelsOf walks the library's tree from its leaves up the Parent pointers
// and copies every level into a Tree. It checks the links it follows, so a
// library that built a different shape is an error, not a wrong proof.
func levelsOf(lt *merkletree.MerkleTree, size uint64) (*Tree, error) {
	depth := Depth(size)
	// An odd leaf count gets one duplicate of the last leaf appended.
	if uint64(len(lt.Leafs)) != size+size&1 {
		return nil, fmt.Errorf("merkle: library has %d leaf nodes for %d leaves", len(lt.Leafs), size)
	}
	total := uint64(0)
	for w, k := size, 0; k <= depth; w, k = halve(w), k+1 {
		total += w
	}
	buf := make([]byte, total*HashSize)
	t := &Tree{Size: size, Levels: make([][]byte, depth+1)}

	cur := lt.Leafs[:size] // without the duplicate
	for k := 0; ; k++ {
		level := buf[: len(cur)*HashSize : len(cur)*HashSize]
		buf = buf[len(level):]
		for j, nd := range cur {
			if len(nd.Hash) != HashSize {
				return nil, fmt.Errorf("merkle: library node hash is %d bytes", len(nd.Hash))
			}
			copy(level[j*HashSize:], nd.Hash)
		}
		t.Levels[k] = level
		if k == depth {
			break
		}
		next := make([]*merkletree.Node, halve(uint64(len(cur))))
		for j := range next {
			left := cur[2*j]
			right := left // trailing odd node: paired with itself
			switch {
			case 2*j+1 < len(cur):
				right = cur[2*j+1]
			case k == 0:
				right = lt.Leafs[size] // the library's duplicate leaf
			}
			p := left.Parent
			if p == nil || p.Left != left || p.Right != right || right.Parent != p {
				return nil, fmt.Errorf("merkle: library tree has an unexpected shape at level %d, node %d", k, j)
			}
			next[j] = p
		}
		cur = next
	}
	if len(cur) != 1 || cur[0] != lt.Root || cur[0].Parent != nil || !bytes.Equal(lt.MerkleRoot(), cur[0].Hash) {
		return nil, fmt.Errorf("merkle: library root is not the top of its levels")
	}
	copy(t.Root[:], cur[0].Hash)
	return t, nil
}

// leafContent is the library Content of one fingerprint; its hash is
// LeafHash, computed before the build.
type leafContent struct {
	fp   fingerprint.Fingerprint
	hash []byte // LeafHash(fp): 32 bytes, capacity 64 (see libraryTree)
}

// CalculateHash returns LeafHash(fp), without allocating: a slot with
// scratch after it (see libraryTree) that only this leaf's node uses.
func (c *leafContent) CalculateHash() ([]byte, error) {
	if c.hash == nil {
		h := LeafHash(c.fp)
		c.hash = append(make([]byte, 0, slot), h[:]...)
	}
	return c.hash, nil
}

// Equals reports whether other holds the same fingerprint.
func (c *leafContent) Equals(other merkletree.Content) (bool, error) {
	o, ok := other.(*leafContent)
	return ok && o.fp == c.fp, nil
}

// nodeHasher is SHA-256 with the 0x01 node prefix already written, at
// creation and after every Reset. The library hashes left||right with it.
// Sum(nil) (the library's call) puts the digest into the next slot of
// slab, or a fresh slot once slab is used up.
type nodeHasher struct {
	hash.Hash
	slab []byte
}

var nodePrefixBytes = [1]byte{nodePrefix}

// Reset resets the hash and writes the node prefix again.
func (h *nodeHasher) Reset() {
	h.Hash.Reset()
	h.Hash.Write(nodePrefixBytes[:])
}

// Sum appends the digest to b. For b == nil the result is a 32-byte slot
// with 32 bytes of scratch capacity that nothing else uses (see
// libraryTree); otherwise its capacity equals its length.
func (h *nodeHasher) Sum(b []byte) []byte {
	if b == nil {
		if len(h.slab) < slot {
			h.slab = make([]byte, slot)
		}
		b = h.slab[:0:slot]
		h.slab = h.slab[slot:]
		return h.Hash.Sum(b)
	}
	s := h.Hash.Sum(b)
	return s[:len(s):len(s)]
}
