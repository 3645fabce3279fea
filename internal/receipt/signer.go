package receipt

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/proof"
)

// Signer signs receipts, each with the key of its keyring valid at the
// receipt's received time. The keyring can be replaced while signing
// (SetKeyring), so a rotation reaches a running service.
//
// Small requests (at most CombineMax receipts) that arrive while a tree
// is being signed wait and are signed together in the next tree, up to
// CombineLeaves receipts: under load, one signature serves many requests;
// alone, a request is signed at once, never held for a timer.
type Signer struct {
	ring atomic.Pointer[Keyring]

	mu    sync.Mutex
	queue []*job // requests waiting to be signed together; queue[0] signs next
	busy  bool   // a request is signing (it hands over to queue[0] when done)
}

// CombineMax is the largest request whose receipts are combined with
// other requests'. A larger one is its own tree: its signature already
// costs under a microsecond per receipt, and a shared tree would only
// lengthen each of its receipts' paths.
const CombineMax = 64

// CombineLeaves bounds the receipts of one combined tree (their paths are
// at most 12 hashes).
const CombineLeaves = 4096

// job is one request's share of a combined tree.
type job struct {
	facts []Facts
	out   []Receipt
	err   error
	done  chan bool // true: sign the next tree yourself; false: out and err are set
}

// NewSigner returns a Signer with one key, valid at all times.
func NewSigner(key ed25519.PrivateKey) *Signer { return NewKeyringSigner(NewKeyring(key)) }

// NewKeyringSigner returns a Signer over r.
func NewKeyringSigner(r *Keyring) *Signer {
	s := &Signer{}
	s.ring.Store(r)
	return s
}

// SetKeyring replaces the keys receipts are signed with from now on.
func (s *Signer) SetKeyring(r *Keyring) { s.ring.Store(r) }

// Keyring returns the keys in use.
func (s *Signer) Keyring() *Keyring { return s.ring.Load() }

// current is the key valid now, or the newest one if none is.
func (s *Signer) current() Key {
	r := s.ring.Load()
	if k, ok := r.At(time.Now()); ok {
		return k
	}
	return r.keys[len(r.keys)-1]
}

// PublicKey is the key that signs the receipts of fingerprints received now.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.current().Public() }

// KeyID is PublicKey's key ID.
func (s *Signer) KeyID() string { return s.current().ID() }

// Sign returns the receipts of facts, in order: facts must hold 1 to
// MaxTreeSize entries, each received within some key's period, with an
// institution name of one line. Times are kept to the nanosecond and
// returned in UTC. Every receipt has its own random salt.
//
// The receipts are grouped by the key valid at their received time, and
// each group's are leaves of one tree signed once by that key. With at
// most CombineMax facts, the tree may also hold the receipts of other
// requests signed at the same moment, other institutions' included.
func (s *Signer) Sign(facts ...Facts) ([]Receipt, error) {
	if len(facts) == 0 || len(facts) > MaxTreeSize {
		return nil, fmt.Errorf("receipt: signing %d receipts; want 1 to %d", len(facts), MaxTreeSize)
	}
	ring := s.ring.Load()
	if err := check(ring, facts); err != nil {
		return nil, err
	}
	if len(facts) > CombineMax {
		return sign(ring, facts)
	}
	j := &job{facts: facts, done: make(chan bool, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, j)
	lead := !s.busy
	s.busy = true
	s.mu.Unlock()
	if !lead && !<-j.done {
		return j.out, j.err
	}
	if lead {
		// Let the requests that are ready to run (woken together by the
		// store's group commit, typically) queue first, so that they share
		// this tree rather than wait for the next. Alone, this returns at
		// once: nothing else is runnable.
		runtime.Gosched()
	}
	s.signQueued() // j is queue[0], so among the requests it signs
	return j.out, j.err
}

// signQueued signs the requests at the head of the queue, up to
// CombineLeaves receipts, as one tree per key, hands each its receipts,
// and passes the signing on to the next request waiting, if any.
func (s *Signer) signQueued() {
	s.mu.Lock()
	n, leaves := 0, 0
	for n < len(s.queue) && (n == 0 || leaves+len(s.queue[n].facts) <= CombineLeaves) {
		leaves += len(s.queue[n].facts)
		n++
	}
	jobs := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.mu.Unlock()

	facts := jobs[0].facts
	if len(jobs) > 1 {
		facts = make([]Facts, 0, leaves)
		for _, j := range jobs {
			facts = append(facts, j.facts...)
		}
	}
	// The keyring is read again: a rotation between a request's check and
	// now leaves its facts valid (old keys stay in a keyring).
	out, err := signSafely(s.ring.Load(), facts)
	for i, j := range jobs {
		if err == nil {
			j.out, out = out[:len(j.facts):len(j.facts)], out[len(j.facts):]
		}
		j.err = err
		if i > 0 {
			j.done <- false
		}
	}

	s.mu.Lock()
	if len(s.queue) == 0 {
		s.busy = false
		s.queue = nil // let the old backing array go
		s.mu.Unlock()
		return
	}
	next := s.queue[0]
	s.mu.Unlock()
	next.done <- true
}

// signSafely is sign, with a panic (a malformed key makes ed25519.Sign
// panic) turned into an error: the requests waiting on this tree, and
// those queued behind it, must get an answer, not wait forever.
func signSafely(ring *Keyring, facts []Facts) (out []Receipt, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("receipt: signing failed: %v", r)
		}
	}()
	return sign(ring, facts)
}

// check refuses facts no receipt can state.
func check(ring *Keyring, facts []Facts) error {
	for _, f := range facts {
		if !nanoExact(f.ReceivedAt) || !nanoExact(f.Deadline) {
			return fmt.Errorf("receipt: time outside the signable range (years 1678-2262)")
		}
		if strings.ContainsFunc(f.Institution, unicode.IsControl) || !utf8.ValidString(f.Institution) {
			return errors.New("receipt: the institution's name holds a control character or invalid UTF-8 (a statement is one line per field)")
		}
		if ring.index(f.ReceivedAt) < 0 {
			return fmt.Errorf("receipt: no receipt key is valid at %s (received time of %s)", f.ReceivedAt.UTC().Format(time.RFC3339Nano), f.Fingerprint)
		}
	}
	return nil
}

// sign signs facts (checked) as one tree per key of ring, each receipt
// with a fresh random salt.
func sign(ring *Keyring, facts []Facts) ([]Receipt, error) {
	raw := make([]byte, len(facts)*SaltSize)
	rand.Read(raw) // never fails (crypto/rand crashes the program instead)
	salts := make([]Salt, len(facts))
	for i := range salts {
		copy(salts[i][:], raw[i*SaltSize:])
	}
	// groups[k] lists the facts the keyring's key k signs; the common case
	// is one group, every fact in the period of one key.
	groups := make([][]int, len(ring.keys))
	for i, f := range facts {
		k := ring.index(f.ReceivedAt)
		if k < 0 {
			return nil, fmt.Errorf("receipt: no receipt key is valid at %s", f.ReceivedAt.UTC().Format(time.RFC3339Nano))
		}
		groups[k] = append(groups[k], i)
	}
	out := make([]Receipt, len(facts))
	for k, idx := range groups {
		if len(idx) > 0 {
			if err := signGroup(ring.keys[k], facts, salts, idx, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// signGroup signs facts[idx...] as one tree with k into out[idx...].
func signGroup(k Key, facts []Facts, salts []Salt, idx []int, out []Receipt) error {
	leaves := make([]fingerprint.Fingerprint, len(idx))
	var buf []byte
	for j, i := range idx {
		buf = appendStatement(buf[:0], facts[i], salts[i])
		leaves[j] = sha256.Sum256(buf)
	}
	tree, err := merkle.Build(leaves)
	if err != nil {
		return err
	}
	size := uint64(len(idx))
	sig := ed25519.Sign(k.Private, TreeMessage(size, tree.Root))
	id := k.ID()
	depth := merkle.Depth(size)
	hashes := make([]proof.Hash, 0, len(idx)*depth) // one array for every path
	for j, i := range idx {
		start := len(hashes)
		var err error
		if hashes, err = merkle.AppendProof(hashes, tree, uint64(j)); err != nil {
			return err
		}
		f := facts[i]
		out[i] = Receipt{
			Version: Version, Salt: salts[i], Fingerprint: f.Fingerprint, Institution: f.Institution,
			ReceivedAt: f.ReceivedAt.UTC(), Deadline: f.Deadline.UTC(), KeyID: id,
			TreeSize: size, TreeIndex: uint64(j), TreePath: hashes[start:len(hashes):len(hashes)], Signature: sig,
		}
	}
	return nil
}
