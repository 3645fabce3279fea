package bolt

import (
	"errors"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
)

// absentFilter answers "not in the index" for most new fingerprints
// without a descent of the index's B+tree: a Bloom filter over every
// fingerprint in the fp bucket (github.com/bits-and-blooms/bloom, 1%
// false positives at its capacity). A new fingerprint is the common case
// of a submission, and its look-up was a full descent that finds nothing:
// a fifth of attestd's CPU on bulk ingest into a 7-million-fingerprint
// store (docs/benchmarks.md, section 21).
//
// A filter is used only once complete: built by a scan of the fp bucket
// in the background (Open does not wait for it), with every fingerprint a
// merge commits meanwhile added to it as well. Until then, and whenever it
// answers "maybe", the index is read as before: the filter can make a
// look-up cheaper, never different. When more fingerprints have been
// added than it was sized for, a filter twice as large is built the same
// way and replaces it.
//
// Memory: about 10 bits per fingerprint of capacity; capacity is twice the
// index's size when built (at least 1M): 2.4–4.8 MB per million indexed.
type absentFilter struct {
	mu       sync.RWMutex
	cur      *bloom.BloomFilter // complete, or nil (not built yet)
	next     *bloom.BloomFilter // being built, or nil
	n, limit uint               // fingerprints in cur, and its capacity
	rebuild  chan struct{}      // capacity 1: cur is over its capacity
}

// minFilterCapacity is the smallest filter built: 1.2 MB.
const minFilterCapacity = 1 << 20

// errStopped ends a filter's scan at Close.
var errStopped = errors.New("bolt: closing")

func newAbsentFilter() *absentFilter {
	return &absentFilter{rebuild: make(chan struct{}, 1)}
}

// absent reports whether fp is certainly not in the index.
func (a *absentFilter) absent(fp *fingerprint.Fingerprint) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cur != nil && !a.cur.Test(fp[:])
}

// ready reports whether a complete filter is in use.
func (a *absentFilter) ready() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cur != nil
}

// added records fingerprints a merge has committed to the index. It must
// be called after the commit and before they leave the unindexed map, so
// that a look-up finds each in the map or in the filter (the package doc,
// "Concurrency").
func (a *absentFilter) added(ps []pair) {
	a.mu.Lock()
	for i := range ps {
		if a.cur != nil {
			a.cur.Add(ps[i].fp[:])
		}
		if a.next != nil {
			a.next.Add(ps[i].fp[:])
		}
	}
	a.n += uint(len(ps))
	over := a.cur != nil && a.n > a.limit
	a.mu.Unlock()
	if over {
		select {
		case a.rebuild <- struct{}{}:
		default:
		}
	}
}

// filterer builds the filter after Open, and again when it is over its
// capacity, until Close.
func (s *Store) filterer() {
	defer close(s.filterDone)
	for {
		if err := s.buildFilter(); err != nil {
			s.logger.Warn("bolt: building the index filter failed; look-ups read the index", "err", err)
		}
		select {
		case <-s.stop:
			return
		case <-s.filter.rebuild:
		}
	}
}

// buildFilter fills a new filter from the fp bucket and puts it in use.
// The new filter takes the merges' fingerprints from before the scan's
// view is opened, so those committed after the view are in it too.
func (s *Store) buildFilter() error {
	a := s.filter
	capacity := max(2*uint(s.indexed.Load()), s.filterMin)
	a.mu.Lock()
	if a.cur != nil {
		capacity = max(capacity, 2*a.n)
	}
	f := bloom.NewWithEstimates(capacity, 0.01)
	a.next = f
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
	a.next = nil
	if err != nil {
		if err == errStopped {
			return nil
		}
		return err
	}
	a.cur, a.n, a.limit = f, n, capacity
	return nil
}
