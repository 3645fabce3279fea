package store

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
)

// CheckTree checks that tree is the tree of fps before a backend commits
// it: its size, the shape of its levels, its leaves and its root. (The
// interior nodes are the builder's business; the leaves are checked
// because a tree of other fingerprints would make every proof of the
// batch wrong.)
func CheckTree(fps []fingerprint.Fingerprint, tree *merkle.Tree) error {
	switch {
	case len(fps) == 0:
		return errors.New("empty batch")
	case tree == nil:
		return errors.New("nil tree")
	case tree.Size != uint64(len(fps)):
		return fmt.Errorf("tree size %d for %d fingerprints", tree.Size, len(fps))
	case len(tree.Levels) != merkle.Depth(tree.Size)+1:
		return fmt.Errorf("tree of size %d has %d levels, want %d", tree.Size, len(tree.Levels), merkle.Depth(tree.Size)+1)
	}
	width := tree.Size
	for l, level := range tree.Levels {
		if uint64(len(level)) != 32*width {
			return fmt.Errorf("tree level %d is %d bytes, want %d nodes", l, len(level), width)
		}
		width = width/2 + width&1
	}
	if top := tree.Levels[len(tree.Levels)-1]; !bytes.Equal(top, tree.Root[:]) {
		return errors.New("tree's last level is not its root")
	}
	for i, fp := range fps {
		if h := merkle.LeafHash(fp); !bytes.Equal(h[:], tree.Levels[0][32*i:32*i+32]) {
			return fmt.Errorf("tree leaf %d is not the leaf hash of fingerprint %x", i, fp[:])
		}
	}
	return nil
}
