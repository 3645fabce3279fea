package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
)

func pathHex(s string) [32]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("bad hash literal " + s)
	}
	return [32]byte(b)
}

func TestPathHashesKnownAnswers(t *testing.T) {
	// sha256sum of 33 zero bytes, and of 0x01 followed by 64 zero bytes.
	if got, want := leafHash(fingerprint.Fingerprint{}), pathHex("7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"); got != want {
		t.Errorf("leafHash(0) = %x, want %x", got, want)
	}
	if got, want := nodeHash([32]byte{}, [32]byte{}), pathHex("ae0798d0ecaed2b778eddebf18f071a561c53658c05e76cedecc27cafbdbc577"); got != want {
		t.Errorf("nodeHash(0, 0) = %x, want %x", got, want)
	}
	a, b := leafHash(fingerprint.Fingerprint{1}), leafHash(fingerprint.Fingerprint{2})
	if nodeHash(a, b) == nodeHash(b, a) {
		t.Error("nodeHash ignores order")
	}
}

// TestRootFromPathSmallTrees checks hand-built trees of 1, 2, 3 and 5
// leaves, hashed here without the package's helpers.
func TestRootFromPathSmallTrees(t *testing.T) {
	leaf := func(fp fingerprint.Fingerprint) [32]byte { return sha256.Sum256(append([]byte{0}, fp[:]...)) }
	node := func(l, r [32]byte) [32]byte { return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...)) }
	fps := []fingerprint.Fingerprint{{0xa}, {0xb}, {0xc}, {0xd}, {0xe}}
	a, b, c, d, e := leaf(fps[0]), leaf(fps[1]), leaf(fps[2]), leaf(fps[3]), leaf(fps[4])
	ab, cd, ee := node(a, b), node(c, d), node(e, e)
	abcd, eeee := node(ab, cd), node(ee, ee)
	for _, tc := range []struct {
		name        string
		index, size uint64
		path        [][32]byte
		root        [32]byte
	}{
		{"single leaf", 0, 1, [][32]byte{a}, node(a, a)},
		{"2: left", 0, 2, [][32]byte{b}, ab},
		{"2: right", 1, 2, [][32]byte{a}, ab},
		{"3: a", 0, 3, [][32]byte{b, node(c, c)}, node(ab, node(c, c))},
		{"3: c self-paired", 2, 3, [][32]byte{c, ab}, node(ab, node(c, c))},
		{"5: a", 0, 5, [][32]byte{b, cd, eeee}, node(abcd, eeee)},
		{"5: d", 3, 5, [][32]byte{c, ab, eeee}, node(abcd, eeee)},
		{"5: e self-paired twice", 4, 5, [][32]byte{e, ee, abcd}, node(abcd, eeee)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RootFromPath(fps[tc.index], tc.index, tc.size, tc.path)
			if err != nil || got != tc.root {
				t.Fatalf("RootFromPath = %x, %v; want %x", got, err, tc.root)
			}
			if err := VerifyPath(fps[tc.index], tc.index, tc.size, tc.path, tc.root); err != nil {
				t.Fatalf("VerifyPath: %v", err)
			}
			if err := VerifyPath(fps[tc.index], tc.index, tc.size, tc.path, node(tc.root, tc.root)); !errors.Is(err, ErrRootMismatch) {
				t.Fatalf("VerifyPath against another root: %v, want ErrRootMismatch", err)
			}
		})
	}
}

func TestRootFromPathErrors(t *testing.T) {
	fp := fingerprint.Fingerprint{0xa}
	h := leafHash(fp)
	for _, tc := range []struct {
		name        string
		index, size uint64
		path        [][32]byte
		want        error
	}{
		{"size 0", 0, 0, nil, ErrEmptyTree},
		{"size 0 with a path", 0, 0, [][32]byte{h}, ErrEmptyTree},
		{"index = size", 1, 1, [][32]byte{h}, ErrIndexOutOfRange},
		{"index > size", 9, 5, make([][32]byte, 3), ErrIndexOutOfRange},
		{"max index", math.MaxUint64, math.MaxUint64, make([][32]byte, 64), ErrIndexOutOfRange},
		{"size 1, no path", 0, 1, nil, ErrPathLength},
		{"size 1, two entries", 0, 1, [][32]byte{h, h}, ErrPathLength},
		{"size 5, short", 0, 5, make([][32]byte, 2), ErrPathLength},
		{"size 5, long", 0, 5, make([][32]byte, 4), ErrPathLength},
		{"size 2^64-1, 63 entries", 0, math.MaxUint64, make([][32]byte, 63), ErrPathLength},
		{"size 1, other entry", 0, 1, [][32]byte{{1}}, ErrSelfPair},
		{"size 3 index 2, other entry", 2, 3, [][32]byte{{1}, {2}}, ErrSelfPair},
		{"largest tree, last leaf, other entry", math.MaxUint64 - 1, math.MaxUint64, make([][32]byte, 64), ErrSelfPair},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := RootFromPath(fp, tc.index, tc.size, tc.path); !errors.Is(err, tc.want) {
				t.Fatalf("RootFromPath: %v, want %v", err, tc.want)
			}
			if err := VerifyPath(fp, tc.index, tc.size, tc.path, [32]byte{}); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyPath: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRootFromPathLargestTree walks the full 64 levels of a tree of
// 2^64-1 leaves (the width arithmetic must not overflow).
func TestRootFromPathLargestTree(t *testing.T) {
	fp := fingerprint.Fingerprint{0xa}
	path := make([][32]byte, 64)
	path[0] = leafHash(fp) // last leaf: self-paired on level 0 only
	h := nodeHash(path[0], path[0])
	for k := 1; k < 64; k++ {
		path[k] = [32]byte{byte(k)}
		h = nodeHash(path[k], h) // index (2^64-2)>>k is odd on every level above
	}
	got, err := RootFromPath(fp, math.MaxUint64-1, math.MaxUint64, path)
	if err != nil || got != h {
		t.Fatalf("RootFromPath = %x, %v; want %x", got, err, h)
	}
}
