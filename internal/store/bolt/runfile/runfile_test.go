package runfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// key is the i-th key of a test run: SHA-256 of i, so spread like
// fingerprints.
func key(tag string, i int) [KeySize]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64([]byte(tag), uint64(i)))
}

// value is a value of a varying length, with its key's bytes in it.
func value(k [KeySize]byte, i int) []byte {
	return bytes.Repeat(k[:1+i%7], 1+i%13)
}

// write writes a run of keys (sorted here) and their values.
func write(t testing.TB, path string, keys [][KeySize]byte) {
	t.Helper()
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if err := w.Add(&k, value(k, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}

func sortedKeys(tag string, n int) [][KeySize]byte {
	keys := make([][KeySize]byte, n)
	for i := range keys {
		keys[i] = key(tag, i)
	}
	slices.SortFunc(keys, func(a, b [KeySize]byte) int { return bytes.Compare(a[:], b[:]) })
	return keys
}

// TestRoundTrip: every key is found with its value, keys that are not in
// the run are not (before the first, between any two, after the last),
// and Iter gives every record in order.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 44, 45, 46, 1000, 20_000} {
		path := filepath.Join(t.TempDir(), "r")
		keys := sortedKeys("in", n)
		write(t, path, keys)
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Len() != uint64(n) {
			t.Fatalf("n=%d: Len %d", n, r.Len())
		}
		for i, k := range keys {
			v, ok, err := r.Get(&k)
			if err != nil || !ok || !bytes.Equal(v, value(k, i)) {
				t.Fatalf("n=%d: Get(key %d) = %x, %v, %v", n, i, v, ok, err)
			}
		}
		var lo, hi [KeySize]byte
		for i := range hi {
			hi[i] = 0xff
		}
		absent := [][KeySize]byte{lo, hi}
		for i := range min(n, 2000) {
			absent = append(absent, key("out", i))
			k := keys[i]
			k[KeySize-1]++ // just above a key in the run (or another)
			if _, found := slices.BinarySearchFunc(keys, k, func(a, b [KeySize]byte) int { return bytes.Compare(a[:], b[:]) }); !found {
				absent = append(absent, k)
			}
		}
		for _, k := range absent {
			if v, ok, err := r.Get(&k); ok || err != nil {
				t.Fatalf("n=%d: Get(%x), not in the run, = %x, %v, %v", n, k, v, ok, err)
			}
		}
		it, i := r.Iter(), 0
		for ; it.Next(); i++ {
			if !bytes.Equal(it.Key(), keys[i][:]) || !bytes.Equal(it.Value(), value(keys[i], i)) {
				t.Fatalf("n=%d: record %d is %x, want %x", n, i, it.Key(), keys[i])
			}
		}
		if it.Err() != nil || i != n {
			t.Fatalf("n=%d: Iter gave %d records, err %v", n, i, it.Err())
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriterRefuses: keys out of order or repeated, and a value over
// MaxValue, are refused; an aborted run leaves no file; an existing file
// is not overwritten.
func TestWriterRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := key("x", 1), key("x", 2)
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	if err := w.Add(&b, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(&a, nil); err == nil {
		t.Error("a key below the last was taken")
	}
	if err := w.Add(&b, nil); err == nil {
		t.Error("a repeated key was taken")
	}
	c := b
	c[0]++
	if c[0] != 0 {
		if err := w.Add(&c, make([]byte, MaxValue+1)); err == nil {
			t.Error("a value over MaxValue was taken")
		}
	}
	w.Abort()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an aborted run left its file: %v", err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path); err == nil {
		t.Error("Create overwrote an existing file")
	}
}

// TestFileMode: a run is readable by its owner only.
func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	write(t, path, sortedKeys("m", 3))
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

// TestEveryByteMutated: a run with any one byte changed either fails to
// open, or fails Verify, and each of its keys is then either found with
// its own value or answers ErrCorrupt: never a wrong value, never "not
// there" for a key that is.
func TestEveryByteMutated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	keys := sortedKeys("mut", 150) // four blocks
	write(t, path, keys)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := parse(path, orig); err != nil || len(r.fences) < 3 {
		t.Fatalf("the run has %v blocks, %v", r, err)
	}
	for at := range orig {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			data := bytes.Clone(orig)
			data[at] ^= flip
			r, err := parse(path, data)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d ^%#x: Open: %v, not ErrCorrupt", at, flip, err)
				}
				continue
			}
			if err := r.Verify(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d ^%#x: Verify = %v, want ErrCorrupt", at, flip, err)
			}
			for i, k := range keys {
				v, ok, err := r.Get(&k)
				switch {
				case err != nil && !errors.Is(err, ErrCorrupt):
					t.Fatalf("byte %d ^%#x: Get(key %d): %v, not ErrCorrupt", at, flip, i, err)
				case err == nil && !ok:
					t.Fatalf("byte %d ^%#x: key %d not found, with no error", at, flip, i)
				case err == nil && !bytes.Equal(v, value(k, i)):
					t.Fatalf("byte %d ^%#x: key %d has the wrong value", at, flip, i)
				}
			}
		}
	}
}

// TestTruncated: a run cut short at any length does not open.
func TestTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	write(t, path, sortedKeys("cut", 100))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for n := range orig {
		if _, err := parse(path, orig[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a run cut to %d of %d bytes: %v, want ErrCorrupt", n, len(orig), err)
		}
	}
}

// FuzzParse: any bytes either do not parse, or parse into a run whose
// reads end without a panic.
func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	for i, n := range []int{1, 3, 60} {
		path := filepath.Join(dir, string(rune('a'+i)))
		write(f, path, sortedKeys("fuzz", n))
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, data[len(data)/2:][:KeySize])
	}
	f.Fuzz(func(t *testing.T, data, k []byte) {
		r, err := parse("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v, not ErrCorrupt", err)
			}
			return
		}
		var key [KeySize]byte
		copy(key[:], k)
		if _, _, err := r.Get(&key); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if err := r.Verify(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
}

func removeOrFatal(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
