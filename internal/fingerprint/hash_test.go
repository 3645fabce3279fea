package fingerprint

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func TestSum(t *testing.T) {
	tests := []struct {
		in   string
		want string // FIPS 180-2 vectors
	}{
		{"", sha256Empty},
		{"abc", sha256ABC},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	}
	for _, tt := range tests {
		if got := Sum([]byte(tt.in)).String(); got != tt.want {
			t.Errorf("Sum(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// maxReadReader records the largest buffer it was asked to fill.
type maxReadReader struct {
	r   io.Reader
	max int
}

func (m *maxReadReader) Read(p []byte) (int, error) {
	m.max = max(m.max, len(p))
	return m.r.Read(p)
}

func TestHashReader(t *testing.T) {
	sizes := []int{0, 1, 55, 56, 63, 64, 65, 4096, bufferSize - 1, bufferSize, bufferSize + 1, 2 * bufferSize, 3*bufferSize + 17}
	readers := []struct {
		name    string
		wrap    func(io.Reader) io.Reader
		maxSize int // skip larger inputs (slow readers)
	}{
		{"plain", func(r io.Reader) io.Reader { return r }, 1 << 30},
		{"one byte", iotest.OneByteReader, 1 << 16},
		{"half", iotest.HalfReader, 1 << 30},
		{"data with EOF", iotest.DataErrReader, 1 << 30},
	}
	for _, size := range sizes {
		data := randBytes(byte(size), size)
		want := Fingerprint(sha256.Sum256(data))
		for _, rd := range readers {
			if size > rd.maxSize {
				continue
			}
			var calls []int64
			mr := &maxReadReader{r: rd.wrap(bytes.NewReader(data))}
			got, n, err := HashReader(mr, func(done int64) { calls = append(calls, done) })
			if err != nil {
				t.Fatalf("size %d, %s: %v", size, rd.name, err)
			}
			if got != want {
				t.Errorf("size %d, %s: got %v, want %v", size, rd.name, got, want)
			}
			if n != int64(size) {
				t.Errorf("size %d, %s: n = %d", size, rd.name, n)
			}
			// Below the progress interval there is exactly one call: the total.
			if len(calls) != 1 || calls[0] != int64(size) {
				t.Errorf("size %d, %s: progress calls %v, want [%d]", size, rd.name, calls, size)
			}
			if mr.max > bufferSize {
				t.Errorf("size %d, %s: Read asked for %d bytes, more than the %d-byte buffer", size, rd.name, mr.max, bufferSize)
			}
		}
	}
	// A nil progress func is allowed.
	if got, _, err := HashReader(strings.NewReader("abc"), nil); err != nil || got.String() != sha256ABC {
		t.Errorf("HashReader(abc, nil) = %v, %v", got, err)
	}
}

func TestHashReaderProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes hundreds of MiB")
	}
	for _, size := range []int64{progressInterval - 1, progressInterval, progressInterval + 1, 2*progressInterval + 12345} {
		src := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{7}), size) }
		h := sha256.New()
		if _, err := io.Copy(h, src()); err != nil {
			t.Fatal(err)
		}
		var want Fingerprint
		h.Sum(want[:0])

		var calls []int64
		got, n, err := HashReader(src(), func(done int64) { calls = append(calls, done) })
		if err != nil || got != want || n != size {
			t.Fatalf("size %d: got %v, %d, %v; want %v, %d, nil", size, got, n, err, want, size)
		}
		if len(calls) == 0 || calls[len(calls)-1] != size {
			t.Fatalf("size %d: progress calls %v do not end with the total", size, calls)
		}
		if maxCalls := int(size/progressInterval) + 1; len(calls) > maxCalls {
			t.Errorf("size %d: %d progress calls %v, want at most %d", size, len(calls), calls, maxCalls)
		}
		if wantMin := int(size / progressInterval); len(calls) < wantMin {
			t.Errorf("size %d: %d progress calls %v, want at least %d", size, len(calls), calls, wantMin)
		}
		prev := int64(0)
		for i, c := range calls {
			if i > 0 && c <= prev {
				t.Errorf("size %d: progress not strictly increasing: %v", size, calls)
			}
			if i < len(calls)-1 && c-prev < progressInterval {
				t.Errorf("size %d: intermediate progress calls closer than %d bytes: %v", size, progressInterval, calls)
			}
			prev = c
		}
	}
}

var errBoom = errors.New("boom")

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestHashReaderError(t *testing.T) {
	tests := []struct {
		name  string
		r     io.Reader
		wantN int64
		want  error
	}{
		{"immediate", iotest.ErrReader(errBoom), 0, errBoom},
		{"after data", &failingReader{data: randBytes(1, 1000), err: errBoom}, 1000, errBoom},
		{"after a buffer", &failingReader{data: randBytes(2, bufferSize+5), err: errBoom}, bufferSize + 5, errBoom},
		{"timeout", iotest.TimeoutReader(bytes.NewReader(randBytes(3, 3*bufferSize))), bufferSize, iotest.ErrTimeout},
		{"unexpected EOF", &failingReader{data: []byte("x"), err: io.ErrUnexpectedEOF}, 1, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []int64
			got, n, err := HashReader(tt.r, func(done int64) { calls = append(calls, done) })
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !got.IsZero() {
				t.Errorf("fingerprint %v returned with an error", got)
			}
			if n != tt.wantN {
				t.Errorf("n = %d, want %d", n, tt.wantN)
			}
			if len(calls) != 0 {
				t.Errorf("progress called %v on a failed read", calls)
			}
		})
	}
}

func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 3, bufferSize*2 + bufferSize/2} {
		data := randBytes(9, size)
		path := filepath.Join(dir, "doc.bin")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var last int64 = -1
		got, n, err := HashFile(path, func(done int64) { last = done })
		if err != nil {
			t.Fatal(err)
		}
		if want := Fingerprint(sha256.Sum256(data)); got != want {
			t.Errorf("size %d: HashFile = %v, want %v", size, got, want)
		}
		if n != int64(size) || last != int64(size) {
			t.Errorf("size %d: n = %d, last progress = %d", size, n, last)
		}
	}

	for _, tt := range []struct {
		name string
		path string
		is   error
	}{
		{"missing", filepath.Join(dir, "no such record.pdf"), fs.ErrNotExist},
		{"directory", dir, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := HashFile(tt.path, nil)
			if err == nil {
				t.Fatalf("HashFile(%q) = %v, %d, nil; want error", tt.path, got, n)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the path %q", err, tt.path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if !got.IsZero() {
				t.Errorf("fingerprint %v returned with an error", got)
			}
		})
	}
}

func BenchmarkHashReader(b *testing.B) {
	data := randBytes(5, 64<<20)
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		if _, _, err := HashReader(r, nil); err != nil {
			b.Fatal(err)
		}
	}
}
