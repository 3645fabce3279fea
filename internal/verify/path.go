package verify

// This file is the verifier's own Merkle path check for proof format v1
// (docs/proof-format.md). It deliberately shares no code with
// internal/merkle or the tree library that builds the trees: it is the
// independent re-implementation a third party would write, and the tests
// hold the two against each other and against testdata/proof-vectors-v1.json.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"

	"github.com/attestd/attestd/internal/fingerprint"
)

// Reasons a Merkle path is rejected. RootFromPath and VerifyPath return them
// wrapped with detail; test for them with errors.Is. Each one means the proof
// is invalid (a verdict, not a fault of the verifier).
var (
	// ErrEmptyTree: the claimed tree size is 0. No tree of size 0 exists.
	ErrEmptyTree = errors.New("tree size is 0")
	// ErrIndexOutOfRange: the claimed leaf index is not below the claimed
	// tree size.
	ErrIndexOutOfRange = errors.New("leaf index is outside the tree")
	// ErrPathLength: the path does not have exactly as many entries as a
	// tree of the claimed size is deep.
	ErrPathLength = errors.New("path length does not fit the tree size")
	// ErrSelfPair: on a level where (index, size) make the node the
	// trailing odd node, which is paired with itself, the path entry is not
	// that node's own hash.
	ErrSelfPair = errors.New("path entry of a self-paired node differs from the node")
	// ErrRootMismatch: the path is well formed but leads to another root.
	ErrRootMismatch = errors.New("path does not lead to the root")
)

// Domain separation prefixes of proof format v1 (RFC 6962 §2.1).
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

// leafHash is SHA-256(0x00 || fp).
func leafHash(fp fingerprint.Fingerprint) [32]byte {
	var buf [1 + 32]byte
	buf[0] = leafPrefix
	copy(buf[1:], fp[:])
	return sha256.Sum256(buf[:])
}

// nodeHash is SHA-256(0x01 || left || right).
func nodeHash(left, right [32]byte) [32]byte {
	var buf [1 + 64]byte
	buf[0] = nodePrefix
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// pathLen is the number of path entries for a tree of size >= 1 leaves:
// 1 for a single leaf (paired with itself), else ceil(log2(size)).
func pathLen(size uint64) int {
	if size == 1 {
		return 1
	}
	return bits.Len64(size - 1)
}

// RootFromPath returns the root that path (leaf level first) leads to from
// the leaf of fp at position index in a tree of size leaves.
//
// The shape of the path comes from (index, size) alone, never from the
// path: it must have exactly pathLen(size) entries. On each level, with
// width the number of nodes on that level (size on the leaf level):
//   - index odd: the entry is the left sibling, h = node(entry, h);
//   - index even and index+1 < width: the entry is the right sibling,
//     h = node(h, entry);
//   - otherwise (index == width-1, width odd, which includes the single
//     leaf of a size-1 tree) the node is paired with itself: the entry must
//     equal h, else ErrSelfPair, and h = node(h, h);
//
// then index /= 2 and width = ceil(width/2).
//
// Errors: ErrEmptyTree, ErrIndexOutOfRange, ErrPathLength, ErrSelfPair.
func RootFromPath(fp fingerprint.Fingerprint, index, size uint64, path [][32]byte) ([32]byte, error) {
	switch {
	case size == 0:
		return [32]byte{}, ErrEmptyTree
	case index >= size:
		return [32]byte{}, fmt.Errorf("%w: index %d, size %d", ErrIndexOutOfRange, index, size)
	}
	if want := pathLen(size); len(path) != want {
		return [32]byte{}, fmt.Errorf("%w: %d entries, want %d for size %d", ErrPathLength, len(path), want, size)
	}
	h := leafHash(fp)
	width := size
	for level, p := range path {
		switch {
		case index&1 == 1:
			h = nodeHash(p, h)
		case index+1 < width:
			h = nodeHash(h, p)
		default:
			if p != h {
				return [32]byte{}, fmt.Errorf("%w: level %d", ErrSelfPair, level)
			}
			h = nodeHash(h, h)
		}
		index >>= 1
		width = width/2 + width&1 // ceil(width/2) without overflow
	}
	return h, nil
}

// VerifyPath checks that path leads from the leaf of fp at position index
// in a tree of size leaves to root. It returns nil if so, else one of the
// errors of RootFromPath or ErrRootMismatch.
//
// A path proves inclusion in the tree of the given size only: callers must
// take size (with root) from the anchor, never from the proof alone, because
// the same root and path can also fit other sizes (see
// docs/proof-format.md, "Why the size is anchored").
func VerifyPath(fp fingerprint.Fingerprint, index, size uint64, path [][32]byte, root [32]byte) error {
	got, err := RootFromPath(fp, index, size, path)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: path gives %x, want %x", ErrRootMismatch, got, root)
	}
	return nil
}
