package runfile

import (
	"path/filepath"
	"testing"
)

// BenchmarkRun: writing a run of 1M fingerprint-like records (65 bytes of
// value, as an fp entry), a look-up of a key in it, and a scan.
func BenchmarkRun(b *testing.B) {
	const n = 1 << 20
	keys := sortedKeys("bench", n)
	val := make([]byte, 65)
	path := filepath.Join(b.TempDir(), "r")
	b.Run("write-1M", func(b *testing.B) {
		for b.Loop() {
			w, err := Create(path)
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range keys {
				if err := w.Add(&k, val); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Finish(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			removeOrFatal(b, path)
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
	})
	w, err := Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range keys {
		w.Add(&k, val)
	}
	if err := w.Finish(); err != nil {
		b.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.Run("get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok, err := r.Get(&keys[(i*7919)%n]); !ok || err != nil {
				b.Fatal(ok, err)
			}
			i++
		}
	})
	b.Run("scan-1M", func(b *testing.B) {
		for b.Loop() {
			if err := r.Verify(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
	})
}
