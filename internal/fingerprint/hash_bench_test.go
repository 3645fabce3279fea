package fingerprint

import (
	"bytes"
	"os"
	"path/filepath"
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
