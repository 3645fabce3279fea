package receipt

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
)

func combineKey() *Signer {
	seed := sha256.Sum256([]byte("attestd combine test key"))
	return NewSigner(ed25519.NewKeyFromSeed(seed[:]))
}

// requestFacts is request r's n facts, of institution inst.
func requestFacts(r, n int, inst string) []Facts {
	out := make([]Facts, n)
	at := time.Date(2026, 12, 7, 10, 0, 0, r, time.UTC)
	for i := range out {
		out[i] = Facts{Fingerprint: fingerprint.Sum(fmt.Appendf(nil, "request %d record %d", r, i)), Institution: inst, ReceivedAt: at, Deadline: at.Add(time.Hour)}
	}
	return out
}

// waitQueued waits until n requests are queued behind the one signing.
func waitQueued(s *Signer, n int) {
	for {
		s.mu.Lock()
		q := len(s.queue)
		s.mu.Unlock()
		if q >= n {
			return
		}
		runtime.Gosched()
	}
}

// TestCombined: requests that arrive while a tree is being signed are
// signed together in the next tree, one signature for all, and each gets
// exactly its own receipts, in its order, each verifying on its own; a
// path carries only salted leaves of the other requests.
func TestCombined(t *testing.T) {
	s := combineKey()
	// Stand in for a request being signed: the next ones queue behind it.
	s.mu.Lock()
	s.busy = true
	s.mu.Unlock()

	const requests = 7
	sizes := []int{1, 3, 1, CombineMax, 2, 1, CombineMax + 1} // the last is its own tree
	got := make([][]Receipt, requests)
	facts := make([][]Facts, requests)
	var wg sync.WaitGroup
	for r := range requests {
		facts[r] = requestFacts(r, sizes[r], fmt.Sprintf("hospital-%d", r%3))
		wg.Go(func() {
			rs, err := s.Sign(facts[r]...)
			if err != nil {
				t.Errorf("request %d: %v", r, err)
			}
			got[r] = rs
		})
	}
	waitQueued(s, requests-1) // all but the large one, which does not queue
	s.mu.Lock()
	if len(s.queue) != requests-1 {
		t.Fatalf("%d requests queued, want %d", len(s.queue), requests-1)
	}
	next := s.queue[0]
	s.mu.Unlock()
	next.done <- true // the stand-in is done: hand over, as signQueued does
	wg.Wait()

	combined := 0
	for _, n := range sizes[:requests-1] {
		combined += n
	}
	var sig []byte
	for r, rs := range got {
		if len(rs) != sizes[r] {
			t.Fatalf("request %d: %d receipts, want %d", r, len(rs), sizes[r])
		}
		for i, rc := range rs {
			if rc.Facts() != facts[r][i] {
				t.Fatalf("request %d receipt %d states %+v, want %+v", r, i, rc.Facts(), facts[r][i])
			}
			if err := Verify(rc, s.PublicKey()); err != nil {
				t.Fatalf("request %d receipt %d: %v", r, i, err)
			}
			if r == requests-1 {
				if rc.TreeSize != uint64(sizes[r]) {
					t.Fatalf("the large request's tree has %d leaves, want its own %d", rc.TreeSize, sizes[r])
				}
				continue
			}
			if rc.TreeSize != uint64(combined) {
				t.Fatalf("request %d receipt %d: tree of %d, want all %d queued receipts in one", r, i, rc.TreeSize, combined)
			}
			if sig == nil {
				sig = rc.Signature
			} else if string(sig) != string(rc.Signature) {
				t.Fatal("the queued requests' receipts carry different signatures")
			}
		}
	}
	// Leaf 0's sibling is leaf 1: salted, so not the hash of leaf 1's
	// facts alone. (Leaves are in queue order; each request's receipts are
	// consecutive, in its own order.)
	at := map[uint64]Receipt{}
	for _, rs := range got[:requests-1] {
		for i, rc := range rs {
			if _, dup := at[rc.TreeIndex]; dup || rc.TreeIndex != rs[0].TreeIndex+uint64(i) {
				t.Fatalf("tree index %d twice, or a request's receipts not consecutive", rc.TreeIndex)
			}
			at[rc.TreeIndex] = rc
		}
	}
	a, b := at[0], at[1]
	if a.TreePath[0] != merkle.LeafHash(Leaf(b.Facts(), b.Salt)) || a.TreePath[0] == merkle.LeafHash(sha256.Sum256(StatementV2(b.Facts()))) {
		t.Fatal("a receipt's path does not hold its neighbour's salted leaf")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy || len(s.queue) != 0 {
		t.Fatalf("after signing: busy %v, %d queued", s.busy, len(s.queue))
	}
}

// TestCombinedBound: a combined tree holds at most CombineLeaves
// receipts; the requests beyond wait for the next tree.
func TestCombinedBound(t *testing.T) {
	s := combineKey()
	s.mu.Lock()
	s.busy = true
	s.mu.Unlock()
	per := CombineMax
	requests := CombineLeaves/per + 2
	got := make([][]Receipt, requests)
	var wg sync.WaitGroup
	for r := range requests {
		wg.Go(func() {
			rs, err := s.Sign(requestFacts(r, per, "lab")...)
			if err != nil {
				t.Errorf("request %d: %v", r, err)
			}
			got[r] = rs
		})
	}
	waitQueued(s, requests)
	s.mu.Lock()
	next := s.queue[0]
	s.mu.Unlock()
	next.done <- true
	wg.Wait()
	sizes := map[uint64]int{}
	for _, rs := range got {
		for _, rc := range rs {
			if err := Verify(rc, s.PublicKey()); err != nil {
				t.Fatal(err)
			}
		}
		sizes[rs[0].TreeSize]++
	}
	if len(sizes) != 2 || sizes[CombineLeaves] != CombineLeaves/per || sizes[uint64(2*per)] != 2 {
		t.Fatalf("trees (size: requests) %v, want %d: %d and %d: 2", sizes, CombineLeaves, CombineLeaves/per, 2*per)
	}
}

// TestCombinedRefusal: a request whose facts cannot be signed is refused
// before it queues, and does not disturb the others.
func TestCombinedRefusal(t *testing.T) {
	s := combineKey()
	bad := requestFacts(0, 1, "a\nb")
	if _, err := s.Sign(bad...); err == nil {
		t.Fatal("signed an institution with a newline")
	}
	rs, err := s.Sign(requestFacts(1, 2, "lab")...)
	if err != nil || len(rs) != 2 || rs[0].TreeSize != 2 {
		t.Fatalf("after a refusal: %d receipts of a tree of %d, %v", len(rs), rs[0].TreeSize, err)
	}
}

// TestSigningPanic: a key that makes Ed25519 panic fails the requests
// signed with it, and leaves the signer free for the next ones: no request
// waits forever behind a failed tree.
func TestSigningPanic(t *testing.T) {
	s := NewSigner(ed25519.PrivateKey{1, 2, 3}) // not 64 bytes: ed25519.Sign panics
	for i := range 3 {
		if _, err := s.Sign(requestFacts(i, 1, "lab")...); err == nil {
			t.Fatalf("request %d: signed with a malformed key", i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy || len(s.queue) != 0 {
		t.Fatalf("after failed signing: busy %v, %d queued", s.busy, len(s.queue))
	}
}
