package bolt

import (
	"errors"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
)

// absentFilter answers "not in the index" for most new fingerprints
// without a descent of the index's B+tree: Bloom filters over every
// fingerprint in the fp bucket (github.com/bits-and-blooms/bloom, 0.5%
// false positives each at its capacity). A new fingerprint is the common
// case of a submission, and its look-up was a full descent that finds
// nothing: a fifth of attestd's CPU on bulk ingest into a
// 7-million-fingerprint store (docs/benchmarks.md, section 21).
//
// The first filter is built by a scan of the fp bucket in the background
// (Open does not wait for it), with every fingerprint a merge commits
// meanwhile added to it as well; the filters are used only once it is
// complete. Until then, and whenever they answer "maybe", the index is
// read as before: the filters make a look-up cheaper, never different.
// When the newest filter holds as many fingerprints as it was sized for, a
// new one twice as large takes the next ones (a scalable Bloom filter, as
// in Almeida et al. 2007), so the index is never scanned again.
//
// Memory: about 11 bits per fingerprint of capacity; the first filter's
// capacity is twice the index's size at Open (at least 1M), each next one
// twice the last: at most about 3 MB per million indexed fingerprints.
type absentFilter struct {
	mu      sync.RWMutex
	filters []*bloom.BloomFilter // every indexed fingerprint is in one; nil until the scan is complete
	scan    *bloom.BloomFilter   // the first filter, while the scan fills it
	n       uint                 // fingerprints in the newest filter
	limit   uint                 // its capacity
}

// minFilterCapacity is the smallest filter built: 1.2 MB.
const minFilterCapacity = 1 << 20

// filterFalsePositives is each filter's rate at its capacity.
const filterFalsePositives = 0.005

// errStopped ends a filter's scan at Close.
var errStopped = errors.New("bolt: closing")

// absent reports whether fp is certainly not in the index.
func (a *absentFilter) absent(fp *fingerprint.Fingerprint) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.filters == nil {
		return false
	}
	if len(a.filters) == 1 {
		return !a.filters[0].Test(fp[:])
	}
	// Every filter has the same rate, so the same number of hash
	// functions; hash once for all of them.
	var k uint
	for _, f := range a.filters {
		k = max(k, f.K())
	}
	locs := bloom.Locations(fp[:], k)
	for _, f := range a.filters {
		if f.TestLocations(locs[:f.K()]) {
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

// added records fingerprints a merge has committed to the index. It must
// be called after the commit and before they leave the unindexed map, so
// that a look-up finds each in the map or in a filter (the package doc,
// "Concurrency"). It takes the lock in steps, so look-ups are not held
// up for a whole merge chunk.
func (a *absentFilter) added(ps []pair) {
	const step = 4096
	for len(ps) > 0 {
		batch := ps[:min(len(ps), step)]
		ps = ps[len(batch):]
		a.mu.Lock()
		for i := range batch {
			if a.scan != nil {
				a.scan.Add(batch[i].fp[:])
			}
			if a.filters == nil {
				continue
			}
			if a.n >= a.limit {
				a.limit *= 2
				a.filters = append(a.filters, bloom.NewWithEstimates(a.limit, filterFalsePositives))
				a.n = 0
			}
			a.filters[len(a.filters)-1].Add(batch[i].fp[:])
			a.n++
		}
		a.mu.Unlock()
	}
}

// filterer builds the first filter after Open.
func (s *Store) filterer() {
	defer close(s.filterDone)
	if err := s.buildFilter(); err != nil {
		s.logger.Warn("bolt: building the index filter failed; look-ups read the index", "err", err)
	}
}

// buildFilter fills the first filter from the fp bucket and puts it in
// use. It takes the merges' fingerprints from before the scan's view is
// opened, so those committed after the view are in it too.
func (s *Store) buildFilter() error {
	a := s.filter
	capacity := max(2*uint(s.indexed.Load()), s.filterMin)
	f := bloom.NewWithEstimates(capacity, filterFalsePositives)
	a.mu.Lock()
	a.scan = f
	a.mu.Unlock()
	n := uint(0)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketFP).Cursor()
		const step = 4096
		for k, _ := c.First(); k != nil; {
			select {
			case <-s.stop:
				return errStopped
			default:
			}
			a.mu.Lock()
			for i := 0; i < step && k != nil; i++ {
				f.Add(k)
				n++
				k, _ = c.Next()
			}
			a.mu.Unlock()
		}
		return nil
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scan = nil
	if err != nil {
		if errors.Is(err, errStopped) {
			return nil
		}
		return err
	}
	a.filters, a.n, a.limit = []*bloom.BloomFilter{f}, n, capacity
	return nil
}
