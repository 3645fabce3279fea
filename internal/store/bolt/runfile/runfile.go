// Package runfile reads and writes a run: an immutable file of records
// sorted by a 32-byte key, each key at most once, for the embedded store's
// fingerprint index (an LSM's sorted run). A run is written once, in key
// order, synced, and then only read: through a read-only memory map, by
// binary search over an index of its blocks held in memory, or in order
// from its first record (to merge runs into a larger one).
//
// # Layout
//
// All integers are big-endian.
//
//	header   magic "attestd-run\x00" (12) | version (4) = 1
//	blocks   records: key (32) | uvarint(len(value)) | value;
//	         a block is full once it holds blockSize bytes or more
//	index    per block: first key (32) | offset (8) | length (4) | CRC-32C of the block (4)
//	footer   index offset (8) | blocks (8) | records (8) | CRC-32C of the index (4) |
//	         CRC-32C of the footer's first 28 bytes (4) | magic "attestd-run\x00" (12)
//
// Every block is checked against its CRC-32C each time it is read, so a
// damaged run answers an error (ErrCorrupt), never a wrong value or a
// missing key.
package runfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
)

// KeySize is the size of every key.
const KeySize = 32

// MaxValue is the largest value a record holds.
const MaxValue = 1 << 16

// blockSize is the size a block reaches before the next starts (a block
// ends with the record that reaches it). A look-up checks and scans one
// block: 4 KiB is about 45 fingerprint entries.
const blockSize = 4 << 10

const (
	magic      = "attestd-run\x00"
	version    = 1
	headerSize = len(magic) + 4
	fenceSize  = KeySize + 8 + 4 + 4
	footerSize = 8 + 8 + 8 + 4 + 4 + len(magic)
)

// ErrCorrupt is wrapped by every error about a run's content.
var ErrCorrupt = errors.New("runfile: corrupt run")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func corrupt(path, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
}

// Writer writes a new run. Add records in strictly increasing key order,
// then Finish; or Abort.
type Writer struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	off     uint64 // the file's length so far
	block   []byte // the open block's records
	fences  []byte // the index so far
	records uint64
	last    [KeySize]byte
	err     error
}

// Create starts a run at path, which must not exist. The file is created
// with mode 0600.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	w := &Writer{path: path, f: f, w: bufio.NewWriterSize(f, 1<<20), block: make([]byte, 0, 2*blockSize)}
	var h [headerSize]byte
	copy(h[:], magic)
	binary.BigEndian.PutUint32(h[len(magic):], version)
	w.write(h[:])
	return w, w.err
}

func (w *Writer) write(p []byte) {
	if w.err != nil {
		return
	}
	_, w.err = w.w.Write(p)
	w.off += uint64(len(p))
}

// Add appends a record. Its key must be greater than the last one's.
func (w *Writer) Add(key *[KeySize]byte, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(value) > MaxValue {
		return fmt.Errorf("runfile: a value of %d bytes (at most %d)", len(value), MaxValue)
	}
	if w.records > 0 && bytes.Compare(key[:], w.last[:]) <= 0 {
		return fmt.Errorf("runfile: key %x added after %x", key[:], w.last[:])
	}
	if len(w.block) == 0 {
		w.fences = append(w.fences, key[:]...)
		w.fences = binary.BigEndian.AppendUint64(w.fences, w.off)
	}
	w.block = append(w.block, key[:]...)
	w.block = binary.AppendUvarint(w.block, uint64(len(value)))
	w.block = append(w.block, value...)
	w.last, w.records = *key, w.records+1
	if len(w.block) >= blockSize {
		w.endBlock()
	}
	return w.err
}

// endBlock writes the open block and completes its fence.
func (w *Writer) endBlock() {
	w.fences = binary.BigEndian.AppendUint32(w.fences, uint32(len(w.block)))
	w.fences = binary.BigEndian.AppendUint32(w.fences, crc32.Checksum(w.block, castagnoli))
	w.write(w.block)
	w.block = w.block[:0]
}

// Finish writes the index and footer, syncs the file and closes it. The
// caller syncs the directory if the new name must be durable.
func (w *Writer) Finish() error {
	if len(w.block) > 0 {
		w.endBlock()
	}
	indexOff := w.off
	w.write(w.fences)
	var ft [footerSize]byte
	binary.BigEndian.PutUint64(ft[0:], indexOff)
	binary.BigEndian.PutUint64(ft[8:], uint64(len(w.fences)/fenceSize))
	binary.BigEndian.PutUint64(ft[16:], w.records)
	binary.BigEndian.PutUint32(ft[24:], crc32.Checksum(w.fences, castagnoli))
	binary.BigEndian.PutUint32(ft[28:], crc32.Checksum(ft[:28], castagnoli))
	copy(ft[32:], magic)
	w.write(ft[:])
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if w.err == nil {
		w.err = w.f.Sync()
	}
	if err := w.f.Close(); w.err == nil {
		w.err = err
	}
	if w.err != nil {
		os.Remove(w.path)
	}
	return w.err
}

// Abort closes and removes the unfinished run.
func (w *Writer) Abort() {
	w.f.Close()
	os.Remove(w.path)
}

// fence is one block's entry in the index.
type fence struct {
	first [KeySize]byte
	off   uint64
	n     uint32
	crc   uint32
}

// File is an open run. Its methods may be called concurrently until
// Close.
type File struct {
	path    string
	data    []byte   // the whole file, mapped read-only
	prefix  []uint64 // the first 8 bytes of each block's first key, for the search
	fences  []fence
	records uint64
	sum     uint32 // the index's CRC-32C
}

// Open maps the run at path and reads its index, checking the header,
// footer and index (not the blocks: see Verify).
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < int64(headerSize+footerSize) {
		return nil, corrupt(path, "%d bytes, too short for a run", size)
	}
	if size != int64(int(size)) {
		return nil, fmt.Errorf("runfile: %s: %d bytes do not fit in memory", path, size)
	}
	data, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("runfile: mapping %s: %w", path, err)
	}
	r, err := parse(path, data)
	if err != nil {
		unmap(data)
		return nil, err
	}
	return r, nil
}

// parse reads the header, footer and index of data, a whole run.
func parse(path string, data []byte) (*File, error) {
	if len(data) < headerSize+footerSize {
		return nil, corrupt(path, "%d bytes, too short for a run", len(data))
	}
	if string(data[:len(magic)]) != magic {
		return nil, corrupt(path, "not a run (no magic number at its start)")
	}
	if v := binary.BigEndian.Uint32(data[len(magic):]); v != version {
		return nil, corrupt(path, "run format version %d (want %d)", v, version)
	}
	ft := data[len(data)-footerSize:]
	if string(ft[32:]) != magic {
		return nil, corrupt(path, "no magic number at its end: the file is cut short or damaged")
	}
	if binary.BigEndian.Uint32(ft[28:]) != crc32.Checksum(ft[:28], castagnoli) {
		return nil, corrupt(path, "its footer does not match its checksum")
	}
	indexOff, blocks, records := binary.BigEndian.Uint64(ft[0:]), binary.BigEndian.Uint64(ft[8:]), binary.BigEndian.Uint64(ft[16:])
	end := uint64(len(data) - footerSize)
	if indexOff < uint64(headerSize) || indexOff > end || (end-indexOff)/fenceSize != blocks || (end-indexOff)%fenceSize != 0 {
		return nil, corrupt(path, "its footer places an index of %d blocks at %d in %d bytes", blocks, indexOff, len(data))
	}
	index := data[indexOff:end]
	if binary.BigEndian.Uint32(ft[24:]) != crc32.Checksum(index, castagnoli) {
		return nil, corrupt(path, "its index does not match its checksum")
	}
	if records < blocks || (blocks == 0) != (records == 0) {
		return nil, corrupt(path, "%d records in %d blocks", records, blocks)
	}
	r := &File{path: path, data: data, records: records, sum: binary.BigEndian.Uint32(ft[24:]), fences: make([]fence, blocks), prefix: make([]uint64, blocks)}
	next := uint64(headerSize)
	for i := range r.fences {
		e := index[i*fenceSize:]
		fc := &r.fences[i]
		copy(fc.first[:], e[:KeySize])
		fc.off = binary.BigEndian.Uint64(e[KeySize:])
		fc.n = binary.BigEndian.Uint32(e[KeySize+8:])
		fc.crc = binary.BigEndian.Uint32(e[KeySize+12:])
		if fc.off != next || fc.n == 0 || uint64(fc.n) > indexOff-fc.off {
			return nil, corrupt(path, "block %d is at %d, %d bytes (want it at %d, within %d)", i, fc.off, fc.n, next, indexOff)
		}
		if i > 0 && bytes.Compare(fc.first[:], r.fences[i-1].first[:]) <= 0 {
			return nil, corrupt(path, "block %d's first key is not above block %d's", i, i-1)
		}
		r.prefix[i] = binary.BigEndian.Uint64(fc.first[:8])
		next += uint64(fc.n)
	}
	if next != indexOff {
		return nil, corrupt(path, "its blocks end at %d, its index starts at %d", next, indexOff)
	}
	return r, nil
}

// Len is the number of records.
func (r *File) Len() uint64 { return r.records }

// Sum is the CRC-32C of the run's index, which holds every block's first
// key and CRC-32C: with Len, it tells one run from another (a run copied
// from another store, or from another time) without reading the blocks.
func (r *File) Sum() uint32 { return r.sum }

// Path is the file's path.
func (r *File) Path() string { return r.path }

// Close unmaps the run. Values returned by Get and Iter are invalid after.
func (r *File) Close() error {
	if r.data == nil {
		return nil
	}
	err := unmap(r.data)
	r.data = nil
	return err
}

// block returns block i's records, checked against its CRC.
func (r *File) block(i int) ([]byte, error) {
	fc := &r.fences[i]
	b := r.data[fc.off : fc.off+uint64(fc.n)]
	if crc32.Checksum(b, castagnoli) != fc.crc {
		return nil, corrupt(r.path, "block %d (at byte %d) does not match its checksum", i, fc.off)
	}
	return b, nil
}

// record reads the record at the start of b: its key, its value, and the
// rest of b.
func (r *File) record(b []byte, block int) (key, value, rest []byte, err error) {
	if len(b) < KeySize+1 {
		return nil, nil, nil, corrupt(r.path, "block %d ends inside a record", block)
	}
	n, w := binary.Uvarint(b[KeySize:])
	if w <= 0 || n > MaxValue || uint64(len(b)-KeySize-w) < n {
		return nil, nil, nil, corrupt(r.path, "block %d holds a record of a bad length", block)
	}
	at := KeySize + w
	return b[:KeySize], b[at : at+int(n) : at+int(n)], b[at+int(n):], nil
}

// Get returns key's value, which aliases the mapped file: it is valid
// until Close and must not be written.
func (r *File) Get(key *[KeySize]byte) ([]byte, bool, error) {
	p := binary.BigEndian.Uint64(key[:8])
	// The last block whose first key is at or below key.
	i := sort.Search(len(r.prefix), func(i int) bool { return r.prefix[i] > p }) - 1
	for i >= 0 && r.prefix[i] == p && bytes.Compare(r.fences[i].first[:], key[:]) > 0 {
		i--
	}
	if i < 0 {
		return nil, false, nil
	}
	b, err := r.block(i)
	if err != nil {
		return nil, false, err
	}
	if !bytes.HasPrefix(b, r.fences[i].first[:]) {
		return nil, false, corrupt(r.path, "block %d does not start with its index's key", i)
	}
	for len(b) > 0 {
		k, v, rest, err := r.record(b, i)
		if err != nil {
			return nil, false, err
		}
		switch c := bytes.Compare(k, key[:]); {
		case c == 0:
			return v, true, nil
		case c > 0:
			return nil, false, nil
		}
		b = rest
	}
	return nil, false, nil
}

// Iter returns an iterator over the records in key order, from the first.
func (r *File) Iter() *Iter { return &Iter{r: r, block: -1} }

// Iter reads a run's records in key order. Each block is checked as it is
// entered, and keys are checked to increase.
type Iter struct {
	r          *File
	block      int
	b          []byte
	key, value []byte
	n          uint64
	err        error
}

// Next moves to the next record: false at the end or on an error (Err).
func (it *Iter) Next() bool {
	if it.err != nil {
		return false
	}
	for len(it.b) == 0 {
		if it.block+1 >= len(it.r.fences) {
			if it.n != it.r.records {
				it.err = corrupt(it.r.path, "%d records, its footer says %d", it.n, it.r.records)
			}
			return false
		}
		it.block++
		if it.b, it.err = it.r.block(it.block); it.err != nil {
			return false
		}
		if !bytes.HasPrefix(it.b, it.r.fences[it.block].first[:]) {
			it.err = corrupt(it.r.path, "block %d does not start with its index's key", it.block)
			return false
		}
	}
	prev := it.key
	it.key, it.value, it.b, it.err = it.r.record(it.b, it.block)
	if it.err != nil {
		return false
	}
	if prev != nil && bytes.Compare(prev, it.key) >= 0 {
		it.err = corrupt(it.r.path, "block %d: keys out of order", it.block)
		return false
	}
	it.n++
	return true
}

// Key is the current record's key, valid until Close of the run.
func (it *Iter) Key() []byte { return it.key }

// Value is the current record's value, valid until Close of the run.
func (it *Iter) Value() []byte { return it.value }

// Err is what ended the iteration early, if anything did.
func (it *Iter) Err() error { return it.err }

// Verify reads every record, checking every block, the order of the keys
// and the count.
func (r *File) Verify() error {
	it := r.Iter()
	for it.Next() {
	}
	return it.Err()
}
