package bolt

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/crashpoint"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store/bolt/runfile"
)

// The fingerprint index is a set of runs (package runfile): immutable
// files of fp entries sorted by fingerprint, in the directory
// Config.Path + IndexSuffix, named by their ID. A merge round writes the
// round's fingerprints as one new run; the compactor merges runs of about
// the same size into one, compactFanIn or more at a time (size-tiered,
// as an LSM does), so a fingerprint is rewritten about
// log4(index/tierBase) times in all, where a B+tree rewrote the index's
// pages at every round.
//
// The main file's meta "runs" lists the runs of the index: for each its
// ID, its number of entries and the checksum of its index (runfile's
// Sum), so a run file that is not the one listed (restored from another
// backup than the main file, say) is refused at Open, not read. A run is
// written and synced, with its directory, before the transaction that
// lists it commits; a file not listed (a round or a compaction that did
// not commit) is deleted at Open. A run that a compaction replaced is
// deleted once no reader holds it.
//
// Readers take the current runSet (acquireRuns) and let it go when done;
// a run is closed (unmapped) when the last set holding it is let go.
// manMu serialises the changes of the list, so the list committed and
// the current set change together.

// IndexSuffix names the index's directory of runs: Config.Path +
// IndexSuffix.
const IndexSuffix = ".idx"

// keyRuns is meta's list of the index's runs: runRefSize bytes each.
var keyRuns = []byte("runs")

// runRef is a run as meta "runs" lists it: ID(8) | entries(8) | Sum(4).
type runRef struct {
	id, n uint64
	sum   uint32
}

const runRefSize = 8 + 8 + 4

// compactFanIn is how many runs of one size tier the compactor merges at
// once.
const compactFanIn = 4

// run is one open run of the index.
type run struct {
	id       uint64
	n        uint64 // entries: f.Len()
	f        *runfile.File
	refs     atomic.Int64 // the runSets holding it
	obsolete atomic.Bool  // replaced by a compaction: its file goes with the last holder
}

// unref lets go of r for one runSet.
func (r *run) unref(s *Store) {
	if r.refs.Add(-1) != 0 {
		return
	}
	if err := r.f.Close(); err != nil {
		s.logger.Warn("bolt: closing an index run failed", "file", r.f.Path(), "err", err)
	}
	if r.obsolete.Load() {
		if err := os.Remove(r.f.Path()); err != nil {
			s.logger.Warn("bolt: deleting a compacted index run failed; it goes at the next open", "file", r.f.Path(), "err", err)
		}
	}
}

// runSet is the index as of one list of runs.
type runSet struct {
	runs []*run       // largest first: most look-ups end in the first
	refs atomic.Int64 // readers, plus one while it is the store's current set
}

func newRunSet(runs []*run) *runSet {
	set := &runSet{runs: slices.Clone(runs)}
	slices.SortStableFunc(set.runs, func(a, b *run) int { return cmp.Compare(b.n, a.n) })
	for _, r := range set.runs {
		r.refs.Add(1)
	}
	set.refs.Store(1)
	return set
}

// acquireRuns returns the current runSet, held until its release.
func (s *Store) acquireRuns() *runSet {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	set := s.runs
	set.refs.Add(1)
	return set
}

// release lets go of set.
func (set *runSet) release(s *Store) {
	if set.refs.Add(-1) != 0 {
		return
	}
	for _, r := range set.runs {
		r.unref(s)
	}
}

// get returns the fp entry of fp in the index, which aliases a run: valid
// while set is held.
func (set *runSet) get(fp *fingerprint.Fingerprint) ([]byte, bool, error) {
	for _, r := range set.runs {
		v, ok, err := r.f.Get((*[32]byte)(fp))
		if err != nil {
			return nil, false, corrupt(r.f.Path(), err)
		}
		if ok {
			return v, true, nil
		}
	}
	return nil, false, nil
}

// len is the number of entries in set (a fingerprint in two runs, after
// an uncertain commit, counts twice).
func (set *runSet) len() uint64 {
	var n uint64
	for _, r := range set.runs {
		n += r.n
	}
	return n
}

// runDir is the index's directory.
func (s *Store) runDir() string { return s.path + IndexSuffix }

func (s *Store) runPath(id uint64) string {
	return filepath.Join(s.runDir(), fmt.Sprintf("%016x.run", id))
}

// runID parses a run's file name.
func runID(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, ".run")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	return id, err == nil
}

// decodeRuns parses meta "runs".
func decodeRuns(v []byte) ([]runRef, error) {
	if len(v)%runRefSize != 0 {
		return nil, fmt.Errorf("meta %q is %d bytes, not a list of %d-byte runs", keyRuns, len(v), runRefSize)
	}
	refs := make([]runRef, len(v)/runRefSize)
	for i := range refs {
		e := v[i*runRefSize:]
		refs[i] = runRef{id: binary.BigEndian.Uint64(e), n: binary.BigEndian.Uint64(e[8:]), sum: binary.BigEndian.Uint32(e[16:])}
	}
	return refs, nil
}

// encodeRuns is meta "runs" listing runs.
func encodeRuns(runs []*run) []byte {
	v := make([]byte, 0, runRefSize*len(runs))
	for _, r := range runs {
		v = binary.BigEndian.AppendUint64(v, r.id)
		v = binary.BigEndian.AppendUint64(v, r.n)
		v = binary.BigEndian.AppendUint32(v, r.f.Sum())
	}
	return v
}

// openRuns opens the runs meta lists, deletes the files of runs it does
// not list, and makes them the current set. With check, every run is read
// in full first (runfile.File.Verify).
func (s *Store) openRuns(refs []runRef, check bool) error {
	dir := s.runDir()
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	listed := map[uint64]bool{}
	top := uint64(0)
	for _, ref := range refs {
		listed[ref.id] = true
		top = max(top, ref.id)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, e := range entries {
		id, ok := runID(e.Name())
		if !ok {
			continue
		}
		top = max(top, id)
		if !listed[id] { // a round or compaction that did not commit
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
			removed = true
		}
	}
	if removed {
		if err := atomicfile.SyncDir(dir); err != nil {
			return err
		}
	}
	s.nextRun.Store(top)
	var runs []*run
	closeAll := func() {
		for _, r := range runs {
			r.f.Close()
		}
	}
	for _, ref := range refs {
		path := s.runPath(ref.id)
		f, err := runfile.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			closeAll()
			return corrupt(path, "the main file lists this index run, and it is missing")
		}
		if err == nil && (f.Len() != ref.n || f.Sum() != ref.sum) {
			err = fmt.Errorf("%w: it holds %d entries with index checksum %08x, the main file lists %d with %08x: it is not the run the main file was written with (from another copy of the data dir?)",
				runfile.ErrCorrupt, f.Len(), f.Sum(), ref.n, ref.sum)
		}
		if err == nil && check {
			err = f.Verify()
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			closeAll()
			if errors.Is(err, runfile.ErrCorrupt) {
				return corrupt(path, err)
			}
			return err
		}
		runs = append(runs, &run{id: ref.id, n: f.Len(), f: f})
	}
	s.runs = newRunSet(runs)
	return nil
}

// writeRun writes a new run with add, syncs it and its directory, and
// opens it. It is not in the index until commitRuns lists it.
func (s *Store) writeRun(add func(*runfile.Writer) error) (*run, error) {
	id := s.nextRun.Add(1)
	path := s.runPath(id)
	w, err := runfile.Create(path)
	if err != nil {
		return nil, err
	}
	if err := add(w); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Finish(); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(s.runDir()); err != nil {
		os.Remove(path)
		return nil, err
	}
	crashpoint.Hit(crashpoint.RunWritten)
	f, err := runfile.Open(path)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return &run{id: id, n: f.Len(), f: f}, nil
}

// commitRuns lists add in meta "runs" instead of drop, in one transaction
// of the main file with extra (nil for none), and makes the new list the
// current set. On an error add stays out of the set (its file is closed,
// and deleted at the next Open unless the transaction did commit).
func (s *Store) commitRuns(add *run, drop []*run, extra func(*bbolt.Tx) error) error {
	s.manMu.Lock()
	defer s.manMu.Unlock()
	for _, r := range drop {
		if !slices.Contains(s.runs.runs, r) { // never: compactions hold cmu
			add.f.Close()
			os.Remove(add.f.Path())
			return fmt.Errorf("bolt: the index run %s was compacted meanwhile", r.f.Path())
		}
	}
	next := make([]*run, 0, len(s.runs.runs)+1)
	for _, r := range s.runs.runs {
		if !slices.Contains(drop, r) {
			next = append(next, r)
		}
	}
	next = append(next, add)
	err := s.write(fileIndex, func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyRuns, encodeRuns(next)); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		add.f.Close()
		return err
	}
	crashpoint.Hit(crashpoint.RunsListed)
	for _, r := range drop {
		r.obsolete.Store(true)
	}
	set := newRunSet(next)
	s.rmu.Lock()
	old := s.runs
	s.runs = set
	s.rmu.Unlock()
	old.release(s)
	return nil
}

// compactor merges runs of the index in the background until Close (see
// pickCompaction), woken after each merge round.
func (s *Store) compactor() {
	defer close(s.compactDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.compactWake:
		}
		for {
			did, err := s.compactStep()
			if !did {
				break
			}
			s.compactions.Add(1)
			if errors.Is(err, errStopped) {
				return
			}
			if err != nil {
				// The runs stay as they are: nothing is lost, look-ups
				// read one more run. The next round's wake tries again.
				s.logger.Error("bolt: compacting the index failed; retrying after the next merge", "err", err)
				break
			}
		}
	}
}

// compactStep runs the next compaction pickCompaction chooses, if any,
// and reports whether there was one. cmu makes compactions one at a time.
func (s *Store) compactStep() (bool, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	set := s.acquireRuns()
	defer set.release(s)
	group := pickCompaction(set.runs)
	if group == nil {
		return false, nil
	}
	return true, s.compact(group)
}

// tierBase is the size of the smallest tier's runs: rounds that
// MergeEvery cuts short are small, and a compaction of them rewrites at
// most a few times this many entries.
const tierBase = 1 << 16

// tier is the size tier of a run of n entries: 0 below
// compactFanIn·tierBase, then one more for every factor of compactFanIn.
func tier(n uint64) int {
	t := 0
	for n /= tierBase; n >= compactFanIn; n /= compactFanIn {
		t++
	}
	return t
}

// pickCompaction returns the runs to merge next, or nil: the runs of the
// lowest size tier that holds compactFanIn or more (all of them, at most
// 2·compactFanIn). With no tier that full, a set holds fewer than
// compactFanIn runs per tier: at most 3·(1 + log4(index/tierBase)) runs.
func pickCompaction(runs []*run) []*run {
	by := map[int][]*run{}
	low := -1
	for _, r := range runs {
		t := tier(r.n)
		by[t] = append(by[t], r)
		if len(by[t]) >= compactFanIn && (low < 0 || t < low) {
			low = t
		}
	}
	if low < 0 {
		return nil
	}
	g := by[low]
	return g[:min(len(g), 2*compactFanIn)]
}

// compact merges group into one new run and lists it instead. The caller
// holds cmu and a runSet with group in it.
func (s *Store) compact(group []*run) error {
	its := make([]*runfile.Iter, 0, len(group))
	for _, r := range group {
		if it := r.f.Iter(); it.Next() {
			its = append(its, it)
		} else if err := it.Err(); err != nil {
			return corrupt(r.f.Path(), err)
		}
	}
	nr, err := s.writeRun(func(w *runfile.Writer) error {
		for n := 0; len(its) > 0; n++ {
			if n%(1<<16) == 0 {
				select {
				case <-s.stop:
					return errStopped
				default:
				}
			}
			least := 0
			for i := 1; i < len(its); i++ {
				if bytes.Compare(its[i].Key(), its[least].Key()) < 0 {
					least = i
				}
			}
			key, val := its[least].Key(), its[least].Value()
			if err := w.Add((*[32]byte)(key), val); err != nil {
				return err
			}
			// Advance every run at this key: a fingerprint is in two runs
			// only after a commit that failed and was retried, with the
			// same entry.
			for i := len(its) - 1; i >= 0; i-- { // backwards: a deletion shifts only the runs seen
				it := its[i]
				if i != least && !bytes.Equal(it.Key(), key) {
					continue
				}
				if i != least && !bytes.Equal(it.Value(), val) {
					return corrupt(s.runDir(), fmt.Sprintf("fingerprint %x has two different entries in the index", key))
				}
				if !it.Next() {
					if err := it.Err(); err != nil {
						return corrupt(s.runDir(), err)
					}
					its = slices.Delete(its, i, i+1)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.commitRuns(nr, group, nil); err != nil {
		return err
	}
	s.compacted.Add(nr.n)
	return nil
}
