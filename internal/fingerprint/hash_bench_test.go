package fingerprint

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// benchFileSize is the file hashed by BenchmarkHashFile: 1 GiB, or 128 MiB
// with -short (make bench).
func benchFileSize() int64 {
	if testing.Short() {
		return 128 << 20
	}
	return 1 << 30
}

// BenchmarkHashFile hashes one file (in the page cache after the first
// iteration), as `attestd hash FILE` does. Compare with
// `openssl dgst -sha256` on a file of the same size (docs/benchmarks.md).
func BenchmarkHashFile(b *testing.B) {
	path := writeBenchFile(b, filepath.Join(b.TempDir(), "big"), benchFileSize())
	b.SetBytes(benchFileSize())
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := HashFile(path, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func writeBenchFile(b *testing.B, path string, size int64) string {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c, 0xc3}, 256<<10) // 1 MiB
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

// BenchmarkHashSmallFiles hashes 4 KiB files one after another, as
// `stamp -r` of a folder of small documents does on each core: the cost
// per file beyond its bytes (open, buffer, close) shows here.
func BenchmarkHashSmallFiles(b *testing.B) {
	dir := b.TempDir()
	paths := make([]string, 256)
	for i := range paths {
		paths[i] = writeBenchFile(b, filepath.Join(dir, "f"+strconv.Itoa(i)), 4096)
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := HashFile(paths[i%len(paths)], nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
