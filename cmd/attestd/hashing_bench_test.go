package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
)

// BenchmarkHashAll hashes the same number of bytes as one file and as
// many files (hashAll's worker per core), from the page cache. The ratio
// of the two MB/s is the parallel speed-up of `attestd hash FILE...`.
// Total: 1 GiB, or 128 MiB with -short.
func BenchmarkHashAll(b *testing.B) {
	total := int64(1 << 30)
	if testing.Short() {
		total = 128 << 20
	}
	dir := b.TempDir()
	one := writeBenchFile(b, filepath.Join(dir, "one"), total)
	const nMany = 16
	var many []string
	for i := range nMany {
		many = append(many, writeBenchFile(b, filepath.Join(dir, fmt.Sprintf("many%02d", i)), total/nMany))
	}
	for _, c := range []struct {
		name  string
		paths []string
	}{{"files=1", []string{one}}, {fmt.Sprintf("files=%d", nMany), many}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				for _, h := range hashAll(c.paths, fingerprint.CanonNone, false, io.Discard) {
					if h.err != nil {
						b.Fatal(h.err)
					}
				}
			}
		})
	}
}

func writeBenchFile(b *testing.B, path string, size int64) string {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c, 0xc3}, 256<<10)
	for n := int64(0); n < size; n += int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), size-n)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}
