package indexstores

import (
	"bytes"
	"crypto/rand"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// sortedKeys returns n random 32-byte keys, sorted.
func sortedKeys(n int) [][]byte {
	ks := make([][]byte, n)
	buf := make([]byte, 32*n)
	rand.Read(buf)
	for i := range ks {
		ks[i] = buf[i*32 : i*32+32]
	}
	slices.SortFunc(ks, bytes.Compare)
	return ks
}

// cpu is the process's CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPebble: 10 rounds of 1M sorted keys (58-byte values, as fp
// entries) into Pebble with its WAL off, a batch per 64k keys and a Flush
// per round, no compression, Bloom filters; then the CPU once compactions
// settle, and look-ups of keys that are there.
func TestPebble(t *testing.T) {
	opts := &pebble.Options{DisableWAL: true, MemTableSize: 64 << 20, L0CompactionThreshold: 4, L0StopWritesThreshold: 1000,
		CompactionConcurrencyRange: func() (int, int) { return 1, 1 }}
	if mb, _ := strconv.Atoi(os.Getenv("PEBBLE_CACHE_MB")); mb > 0 {
		opts.Cache = pebble.NewCache(int64(mb) << 20)
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	opts.EnsureDefaults()
	db, err := pebble.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 58)
	cpu0 := cpu()
	var sample [][]byte
	var gen time.Duration
	for r := range 10 {
		g := time.Now()
		ks := sortedKeys(1 << 20)
		gen += time.Since(g)
		sample = append(sample, ks[:1000]...)
		start := time.Now()
		for i := 0; i < len(ks); i += 1 << 16 {
			b := db.NewBatch()
			for _, k := range ks[i:min(i+1<<16, len(ks))] {
				b.Set(k, val, nil)
			}
			if err := b.Commit(pebble.NoSync); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %v", r, time.Since(start))
	}
	for i := 0; i < 300 && (db.Metrics().Compact.NumInProgress > 0 || db.Metrics().Levels[0].TablesCount > 8); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("settled: %v of CPU, of which making and sorting the keys took %v (wall)", cpu()-cpu0, gen)
	for _, k := range sample { // a warm-up pass
		if _, c, err := db.Get(k); err == nil {
			c.Close()
		}
	}
	start := time.Now()
	for _, k := range sample {
		v, c, err := db.Get(k)
		if err != nil || len(v) != 58 {
			t.Fatal(err)
		}
		c.Close()
	}
	t.Logf("a look-up of a key that is there: %v", time.Since(start)/time.Duration(len(sample)))
}
