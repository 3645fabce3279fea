package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/attestd/attestd/internal/fingerprint"
)

// BenchmarkStampFloor is the least `stamp -r` of small documents must do,
// per document (docs/benchmarks.md, row 20): read and hash a 4 KiB file,
// against creating one 400-byte file beside it (the size of a .attest),
// made durable by one flush of the file system per 1,000 as stamp does.
// Nothing else: no server, no journal. The ratio of the two is the floor
// of stamp's ratio to sha256sum.
func BenchmarkStampFloor(b *testing.B) {
	dir := b.TempDir()
	docs := make([]string, 1000)
	for i := range docs {
		docs[i] = writeBenchFile(b, filepath.Join(dir, fmt.Sprintf("doc%04d", i)), 4096)
	}
	b.Run("read+hash", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, _, err := fingerprint.HashFile(docs[i%len(docs)], nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("one-new-file", func(b *testing.B) {
		attest := make([]byte, 400)
		i := 0
		for b.Loop() {
			if err := os.WriteFile(fmt.Sprintf("%s.%d.attest", docs[i%len(docs)], i), attest, 0o600); err != nil {
				b.Fatal(err)
			}
			if i++; i%1000 == 0 {
				syncfs(b, dir)
			}
		}
		syncfs(b, dir)
	})
}

func syncfs(b *testing.B, dir string) {
	f, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
}
