package fingerprint

import (
	"crypto/sha256"
	"io"
	"os"
	"sync"
)

const (
	// bufferSize is the size of the read buffer HashReader uses.
	bufferSize = 1 << 20
	// progressInterval is the minimum number of bytes between two
	// intermediate progress reports.
	progressInterval = 64 << 20
)

// buffers holds HashReader's read buffers: a fresh 1 MiB a call cost a
// folder of 4 KiB documents 0.3 ms a file in allocation and zeroing
// (BenchmarkHashSmallFiles).
var buffers = sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}

// Sum returns the SHA-256 fingerprint of data.
func Sum(data []byte) Fingerprint {
	return Fingerprint(sha256.Sum256(data))
}

// HashReader returns the SHA-256 fingerprint of everything read from r until
// io.EOF, and the number of bytes read. It streams r through a 1 MiB buffer
// and never holds more than that of the input in memory.
//
// If progress is not nil, HashReader calls it with the number of bytes read
// so far: after each further 64 MiB or more, and once at the end with the
// total (also for empty input). No two calls report the same number.
//
// If r returns an error other than io.EOF, HashReader returns the zero
// Fingerprint, the number of bytes read before the error, and the error
// unchanged; progress is not called for the end.
func HashReader(r io.Reader, progress func(done int64)) (Fingerprint, int64, error) {
	h := sha256.New()
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	var total, reported int64 // reported: total at the last progress call
	called := false
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			total += int64(n)
			if progress != nil && total-reported >= progressInterval {
				progress(total)
				reported, called = total, true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Fingerprint{}, total, err
		}
	}
	if progress != nil && (!called || total != reported) {
		progress(total)
	}
	var f Fingerprint
	h.Sum(f[:0])
	return f, total, nil
}

// HashFile returns the SHA-256 fingerprint of the file at path and its size
// in bytes, as [HashReader] does, calling progress likewise. Errors from
// opening or reading the file are the [*os.PathError] values of package os,
// which name path.
func HashFile(path string, progress func(done int64)) (Fingerprint, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Fingerprint{}, 0, err
	}
	defer f.Close()
	return HashReader(f, progress)
}
