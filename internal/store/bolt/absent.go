package bolt

import (
	"errors"
	"hash/maphash"
	"sync"

	"github.com/greatroar/blobloom"

	"github.com/attestd/attestd/internal/fingerprint"
)

// absentFilter answers "not in the store" for most new fingerprints
// without a look-up in the unindexed maps or in every run of the index:
// Bloom filters over every fingerprint in the index and the unindexed
// maps (blocked Bloom filters, github.com/greatroar/blobloom: one cache
// line per filter per look-up or insert; 0.5% false positives each at its
// capacity). A new fingerprint is the common case of a submission, and
// its look-up, with the B+tree index of format 5, was a full descent that
// found nothing: a fifth of attestd's CPU on bulk ingest into a
// 7-million-fingerprint store (docs/benchmarks.md, section 21); then a
// miss in a map of a million or two, a cache miss each time: 4%. With
// runs it would read a block of each run.
//
// The committer adds each new fingerprint when it puts it in the
// unindexed map (noteAdded); a fingerprint leaves the map only for the
// index, so it stays covered. The first filter is built in the background
// (Open does not wait for it) from the maps and a scan of the index,
// with every fingerprint committed meanwhile added to it as well; the
// filters are used only once it is complete. Until then, and whenever they
// answer "maybe", the maps and the index are read as before: the filters
// make a look-up cheaper, never different.
//
// A fingerprint is hashed for the filters with hash/maphash and a seed of
// this process, so a client cannot choose fingerprints that all answer
// "maybe" (which would only make look-ups slower again).
//
// When the newest filter holds as many fingerprints as it was sized for, a
// new one twice as large takes the next ones (a scalable Bloom filter, as
// in Almeida et al. 2007), so the index is never scanned again.
//
// Memory: about 13 bits per fingerprint of capacity; the first filter's
// capacity is twice the index's size at Open (at least 8M: 13 MB), each
// next one twice the last: at most about 3.3 MB per million fingerprints
// above the first 8M.
type absentFilter struct {
	mu      sync.RWMutex
	seed    maphash.Seed
	filters []*blobloom.Filter // every fingerprint of the store is in one; nil until the scan is complete
	scan    *blobloom.Filter   // the first filter, while the scan fills it
	n       uint64             // fingerprints in the newest filter
	limit   uint64             // its capacity
}

func newAbsentFilter() *absentFilter { return &absentFilter{seed: maphash.MakeSeed()} }

// hash is the filters' hash of a fingerprint.
func (a *absentFilter) hash(fp []byte) uint64 { return maphash.Bytes(a.seed, fp) }

// newFilter returns an empty filter for capacity fingerprints.
func newFilter(capacity uint64) *blobloom.Filter {
	return blobloom.NewOptimized(blobloom.Config{Capacity: capacity, FPRate: filterFalsePositives})
}

// minFilterCapacity is the smallest filter built: 13 MB. Every look-up
// asks each filter (a cache miss each), so the small filters a store
// growing from empty would have (1M, 2M, 4M …) cost more than their
// memory saves: at 13M fingerprints, 2 filters instead of 4
// (BenchmarkAbsentFilter).
const minFilterCapacity = 8 << 20

// filterFalsePositives is each filter's rate at its capacity.
const filterFalsePositives = 0.005

// errStopped ends a filter's scan at Close.
var errStopped = errors.New("bolt: closing")

// absent reports whether fp is certainly not in the store.
func (a *absentFilter) absent(fp *fingerprint.Fingerprint) bool {
	h := a.hash(fp[:])
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.filters == nil {
		return false
	}
	for _, f := range a.filters {
		if f.Has(h) {
			return false
		}
	}
	return true
}

// ready reports whether the filters are in use.
func (a *absentFilter) ready() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.filters != nil
}

// addLocked records a fingerprint put in the unindexed map. The caller
// holds a.mu for writing.
func (a *absentFilter) addLocked(fp *fingerprint.Fingerprint) {
	if a.scan != nil {
		a.scan.Add(a.hash(fp[:]))
		a.n++
	}
	if a.filters == nil {
		return
	}
	if a.n >= a.limit {
		a.limit *= 2
		a.filters = append(a.filters, newFilter(a.limit))
		a.n = 0
	}
	a.filters[len(a.filters)-1].Add(a.hash(fp[:]))
	a.n++
}

// filterer builds the first filter after Open.
func (s *Store) filterer() {
	defer close(s.filterDone)
	if err := s.buildFilter(); err != nil {
		s.logger.Warn("bolt: building the index filter failed; look-ups read the index", "err", err)
	}
}

// buildFilter fills the first filter from the unindexed maps and the
// index's runs and puts it in use. The committer's new fingerprints go into it
// from the moment it takes the maps' (see addLocked), so it holds every
// fingerprint in a map or the index when the scan is done: one that leaves
// a map for the index after the scan's view is opened was in the map.
func (s *Store) buildFilter() error {
	a := s.filter
	capacity := max(2*s.indexed.Load(), s.filterMin)
	f := newFilter(capacity)
	s.imu.RLock()
	a.mu.Lock()
	a.scan, a.n = f, 0
	for _, m := range []map[fingerprint.Fingerprint]uint64{s.unindexed, s.merging} {
		for fp := range m {
			f.Add(a.hash(fp[:]))
			a.n++
		}
	}
	a.mu.Unlock()
	idx := s.acquireRuns() // with imu held: what leaves the maps later is in idx
	s.imu.RUnlock()
	defer idx.release(s)
	err := func() error {
		for _, r := range idx.runs {
			it := r.f.Iter()
			for more := true; more; {
				select {
				case <-s.stop:
					return errStopped
				default:
				}
				a.mu.Lock()
				for i := 0; i < 4096; i++ {
					if more = it.Next(); !more {
						break
					}
					f.Add(a.hash(it.Key()))
					a.n++
				}
				a.mu.Unlock()
			}
			if err := it.Err(); err != nil {
				return corrupt(r.f.Path(), err)
			}
		}
		return nil
	}()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scan = nil
	if err != nil {
		if errors.Is(err, errStopped) {
			return nil
		}
		return err
	}
	a.filters, a.limit = []*blobloom.Filter{f}, capacity
	return nil
}
