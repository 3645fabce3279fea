package verify_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/verify"
)

// vectorJSON is one entry of testdata/proof-vectors-v1.json, decoded here
// independently of the generator in internal/merkle.
type vectorJSON struct {
	Size        uint64   `json:"size"`
	Index       uint64   `json:"index"`
	Fingerprint string   `json:"fingerprint"`
	LeafHash    string   `json:"leaf_hash"`
	Path        []string `json:"path"`
	Root        string   `json:"root"`
}

func decodeHash(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 || hex.EncodeToString(b) != s {
		t.Fatalf("bad hash %q in vectors", s)
	}
	return [32]byte(b)
}

// TestPathVectors: every published vector verifies with the verifier's own
// code, and each one mutated fails.
func TestPathVectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "proof-vectors-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []vectorJSON `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	small := map[[2]uint64]bool{}
	large := 0
	for _, v := range file.Vectors {
		fp := fingerprint.Fingerprint(decodeHash(t, v.Fingerprint))
		if fp != pathFP(v.Index) {
			t.Fatalf("size %d index %d: fingerprint is not SHA-256(\"attestd test leaf %d\")", v.Size, v.Index, v.Index)
		}
		if leaf := decodeHash(t, v.LeafHash); leaf != sha256.Sum256(append([]byte{0x00}, fp[:]...)) {
			t.Fatalf("size %d index %d: leaf_hash is not SHA-256(0x00 || fingerprint)", v.Size, v.Index)
		}
		path := make([][32]byte, len(v.Path))
		for k, h := range v.Path {
			path[k] = decodeHash(t, h)
		}
		root := decodeHash(t, v.Root)
		i, n := v.Index, v.Size
		if err := verify.VerifyPath(fp, i, n, path, root); err != nil {
			t.Fatalf("size %d index %d: %v", n, i, err)
		}
		if n <= 17 {
			small[[2]uint64{n, i}] = true
		} else {
			large++
		}

		// Mutated, it fails.
		for k := range path {
			orig := path[k]
			path[k] = flipBit(orig, k%256)
			if err := verify.VerifyPath(fp, i, n, path, root); err == nil {
				t.Fatalf("size %d index %d: path[%d] changed: accepted", n, i, k)
			}
			path[k] = orig
		}
		if err := verify.VerifyPath(fp, i, n, path, flipBit(root, 255)); !errors.Is(err, verify.ErrRootMismatch) {
			t.Fatalf("size %d index %d: root changed: %v", n, i, err)
		}
		if err := verify.VerifyPath(flipBit(fp, 0), i, n, path, root); err == nil {
			t.Fatalf("size %d index %d: fingerprint changed: accepted", n, i)
		}
		for _, j := range []uint64{i - 1, i + 1} {
			if err := verify.VerifyPath(fp, j, n, path, root); err == nil {
				t.Fatalf("size %d index %d: claimed index %d: accepted", n, i, j)
			}
		}
		for _, m := range []uint64{n - 1, n + 1, 2 * n} {
			if err := verify.VerifyPath(fp, i, m, path, root); (err == nil) != sizeChangeUndetectable(i, n, m) {
				t.Fatalf("size %d index %d: claimed size %d: %v (undetectable: %v)", n, i, m, err, sizeChangeUndetectable(i, n, m))
			}
		}
	}
	if len(small) != 17*18/2 || large < 5 {
		t.Fatalf("vectors cover %d (size, index) pairs of sizes 1…17 (want 153) and %d of the large tree", len(small), large)
	}
}
