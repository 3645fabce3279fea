// Package store defines what attestd persists and the contract every backend
// keeps: the embedded bbolt store (store/bolt) and Redis (store/redis) both
// pass the shared conformance suite in store/storetest.
//
// The data model is small: fingerprints (pending until sealed), sealed
// batches with their stored Merkle levels (so a proof is O(log n) reads and
// never a tree rebuild), and one anchor record per (batch, chain).
package store

import (
	"context"
	"errors"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
)

// Sentinel errors. Callers act on them with errors.Is; the HTTP layer maps
// ErrNotFound to 404, ErrUnavailable and ErrFull to 503 with Retry-After,
// everything else to 500.
var (
	// ErrNotFound: the fingerprint, batch or anchor is unknown.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a seal or anchor write lost a race (the pending set or the
	// anchor record changed underneath it); nothing was written.
	ErrConflict = errors.New("conflict")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrUnavailable: the store's backend cannot take the operation now —
	// the embedded store could not commit to its file system (full, read
	// only, I/O errors), or Redis is unreachable, timing out, loading,
	// read only, out of memory or failing to persist. Nothing of the
	// operation was acknowledged; it may succeed when retried later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrFull: admitting a submission's new fingerprints would take the
	// number pending past the bound the caller gave Submit; nothing of the
	// submission was written. It may succeed once a batch is sealed.
	ErrFull = errors.New("too many fingerprints waiting to be sealed")
)

// Unavailable wraps err (if not nil) so that it also matches
// ErrUnavailable, keeping err's message and chain.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return unavailableError{err}
}

type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// HealthChecker is implemented by stores that know whether they can take
// writes. Reads may succeed while writes fail (a full disk, a read-only
// Redis replica), so readiness asks this instead of reading.
type HealthChecker interface {
	// Health returns nil while the store takes writes, or an error wrapping
	// ErrUnavailable saying why not (from its last failed write, until a
	// later write or a probe of the backend succeeds). While failing it
	// probes the backend at most about once a second.
	Health(ctx context.Context) error
}

// Unindexer is implemented by stores that acknowledge submissions into a
// log and merge them into their index behind (the embedded store), so that
// the backlog can be watched (attestd_store_unindexed_fingerprints).
type Unindexer interface {
	// Unindexed returns how many acknowledged fingerprints wait to be
	// merged into the index. It is cheap and safe to call at any time,
	// concurrently with everything else. Unindexed fingerprints are
	// durable and readable all the same; past the store's bound on the
	// backlog, Submit waits for the merge (or fails with ErrUnavailable
	// while merging fails) rather than losing anything.
	Unindexed() int
	// IndexRuns returns how many sorted runs the index is in: a look-up
	// of a fingerprint reads up to that many, and a background compaction
	// keeps it to a few per size tier (attestd_store_index_runs). It is
	// cheap and safe to call at any time.
	IndexRuns() int
}

// Status is the life-cycle state of a fingerprint and of its batch.
type Status string

const (
	StatusPending   Status = "pending"   // acknowledged, durable, not yet in a batch
	StatusSealed    Status = "sealed"    // in a batch whose root is not yet mined on every chain
	StatusAnchored  Status = "anchored"  // the root's anchor tx is mined on every chain
	StatusConfirmed Status = "confirmed" // ... with the configured confirmations on every chain
)

// Submission is one fingerprint handed in by an institution.
type Submission struct {
	Fingerprint fingerprint.Fingerprint
	Institution string
	ReceivedAt  time.Time
}

// Entry is what the store knows of one fingerprint.
type Entry struct {
	Fingerprint fingerprint.Fingerprint
	Institution string    // the first submitter; never shown on public endpoints
	ReceivedAt  time.Time // the first acceptance; re-submission keeps it
	BatchID     uint64    // 0 while pending
	Index       uint64    // leaf index in the batch (valid when BatchID != 0)
}

// Pending reports whether the entry is still waiting for a batch.
func (e Entry) Pending() bool { return e.BatchID == 0 }

// Record is one institution's submission of a fingerprint: what that
// institution's receipt says. Every (fingerprint, institution) pair has its
// own record, kept durably from the institution's first submission; the
// entry's first submitter's record is the entry itself. A record never
// tells anything about another institution's submission of the same
// fingerprint.
type Record struct {
	Fingerprint fingerprint.Fingerprint
	Institution string
	ReceivedAt  time.Time // this institution's first submission; re-submission keeps it
	// New (from Submit only) is set on the one submission that created the
	// fingerprint's entry: false for a fingerprint the store knew, and for
	// every later duplicate in the same call.
	New bool
}

// AnchorState is the state of one anchor transaction.
type AnchorState string

const (
	AnchorSigned    AnchorState = "signed"    // raw tx persisted; broadcast (maybe again) until mined
	AnchorMined     AnchorState = "mined"     // receipt seen in a canonical block
	AnchorConfirmed AnchorState = "confirmed" // that block has the configured confirmations
)

// Anchor is the record of a batch root's transaction on one chain. The
// signed raw transaction is stored before it is ever broadcast, so a crash
// re-broadcasts the same transaction instead of anchoring twice.
type Anchor struct {
	BatchID     uint64
	ChainID     uint64
	State       AnchorState
	From        common.Address // the anchoring account
	To          common.Address // the sink (the anchoring account itself by default)
	Nonce       uint64
	TxHash      common.Hash
	RawTx       []byte        // the signed transaction, RLP/typed encoding (types.Transaction.MarshalBinary)
	Replaced    []common.Hash // earlier transactions with the same nonce (fee bumps) that may still be mined
	SignedAt    time.Time
	BroadcastAt time.Time // last (re)broadcast; zero if never sent

	// Set once mined (State mined or confirmed).
	BlockNumber uint64
	BlockHash   common.Hash
	BlockTime   time.Time // the block's timestamp: the attested time
	GasUsed     uint64
	FeeWei      *big.Int // gas used × effective gas price
	MinedAt     time.Time
	ConfirmedAt time.Time

	// Evidence is the anchor's chain evidence, the JSON encoding of a
	// proof.Evidence (see internal/evidence), written once the anchor is
	// confirmed; nil until then, and in a record sent back by a reorg.
	// The store keeps and returns it byte for byte and never looks inside;
	// a record written without it has none (nothing is merged).
	Evidence []byte
}

// Batch is a sealed Merkle tree of fingerprints.
type Batch struct {
	ID       uint64 // 1, 2, 3 … in sealing order
	Size     uint64
	Root     [32]byte
	SealedAt time.Time
	Anchors  []Anchor // one per chain that has an anchor record, by ChainID
}

// Anchor returns the batch's anchor record on chainID, if any.
func (b Batch) Anchor(chainID uint64) (Anchor, bool) {
	for _, a := range b.Anchors {
		if a.ChainID == chainID {
			return a, true
		}
	}
	return Anchor{}, false
}

// Status derives the batch status for the given chains: sealed until the
// anchor is mined on every chain, anchored until it is confirmed on every
// chain.
func (b Batch) Status(chains []uint64) Status {
	st := StatusConfirmed
	for _, c := range chains {
		a, ok := b.Anchor(c)
		switch {
		case !ok || a.State == AnchorSigned:
			return StatusSealed
		case a.State == AnchorMined:
			st = StatusAnchored
		}
	}
	if len(chains) == 0 {
		return StatusSealed
	}
	return st
}

// Proof is what a proof read needs: an entry and, once it is sealed, its
// batch and its Merkle path; and the statements made about it.
type Proof struct {
	Entry Entry
	Batch Batch      // zero while Entry is pending
	Path  [][32]byte // the nodes at merkle.PathPositions(Entry.Index, Batch.Size); nil while pending
	// Statements are the record-status statements whose subject is the
	// entry's fingerprint, in the order they were recorded (Seq); none for
	// most fingerprints.
	Statements []Statement
}

// Statement is a record-status statement (internal/statement: a supersede
// or a withdrawal) about a fingerprint, its subject. The store keeps its
// canonical text byte for byte and never looks inside: the caller made
// and checked it. The statement's own fingerprint is submitted (Submit)
// and sealed and anchored like any other; AddStatement records what it
// says and which fingerprint it is about.
type Statement struct {
	Fingerprint fingerprint.Fingerprint // the statement's own: statement.Fingerprint(Text)
	Subject     fingerprint.Fingerprint // the fingerprint it is about
	Text        []byte                  // its canonical form
	Seq         uint64                  // 1, 2, 3 … in the order recorded (AddStatement sets it)
}

// MaxStatementText bounds a statement's text (internal/statement's
// MaxSize); AddStatement refuses a longer one.
const MaxStatementText = 1 << 10

// Store is the persistence contract. All methods are safe for concurrent
// use. "Durable" means: on the backend's stable storage (fsync'd for the
// embedded store; AOF per the documented settings for Redis).
//
// No service component takes Store whole: each declares the part it uses
// and the guarantees it relies on (server.Store, batch.Store,
// anchor.Store) and asserts there that Store implements it, so a change
// here that breaks a user breaks the build beside that user's contract.
// Store is the union the backends implement and storetest checks.
// Optional capabilities are separate interfaces: HealthChecker, Unindexer,
// Elector.
type Store interface {
	// Submit records every submission's fingerprint as pending unless the
	// store already knows it, and the submitting institution's record of it
	// unless that institution submitted it before. It returns one Record
	// per submission in order: the institution's own, with its first
	// ReceivedAt (idempotent per institution; an institution that is not
	// the first submitter gets a record of its own, never the first one's
	// time). It returns only once the new entries and records are durable,
	// written atomically with each other. Duplicates inside subs are
	// allowed: the same (fingerprint, institution) yields the same record.
	//
	// With maxPending > 0, Submit refuses, with an error wrapping ErrFull
	// and without writing anything, a submission whose new fingerprints
	// (those the store does not know, each counted once) would take the
	// number pending past maxPending; a submission without a new
	// fingerprint is never refused. The check and the writes are atomic:
	// concurrent submitters, on every replica of a shared backend, never
	// take the count past the bound. pending is the number pending right
	// after the submission, for the caller to tell when a batch is full.
	Submit(ctx context.Context, subs []Submission, maxPending int) (recs []Record, pending int, err error)

	// Entry returns the entry of fp, or ErrNotFound.
	Entry(ctx context.Context, fp fingerprint.Fingerprint) (Entry, error)

	// Submission returns institution's record of fp and fp's entry, or
	// ErrNotFound, alike whether fp is unknown or institution never
	// submitted it. The record's New is false.
	Submission(ctx context.Context, fp fingerprint.Fingerprint, institution string) (Record, Entry, error)

	// Proof returns the entry of fp and, once it is sealed, its batch and
	// Merkle path (the stored nodes at merkle.PathPositions, never a
	// rebuilt tree), and the statements about fp, or ErrNotFound: all of
	// it in one call, which the embedded store serves from one read
	// transaction.
	Proof(ctx context.Context, fp fingerprint.Fingerprint) (Proof, error)

	// PendingStats returns the number of pending fingerprints and the
	// ReceivedAt of the oldest one (zero time when none is pending).
	PendingStats(ctx context.Context) (count int, oldest time.Time, err error)

	// Pending returns up to max pending fingerprints, oldest acceptance
	// first. It does not change anything: the sealer builds a tree of them
	// and hands the same slice to CommitBatch.
	Pending(ctx context.Context, max int) ([]fingerprint.Fingerprint, error)

	// CommitBatch atomically seals fps (which must be a prefix of the
	// pending queue as returned by Pending, in that order) as the next batch
	// with the given tree: it assigns the next batch ID, stores the tree's
	// levels, records each fingerprint's batch and index and removes them
	// from the pending queue. Either all of that is durable or none of it
	// (ErrConflict if fps is no longer the pending prefix).
	CommitBatch(ctx context.Context, fps []fingerprint.Fingerprint, tree *merkle.Tree, sealedAt time.Time) (Batch, error)

	// AdoptBatch records b's ID, Size, Root and SealedAt as the next
	// batch, without fingerprints or tree: a batch this issuer sealed and
	// anchored (the chain holds its root) that the store lost — a store
	// restored from a backup made before it was sealed. Batch IDs stay
	// dense, so the next CommitBatch seals above it and no batch ID gets
	// a second root. No fingerprint is in an adopted batch (Proof never
	// reaches it); b.Anchors is ignored (the caller writes the anchor
	// records with PutAnchor). b.ID must be LatestBatch()+1 and b.Size
	// more than 0: ErrConflict otherwise, except that adopting the very
	// batch that is stored under b.ID (same size, root and sealing time)
	// succeeds again without writing (a retry). Fenced like CommitBatch.
	AdoptBatch(ctx context.Context, b Batch) error

	// AddStatement durably records st (its Fingerprint, Subject and Text;
	// Seq is ignored) and returns it as recorded, with its Seq: the next
	// statement number (dense: 1, 2, 3 …). A statement whose Fingerprint
	// is recorded already is returned as it was recorded and nothing is
	// written (a retry); under that fingerprint another subject or text is
	// ErrConflict. Statements are never changed nor removed: history is
	// kept. The caller submits st.Fingerprint first (Submit), so that a
	// recorded statement is always one that will be anchored; AddStatement
	// does not check it. A zero Fingerprint or Subject, and a Text empty or
	// longer than MaxStatementText, are refused with an error. It returns
	// once the statement is durable, like Submit.
	AddStatement(ctx context.Context, st Statement) (Statement, error)

	// Statement returns the statement whose own fingerprint is fp, or
	// ErrNotFound (fp is not a statement's).
	Statement(ctx context.Context, fp fingerprint.Fingerprint) (Statement, error)

	// Statements returns up to limit statements with Seq > after,
	// ascending: every statement of the service, page by page.
	Statements(ctx context.Context, after uint64, limit int) ([]Statement, error)

	// Batch returns batch id with its anchor records, or ErrNotFound.
	Batch(ctx context.Context, id uint64) (Batch, error)

	// Batches returns up to limit batches with ID > after, ascending.
	Batches(ctx context.Context, after uint64, limit int) ([]Batch, error)

	// LatestBatch returns the ID of the newest sealed (or adopted) batch,
	// 0 if none is. Batch IDs are dense: every ID from 1 to it names a
	// batch.
	LatestBatch(ctx context.Context) (uint64, error)

	// Unconfirmed returns up to limit batches, ascending by ID, whose anchor
	// on chainID is missing or not yet confirmed.
	Unconfirmed(ctx context.Context, chainID uint64, limit int) ([]Batch, error)

	// PutAnchor durably writes a's record for (a.BatchID, a.ChainID).
	// prev is the state the caller last read (empty for a new record); if the
	// stored record's state differs the write is refused with ErrConflict.
	// ErrNotFound if the batch does not exist.
	PutAnchor(ctx context.Context, a Anchor, prev AnchorState) error

	// Close releases the store.
	Close() error
}

// ErrFenced: the write came from a replica that no longer holds the leader lease; nothing was written.
var ErrFenced = errors.New("fenced: not the leader")

// Elector is implemented by backends shared by several replicas. Only the leader seals and anchors.
//
// A replica campaigns at start-up and then every ttl/3 or more often: it
// keeps the lease while its renewals arrive, and when the leader dies its
// lease expires within ttl, after which the next campaign of another replica
// wins (so a takeover happens within two lease periods). Closing the
// leader's store gives the lease up, so that another replica's next
// campaign wins at once (a graceful shutdown). Single-process
// backends (the embedded store, whose file lock is its lease) do not
// implement Elector.
type Elector interface {
	// Campaign acquires the lease for ttl if it is free or already ours, or renews it. It returns whether this replica now leads and its fencing token (it increases every time leadership changes hands). While a store is not leading, CommitBatch and PutAnchor fail with ErrFenced; the check and the write are atomic on the server.
	Campaign(ctx context.Context, replicaID string, ttl time.Duration) (leader bool, token uint64, err error)
}
