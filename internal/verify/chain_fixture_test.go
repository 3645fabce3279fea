package verify

// A real chain for the verifier's tests: go-ethereum's simulated backend,
// batches sealed into the bolt store with merkle.Build, anchored by
// anchor.Anchorer, and proof bundles assembled from the store the way
// internal/server does (Store.Proof and the anchor record). Nothing here
// fakes the chain; the few Chain wrappers in
// verify_test.go only distort what a real endpoint answers.

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
)

// simChainID is the simulated backend's chain ID.
const simChainID = 1337

// testKey derives a fixed secp256k1 key from a label, so that every process
// signs the same transactions (the fuzz workers rely on it).
func testKey(label string) *ecdsa.PrivateKey {
	h := sha256.Sum256([]byte("attestd/verify test key: " + label))
	k, err := crypto.ToECDSA(h[:])
	if err != nil {
		panic(err)
	}
	return k
}

var (
	anchorKey   = testKey("anchorer")
	anchorAddr  = crypto.PubkeyToAddress(anchorKey.PublicKey)
	otherKey    = testKey("another account")
	otherAddr   = crypto.PubkeyToAddress(otherKey.PublicKey)
	fixtureTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

// chainEnv is one simulated chain with a bolt store and an anchorer.
type chainEnv struct {
	sim   *simulated.Backend
	dir   string
	store *bolt.Store
	anch  *anchor.Anchorer
	seq   int // leaves made so far: fingerprints are deterministic
	// nonces of the accounts sendTx used. The pool's pending nonce lags
	// behind a send, so they are counted here.
	nonces map[common.Address]uint64
}

// newChainEnv starts a chain whose anchorer confirms at the given depth
// (and stops following an anchor from there).
func newChainEnv(confirmations uint64) (*chainEnv, error) {
	funds := new(big.Int).Lsh(big.NewInt(1), 100)
	sim := simulated.NewBackend(types.GenesisAlloc{anchorAddr: {Balance: funds}, otherAddr: {Balance: funds}})
	e := &chainEnv{sim: sim}
	var err error
	if e.dir, err = os.MkdirTemp("", "attestd-verify-test-"); err != nil {
		sim.Close()
		return nil, err
	}
	if e.store, err = bolt.Open(bolt.Config{Path: filepath.Join(e.dir, "db"), NoSync: true}); err != nil {
		e.close()
		return nil, err
	}
	e.anch, err = anchor.New(context.Background(), anchor.Config{
		Key: anchorKey, Confirmations: confirmations, RebroadcastAfter: time.Hour,
	}, sim.Client(), e.store, metrics.New("test"), slog.New(slog.DiscardHandler))
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// closeStore closes and removes the store; the chain stays up.
func (e *chainEnv) closeStore() {
	if e.store != nil {
		e.store.Close()
		e.store = nil
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
		e.dir = ""
	}
}

func (e *chainEnv) close() {
	e.closeStore()
	e.sim.Close()
}

func (e *chainEnv) client() simulated.Client { return e.sim.Client() }

// chains is the verifier's endpoint map for this chain.
func (e *chainEnv) chains() map[uint64]Chain { return map[uint64]Chain{simChainID: e.client()} }

// seal submits n new fingerprints and seals them as the next batch; it
// returns the batch and its leaves in tree order.
func (e *chainEnv) seal(n int) (store.Batch, []fingerprint.Fingerprint, error) {
	ctx := context.Background()
	subs := make([]store.Submission, n)
	for i := range subs {
		e.seq++
		subs[i] = store.Submission{
			Fingerprint: fingerprint.Sum(fmt.Appendf(nil, "attestd verify test leaf %d", e.seq)),
			Institution: "lab",
			ReceivedAt:  fixtureTime.Add(time.Duration(e.seq) * time.Second),
		}
	}
	if _, _, err := e.store.Submit(ctx, subs, 0); err != nil {
		return store.Batch{}, nil, err
	}
	fps, err := e.store.Pending(ctx, n)
	if err != nil {
		return store.Batch{}, nil, err
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		return store.Batch{}, nil, err
	}
	b, err := e.store.CommitBatch(ctx, fps, tree, fixtureTime.Add(time.Hour))
	return b, fps, err
}

func (e *chainEnv) step() error { return e.anch.Step(context.Background()) }

// anchor sends the anchors of every sealed batch, mines them in one block
// and records them (the env's anchorer must confirm at depth 1).
func (e *chainEnv) anchor() error {
	if err := e.step(); err != nil {
		return err
	}
	if err := e.settleAnchors(); err != nil {
		return err
	}
	if err := e.commit(); err != nil {
		return err
	}
	if err := e.step(); err != nil {
		return err
	}
	left, err := e.store.Unconfirmed(context.Background(), simChainID, 1)
	if err != nil {
		return err
	}
	if len(left) != 0 {
		return fmt.Errorf("batch %d not anchored after a block: %+v", left[0].ID, left[0].Anchors)
	}
	return nil
}

// commit mines a block and waits for the node to index it.
func (e *chainEnv) commit() error {
	e.sim.Commit()
	return e.waitIndexed()
}

// waitIndexed waits until the node's transaction index has caught up: the
// indexer runs in the background, and until it is done (seen after a
// reorg on a loaded machine) transaction reads fail with "transaction
// indexing is in progress".
func (e *chainEnv) waitIndexed() error {
	c, ok := e.client().(interface {
		SyncProgress(context.Context) (*ethereum.SyncProgress, error)
	})
	if !ok {
		return errors.New("the simulated client has no SyncProgress")
	}
	deadline := time.Now().Add(60 * time.Second) // a bound on the poll, not a wait (10 s was hit on a loaded CI run)
	for {
		p, err := c.SyncProgress(context.Background())
		if err != nil {
			return err
		}
		if p == nil || p.Done() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the node is still indexing after 60 s: %+v", p)
		}
		time.Sleep(time.Millisecond)
	}
}

// settle waits until the pool holds from's transactions below nonce next
// as pending. The pool promotes a sent transaction asynchronously; a
// Commit before that (seen on a loaded machine) mines a block without it.
func (e *chainEnv) settle(from common.Address, next uint64) error {
	deadline := time.Now().Add(60 * time.Second) // a bound on the poll, not a wait (10 s was hit on a loaded CI run)
	for {
		n, err := e.client().PendingNonceAt(context.Background(), from)
		if err != nil {
			return err
		}
		if n >= next {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pool's pending nonce of %s is %d after 60 s, want %d", from, n, next)
		}
		time.Sleep(time.Millisecond)
	}
}

// settleAnchors settles the anchorer's signed transactions.
func (e *chainEnv) settleAnchors() error {
	bs, err := e.store.Unconfirmed(context.Background(), simChainID, 1000)
	if err != nil {
		return err
	}
	var next uint64
	for _, b := range bs {
		if a, ok := b.Anchor(simChainID); ok && a.State == store.AnchorSigned {
			next = max(next, a.Nonce+1)
		}
	}
	if next == 0 {
		return nil
	}
	return e.settle(anchorAddr, next)
}

// settleSent settles every transaction sendTx sent.
func (e *chainEnv) settleSent() error {
	for from, next := range e.nonces {
		if err := e.settle(from, next); err != nil {
			return err
		}
	}
	return nil
}

// bundle assembles the proof of fp from the store as internal/server does,
// except that a signed but unmined anchor is included too (with zero block
// fields), which the server never hands out.
func (e *chainEnv) bundle(fp fingerprint.Fingerprint) (*proof.Bundle, error) {
	ctx := context.Background()
	p, err := e.store.Proof(ctx, fp)
	if err != nil {
		return nil, err
	}
	entry := p.Entry
	b, err := e.store.Batch(ctx, entry.BatchID)
	if err != nil {
		return nil, err
	}
	rec, ok := b.Anchor(simChainID)
	if !ok {
		return nil, fmt.Errorf("batch %d has no anchor record", b.ID)
	}
	path := make([]proof.Hash, len(p.Path))
	for i, n := range p.Path {
		path[i] = n
	}
	return &proof.Bundle{
		Version: proof.VersionV1, Fingerprint: entry.Fingerprint, BatchID: b.ID,
		Index: entry.Index, Size: b.Size, Root: b.Root, Path: path,
		Anchors: []proof.Anchor{{
			ChainID: rec.ChainID, TxHash: rec.TxHash, BlockNumber: rec.BlockNumber,
			BlockHash: rec.BlockHash, Anchorer: rec.From,
		}},
	}, nil
}

// sendTx signs and sends a transaction from key (gas given, so that a
// reverting call is sent anyway); to == nil creates a contract.
func (e *chainEnv) sendTx(key *ecdsa.PrivateKey, to *common.Address, data []byte) (*types.Transaction, error) {
	ctx := context.Background()
	c := e.client()
	nonce, err := e.nextNonce(crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		return nil, err
	}
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	tip := big.NewInt(1_000_000_000)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(simChainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(simChainID), Nonce: nonce, GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas:       200_000, To: to, Data: data,
	})
	if err != nil {
		return nil, err
	}
	return tx, c.SendTransaction(ctx, tx)
}

// nextNonce returns the nonce of from's next transaction: on first use
// the mined state's (nothing of from may be pending then), then counted.
func (e *chainEnv) nextNonce(from common.Address) (uint64, error) {
	if e.nonces == nil {
		e.nonces = map[common.Address]uint64{}
	}
	n, ok := e.nonces[from]
	if !ok {
		var err error
		if n, err = e.client().NonceAt(context.Background(), from, nil); err != nil {
			return 0, err
		}
	}
	e.nonces[from] = n + 1
	return n, nil
}

// withTx returns a copy of b whose anchor points at the mined tx.
func (e *chainEnv) withTx(b *proof.Bundle, tx *types.Transaction, anchorer common.Address) (*proof.Bundle, error) {
	rc, err := e.client().TransactionReceipt(context.Background(), tx.Hash())
	if err != nil {
		return nil, fmt.Errorf("receipt of %s: %w", tx.Hash().Hex(), err)
	}
	out := cloneBundle(b)
	out.Anchors = []proof.Anchor{{
		ChainID: simChainID, TxHash: tx.Hash(), BlockNumber: rc.BlockNumber.Uint64(),
		BlockHash: rc.BlockHash, Anchorer: anchorer,
	}}
	return out, nil
}

func cloneBundle(b *proof.Bundle) *proof.Bundle {
	out := *b
	out.Path = append([]proof.Hash(nil), b.Path...)
	out.Anchors = append([]proof.Anchor(nil), b.Anchors...)
	return &out
}

// fixtureBundle is a valid bundle of the shared fixture.
type fixtureBundle struct {
	name   string // "size 5, leaf 2"
	bundle *proof.Bundle
	depth  uint64    // confirmations of its block at the fixture's head
	time   time.Time // its block's timestamp
}

// chainFixture is the shared, read-only chain: batches of several sizes,
// each anchored in a block of its own, a few transactions that are not
// what a bundle claims, and blocks on top. It is built once per process
// (the fuzz workers build their own: the transactions are deterministic,
// the block hashes are not — see fuzz_verify_test.go).
type chainFixture struct {
	env   *chainEnv
	valid []fixtureBundle
	// truth holds every bundle that is true on this chain for the
	// anchoring account: every leaf of every batch, and the claims that
	// the deliberately sent "payload with another batch id" makes true.
	truth  []*proof.Bundle
	blocks map[uint64]common.Hash // every block of the chain by number
	wrong  map[string]*proof.Bundle
	head   uint64
}

// fixtureSizes are the batch sizes of the shared fixture, anchored in this
// order (batch IDs 1, 2, …).
var fixtureSizes = []int{1, 2, 3, 5, 8}

// leafPicks returns the first, middle and last leaf of a batch of n.
func leafPicks(n int) []uint64 {
	out := []uint64{0}
	for _, i := range []uint64{uint64(n / 2), uint64(n - 1)} {
		if i != out[len(out)-1] {
			out = append(out, i)
		}
	}
	return out
}

func buildFixture() (*chainFixture, error) {
	e, err := newChainEnv(1)
	if err != nil {
		return nil, err
	}
	fx, err := fillFixture(e)
	if err != nil {
		e.close()
		return nil, err
	}
	e.closeStore() // the chain is all the verifier needs from here on
	return fx, nil
}

func fillFixture(e *chainEnv) (*chainFixture, error) {
	ctx := context.Background()
	fx := &chainFixture{env: e, wrong: map[string]*proof.Bundle{}}
	for _, n := range fixtureSizes {
		b, fps, err := e.seal(n)
		if err != nil {
			return nil, err
		}
		if err := e.anchor(); err != nil {
			return nil, err
		}
		for i, fp := range fps {
			bundle, err := e.bundle(fp)
			if err != nil {
				return nil, err
			}
			if bundle.Index != uint64(i) || bundle.Anchors[0].BlockHash == (common.Hash{}) {
				return nil, fmt.Errorf("batch %d leaf %d: bundle %+v", b.ID, i, bundle)
			}
			fx.truth = append(fx.truth, bundle)
			if slices.Contains(leafPicks(n), uint64(i)) {
				fx.valid = append(fx.valid, fixtureBundle{name: fmt.Sprintf("size %d, leaf %d", n, i), bundle: bundle})
			}
		}
	}

	// Transactions that are not what a bundle claims, all mined in one
	// block: from the anchoring account with other payloads, with calldata
	// that is no payload, a correct payload from another account, and a
	// correct payload sent to a contract that reverts.
	base := fx.valid[len(fx.valid)-1].bundle // size 8, last leaf
	pl := proof.Payload{BatchID: base.BatchID, Size: base.Size, Root: base.Root}
	otherRoot, otherSize, otherBatch := pl, pl, pl
	otherRoot.Root[0] ^= 1
	otherSize.Size++
	otherBatch.BatchID++
	revert, err := deployReverter(e)
	if err != nil {
		return nil, err
	}
	type sent struct {
		name     string
		tx       *types.Transaction
		anchorer common.Address
	}
	var txs []sent
	for _, s := range []struct {
		name     string
		key      *ecdsa.PrivateKey
		to       common.Address
		data     []byte
		anchorer common.Address
	}{
		{"payload with another root", anchorKey, anchorAddr, otherRoot.Encode(), anchorAddr},
		{"payload with another size", anchorKey, anchorAddr, otherSize.Encode(), anchorAddr},
		{"payload with another batch id", anchorKey, anchorAddr, otherBatch.Encode(), anchorAddr},
		{"calldata that is no payload", anchorKey, anchorAddr, []byte("hello"), anchorAddr},
		{"payload version 2", anchorKey, anchorAddr, append([]byte("ATST\x02"), pl.Encode()[5:]...), anchorAddr},
		{"payload from another account", otherKey, otherAddr, pl.Encode(), otherAddr},
		{"payload to a reverting contract", anchorKey, revert, pl.Encode(), anchorAddr},
	} {
		tx, err := e.sendTx(s.key, &s.to, s.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		txs = append(txs, sent{s.name, tx, s.anchorer})
	}
	if err := e.settleSent(); err != nil {
		return nil, err
	}
	if err := e.commit(); err != nil {
		return nil, err
	}
	for _, s := range txs {
		if fx.wrong[s.name], err = e.withTx(base, s.tx, s.anchorer); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	// The anchoring account did anchor (batch+1, size, root): every leaf
	// of the base batch is truly in that "batch" too.
	for _, t := range slices.Clone(fx.truth) {
		if t.BatchID == base.BatchID {
			c := cloneBundle(t)
			c.BatchID++
			c.Anchors = fx.wrong["payload with another batch id"].Anchors
			fx.truth = append(fx.truth, c)
		}
	}

	for range 2 {
		if err := e.commit(); err != nil {
			return nil, err
		}
	}
	head, err := e.client().HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	fx.head = head.Number.Uint64()
	fx.blocks = map[uint64]common.Hash{}
	for n := uint64(0); n <= fx.head; n++ {
		h, err := e.client().HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return nil, err
		}
		fx.blocks[n] = h.Hash()
	}
	for i := range fx.valid {
		v := &fx.valid[i]
		n := v.bundle.Anchors[0].BlockNumber
		h, err := e.client().HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return nil, err
		}
		v.depth, v.time = fx.head-n+1, time.Unix(int64(h.Time), 0).UTC()
	}
	return fx, nil
}

// reverterInit deploys a contract whose code is PUSH1 0 PUSH1 0 REVERT:
// PUSH5 <runtime> PUSH1 0 MSTORE PUSH1 5 PUSH1 27 RETURN.
var reverterInit = []byte{0x64, 0x60, 0x00, 0x60, 0x00, 0xfd, 0x60, 0x00, 0x52, 0x60, 0x05, 0x60, 0x1b, 0xf3}

// deployReverter deploys a contract that reverts every call and returns
// its address.
func deployReverter(e *chainEnv) (common.Address, error) {
	tx, err := e.sendTx(anchorKey, nil, reverterInit)
	if err != nil {
		return common.Address{}, err
	}
	if err := e.settleSent(); err != nil {
		return common.Address{}, err
	}
	if err := e.commit(); err != nil {
		return common.Address{}, err
	}
	rc, err := e.client().TransactionReceipt(context.Background(), tx.Hash())
	if err != nil {
		return common.Address{}, err
	}
	addr := crypto.CreateAddress(anchorAddr, tx.Nonce())
	code, err := e.client().CodeAt(context.Background(), addr, nil)
	if err != nil || rc.Status != types.ReceiptStatusSuccessful || rc.ContractAddress != addr || len(code) != 5 {
		return common.Address{}, fmt.Errorf("deploying the reverting contract: status %d, address %s (want %s), code %x, %v", rc.Status, rc.ContractAddress, addr, code, err)
	}
	return addr, nil
}

var shared struct {
	once sync.Once
	fx   *chainFixture
	err  error
}

// sharedFixture returns the process's chain fixture, building it on first
// use. It stays open until the process exits (the fuzz run needs it).
func sharedFixture(tb testing.TB) *chainFixture {
	tb.Helper()
	shared.once.Do(func() { shared.fx, shared.err = buildFixture() })
	if shared.err != nil {
		tb.Fatalf("building the chain fixture: %v", shared.err)
	}
	return shared.fx
}
