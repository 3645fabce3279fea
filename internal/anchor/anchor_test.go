package anchor_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
)

type env struct {
	t     *testing.T
	key   *ecdsa.PrivateKey
	from  common.Address
	sim   *simulated.Backend
	store store.Store
	m     *metrics.Metrics
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, new(big.Int).Lsh(big.NewInt(1), 100), nil)
}

// newEnvWith is newEnv with the anchoring account's balance and more
// accounts in the genesis.
func newEnvWith(t *testing.T, balance *big.Int, alloc types.GenesisAlloc) *env {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	if alloc == nil {
		alloc = types.GenesisAlloc{}
	}
	alloc[from] = types.Account{Balance: balance}
	sim := simulated.NewBackend(alloc)
	t.Cleanup(func() { sim.Close() })
	st, err := bolt.Open(bolt.Config{Path: filepath.Join(t.TempDir(), "db"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, key: key, from: from, sim: sim, store: st, m: metrics.New("test")}
}

// anchorer returns a new anchorer (a "restart" when called again) using
// c, which also serves the chain evidence when it can (the simulated
// client does; the tests' wrappers of it do not).
func (e *env) anchorer(c anchor.Client, confirmations uint64) *anchor.Anchorer {
	e.t.Helper()
	ev, _ := c.(evidence.Client)
	a, err := anchor.New(context.Background(), anchor.Config{
		Key: e.key, Confirmations: confirmations, RebroadcastAfter: time.Hour, Evidence: ev,
	}, c, e.store, e.m, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// seal commits a batch of n fresh fingerprints and returns it.
func (e *env) seal(n int) store.Batch {
	e.t.Helper()
	return e.sealAt(n, time.Now())
}

// sealAt commits a batch of n fresh fingerprints, received and sealed at
// the given time.
func (e *env) sealAt(n int, at time.Time) store.Batch {
	e.t.Helper()
	ctx := context.Background()
	subs := make([]store.Submission, n)
	for i := range subs {
		subs[i] = store.Submission{Fingerprint: fingerprint.Sum([]byte(e.t.Name() + at.String() + time.Now().String() + string(rune(i)))), Institution: "lab", ReceivedAt: at}
	}
	if _, _, err := e.store.Submit(ctx, subs, 0); err != nil {
		e.t.Fatal(err)
	}
	fps, err := e.store.Pending(ctx, n)
	if err != nil {
		e.t.Fatal(err)
	}
	tree, err := merkle.Build(fps)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := e.store.CommitBatch(ctx, fps, tree, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) record(id uint64) store.Anchor {
	e.t.Helper()
	b, err := e.store.Batch(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	a, ok := b.Anchor(1337)
	if !ok {
		e.t.Fatalf("batch %d has no anchor record", id)
	}
	return a
}

func (e *env) step(a *anchor.Anchorer) {
	e.t.Helper()
	if err := a.Step(context.Background()); err != nil {
		e.t.Fatalf("step: %v", err)
	}
}

// commit mines a block once the pool holds every anchor transaction the
// store says was broadcast (the pool promotes a sent transaction
// asynchronously: a Commit before that mines a block without it), then
// waits until the node has indexed it.
func (e *env) commit() {
	e.t.Helper()
	ctx := context.Background()
	bs, err := e.store.Unconfirmed(ctx, 1337, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var next uint64
	for _, b := range bs {
		if a, ok := b.Anchor(1337); ok && a.State == store.AnchorSigned && !a.BroadcastAt.IsZero() {
			next = max(next, a.Nonce+1)
		}
	}
	deadline := time.Now().Add(60 * time.Second) // a bound on the poll, not a wait (10 s was hit on a loaded CI run)
	for {
		n, err := e.sim.Client().PendingNonceAt(ctx, e.from)
		if err != nil {
			e.t.Fatal(err)
		}
		if n >= next {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the pool's pending nonce is %d after 60 s, want %d", n, next)
		}
		time.Sleep(time.Millisecond)
	}
	e.sim.Commit()
	e.waitIndexed()
}

// waitIndexed waits until the node's transaction index has caught up: the
// indexer runs in the background, and until it is done (seen after
// reorgs on a loaded machine) receipt lookups fail with "transaction
// indexing is in progress".
func (e *env) waitIndexed() {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a bound on the poll, not a wait (10 s was hit on a loaded CI run)
	for {
		p, err := e.sim.Client().(ethereum.ChainSyncReader).SyncProgress(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if p == nil || p.Done() {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the node is still indexing after 60 s: %+v", p)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) sentTxs() uint64 {
	e.t.Helper()
	n, err := e.sim.Client().NonceAt(context.Background(), e.from, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	a := e.anchorer(e.sim.Client(), 2)
	b := e.seal(5)

	e.step(a)
	rec := e.record(b.ID)
	if rec.State != store.AnchorSigned || rec.BroadcastAt.IsZero() || len(rec.RawTx) == 0 {
		t.Fatalf("after first step: %+v, want signed and broadcast", rec)
	}
	e.commit()
	e.step(a)
	if rec = e.record(b.ID); rec.State != store.AnchorMined {
		t.Fatalf("after one block: state %s, want mined (2 confirmations needed)", rec.State)
	}
	e.commit()
	e.step(a)
	if rec = e.record(b.ID); rec.State != store.AnchorConfirmed {
		t.Fatalf("after two blocks: state %s, want confirmed", rec.State)
	}

	// What is on chain is exactly the batch's payload, from the anchoring account.
	ctx := context.Background()
	tx, _, err := e.sim.Client().TransactionByHash(ctx, rec.TxHash)
	if err != nil {
		t.Fatal(err)
	}
	p, err := proof.DecodePayload(tx.Data())
	if err != nil {
		t.Fatal(err)
	}
	if p != (proof.Payload{BatchID: b.ID, Size: b.Size, Root: b.Root}) {
		t.Fatalf("payload %+v, batch %+v", p, b)
	}
	if sender, _ := types.Sender(types.LatestSignerForChainID(big.NewInt(1337)), tx); sender != e.from || *tx.To() != e.from {
		t.Fatalf("sender %s to %s, want self-send from %s", sender, tx.To(), e.from)
	}
	if tx.Type() != types.DynamicFeeTxType {
		t.Fatalf("tx type %d, want EIP-1559", tx.Type())
	}
	if rec.GasUsed == 0 || rec.GasUsed > 23_000 {
		t.Fatalf("gas used %d, want ≤ 23000", rec.GasUsed)
	}
	if rec.BlockTime.IsZero() || rec.FeeWei == nil || rec.FeeWei.Sign() <= 0 {
		t.Fatalf("mined details missing: %+v", rec)
	}
	if left, _ := e.store.Unconfirmed(ctx, 1337, 10); len(left) != 0 {
		t.Fatalf("unconfirmed after confirmation: %v", left)
	}
	if got := testutil.ToFloat64(e.m.AnchorConfirmed.WithLabelValues("1337")); got != 1 {
		t.Fatalf("confirmed metric %v", got)
	}
	// More steps change nothing and send nothing.
	e.step(a)
	if e.sentTxs() != 1 {
		t.Fatalf("%d txs sent, want 1", e.sentTxs())
	}
}

func TestOneTxPerBatchInOrder(t *testing.T) {
	e := newEnv(t)
	a := e.anchorer(e.sim.Client(), 1)
	var ids []uint64
	for i := 1; i <= 3; i++ {
		ids = append(ids, e.seal(i).ID)
	}
	e.step(a)
	e.commit()
	e.step(a)
	for i, id := range ids {
		rec := e.record(id)
		if rec.State != store.AnchorConfirmed || rec.Nonce != uint64(i) {
			t.Fatalf("batch %d: %s nonce %d", id, rec.State, rec.Nonce)
		}
	}
	if e.sentTxs() != 3 {
		t.Fatalf("%d txs, want 3", e.sentTxs())
	}
}

// flaky is a client whose SendTransaction fails: deliver says whether the
// tx reaches the node anyway ("fail but persist", as a timed-out
// eth_sendRawTransaction does) or not ("fail and not persist").
type flaky struct {
	anchor.Client
	deliver bool
}

func (f flaky) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if f.deliver {
		if err := f.Client.SendTransaction(ctx, tx); err != nil {
			return err
		}
	}
	return errors.New("connection reset by peer")
}

// TestRestartBetweenSignedAndMined: the process dies after persisting the
// signed tx, whether or not the broadcast got through. The restarted
// anchorer sends the same tx — never a second one.
func TestRestartBetweenSignedAndMined(t *testing.T) {
	for _, deliver := range []bool{false, true} {
		t.Run(map[bool]string{false: "lost", true: "delivered"}[deliver], func(t *testing.T) {
			e := newEnv(t)
			b := e.seal(3)
			crashed := e.anchorer(flaky{e.sim.Client(), deliver}, 1)
			if err := crashed.Step(context.Background()); err == nil {
				t.Fatal("step with a failing broadcast reported no error")
			}
			signed := e.record(b.ID)
			if signed.State != store.AnchorSigned {
				t.Fatalf("state %s, want signed", signed.State)
			}
			e.commit()

			restarted := e.anchorer(e.sim.Client(), 1)
			e.step(restarted)
			e.commit()
			e.step(restarted)
			rec := e.record(b.ID)
			if rec.State != store.AnchorConfirmed || rec.TxHash != signed.TxHash {
				t.Fatalf("after restart: %s tx %s, want confirmed with the persisted tx %s", rec.State, rec.TxHash, signed.TxHash)
			}
			if n := e.sentTxs(); n != 1 {
				t.Fatalf("%d txs on chain, want exactly 1", n)
			}
			// A later batch gets the next nonce, not a reused one.
			b2 := e.seal(2)
			e.step(restarted)
			e.commit()
			e.step(restarted)
			if rec := e.record(b2.ID); rec.State != store.AnchorConfirmed || rec.Nonce != 1 {
				t.Fatalf("second batch: %s nonce %d", rec.State, rec.Nonce)
			}
		})
	}
}

// TestReorg: the block holding the anchor is replaced by a longer fork
// without it; the anchorer notices, re-broadcasts the same tx and confirms
// it in the new canonical chain.
func TestReorg(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := e.sim.Client()
	a := e.anchorer(client, 3)
	parent, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := e.seal(4)
	e.step(a)
	e.commit()
	e.step(a)
	mined := e.record(b.ID)
	if mined.State != store.AnchorMined {
		t.Fatalf("state %s, want mined", mined.State)
	}

	if err := e.sim.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	e.sim.Rollback() // drop the tx the reorg put back in the pool: the fork must not carry it
	e.commit()
	e.commit()
	if _, err := client.TransactionReceipt(ctx, mined.TxHash); err == nil {
		t.Fatal("the fork still holds the anchor tx; the test does not reorg it out")
	}
	e.step(a) // notices the reorg, back to signed, re-broadcast
	if rec := e.record(b.ID); rec.State != store.AnchorSigned {
		t.Fatalf("after reorg: %s, want signed", rec.State)
	}
	for range 3 {
		e.commit()
		e.step(a)
	}
	rec := e.record(b.ID)
	if rec.State != store.AnchorConfirmed || rec.TxHash != mined.TxHash || rec.BlockHash == mined.BlockHash {
		t.Fatalf("after re-mining: %s tx %s block %s (old block %s)", rec.State, rec.TxHash, rec.BlockHash, mined.BlockHash)
	}
	canon, err := client.HeaderByNumber(ctx, new(big.Int).SetUint64(rec.BlockNumber))
	if err != nil || canon.Hash() != rec.BlockHash {
		t.Fatalf("recorded block %s is not canonical (%v)", rec.BlockHash, err)
	}
	if got := testutil.ToFloat64(e.m.Reorgs.WithLabelValues("1337")); got != 1 {
		t.Fatalf("reorg metric %v, want 1", got)
	}
	if f := e.openEvidence(rec); f.BlockHash != rec.BlockHash || f.Confirmations() != 3 {
		t.Fatalf("evidence of block %s with %d confirmations, want the new block %s with 3", f.BlockHash, f.Confirmations(), rec.BlockHash)
	}
	if n := e.sentTxs(); n != 1 {
		t.Fatalf("%d txs on chain, want 1", n)
	}
}

// TestWrongChainSendsNothing: an anchorer configured for one chain and
// pointed at an endpoint of another refuses to sign anything.
func TestWrongChainSendsNothing(t *testing.T) {
	e := newEnv(t)
	b := e.seal(2)
	a, err := anchor.New(context.Background(), anchor.Config{Key: e.key, ChainID: 5, Confirmations: 1}, e.sim.Client(), e.store, e.m, nil)
	if err != nil {
		t.Fatalf("New with a configured chain ID must not need the endpoint: %v", err)
	}
	if err := a.Step(context.Background()); !errors.Is(err, anchor.ErrWrongChain) {
		t.Fatalf("step: %v, want ErrWrongChain", err)
	}
	got, err := e.store.Batch(context.Background(), b.ID)
	if err != nil || len(got.Anchors) != 0 || e.sentTxs() != 0 {
		t.Fatalf("something was signed or sent: %+v (%v), %d txs", got.Anchors, err, e.sentTxs())
	}
}

// down is an endpoint that answers nothing.
type down struct{ anchor.Client }

var errDown = errors.New("dial tcp 127.0.0.1:8545: connect: connection refused")

func (down) ChainID(context.Context) (*big.Int, error) { return nil, errDown }
func (down) HeaderByNumber(context.Context, *big.Int) (*types.Header, error) {
	return nil, errDown
}

// TestEndpointDownThenBack: with the endpoint down, steps fail (and say
// so through Err) without writing anything; once it is back the batch is
// anchored as usual.
func TestEndpointDownThenBack(t *testing.T) {
	e := newEnv(t)
	b := e.seal(3)
	a, err := anchor.New(context.Background(), anchor.Config{Key: e.key, ChainID: 1337, Confirmations: 1, PollInterval: 10 * time.Millisecond}, down{e.sim.Client()}, e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	deadline := time.Now().Add(60 * time.Second) // a bound on the poll, not a wait (10 s was hit on a loaded CI run)
	for a.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if !errors.Is(a.Err(), errDown) {
		t.Fatalf("Err() = %v, want the endpoint's error", a.Err())
	}
	if got := testutil.ToFloat64(e.m.AnchorFailed.WithLabelValues("1337", metrics.ReasonRPC)); got < 1 {
		t.Fatalf("rpc failures metric %v", got)
	}
	if rec, _ := e.store.Batch(context.Background(), b.ID); len(rec.Anchors) != 0 {
		t.Fatal("an anchor record was written while the endpoint was down")
	}

	back := e.anchorer(e.sim.Client(), 1)
	e.step(back)
	e.commit()
	e.step(back)
	if rec := e.record(b.ID); rec.State != store.AnchorConfirmed {
		t.Fatalf("after the endpoint came back: %s", rec.State)
	}
}

// TestAnchorDeadlineMissed: an anchor mined later than AnchorWithin after
// sealing is counted; one in time is not.
func TestAnchorDeadlineMissed(t *testing.T) {
	for _, tc := range []struct {
		within time.Duration
		missed float64
	}{{time.Hour, 0}, {time.Nanosecond, 1}} {
		e := newEnv(t)
		a, err := anchor.New(context.Background(), anchor.Config{Key: e.key, Confirmations: 1, AnchorWithin: tc.within}, e.sim.Client(), e.store, e.m, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.seal(1)
		e.step(a)
		e.commit()
		e.step(a)
		if got := testutil.ToFloat64(e.m.DeadlineMissed.WithLabelValues("anchor")); got != tc.missed {
			t.Fatalf("within %v: missed %v, want %v", tc.within, got, tc.missed)
		}
	}
}

// TestStuckTxReplacedWithBumpedFee: a tx priced under the base fee (a fee
// spike, or a cap set too low) stays unmined; once the cap allows, it is
// replaced on the same nonce with a higher fee and the replacement is
// mined. At the cap, nothing is replaced.
func TestStuckTxReplacedWithBumpedFee(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.seal(3)
	newA := func(maxFee *big.Int) *anchor.Anchorer {
		a, err := anchor.New(ctx, anchor.Config{Key: e.key, Confirmations: 1, MaxFeePerGas: maxFee, StuckAfter: time.Nanosecond, RebroadcastAfter: time.Hour}, e.sim.Client(), e.store, e.m, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	capped := newA(big.NewInt(1)) // 1 wei: under any base fee
	e.step(capped)
	stuck := e.record(b.ID)
	for range 3 {
		e.commit()
		e.step(capped)
	}
	if rec := e.record(b.ID); rec.State != store.AnchorSigned || rec.TxHash != stuck.TxHash || len(rec.Replaced) != 0 {
		t.Fatalf("at the cap: %s tx %s replaced %v; want still signed, unreplaced", rec.State, rec.TxHash, rec.Replaced)
	}
	if got := testutil.ToFloat64(e.m.AnchorReplaced.WithLabelValues("1337")); got != 0 {
		t.Fatalf("replacements at the cap: %v", got)
	}

	raised := newA(nil) // the operator raised the cap (default)
	e.step(raised)
	bumped := e.record(b.ID)
	if bumped.Nonce != stuck.Nonce || bumped.TxHash == stuck.TxHash || !slices.Contains(bumped.Replaced, stuck.TxHash) {
		t.Fatalf("after raising the cap: nonce %d tx %s replaced %v; want same nonce, new tx, old one remembered", bumped.Nonce, bumped.TxHash, bumped.Replaced)
	}
	var oldTx, newTx types.Transaction
	if oldTx.UnmarshalBinary(stuck.RawTx) != nil || newTx.UnmarshalBinary(bumped.RawTx) != nil {
		t.Fatal("undecodable raw tx")
	}
	if newTx.GasFeeCap().Cmp(oldTx.GasFeeCap()) <= 0 || newTx.GasTipCap().Cmp(oldTx.GasTipCap()) <= 0 || !bytes.Equal(newTx.Data(), oldTx.Data()) {
		t.Fatalf("replacement fee %v/%v vs %v/%v, same data %v", newTx.GasFeeCap(), newTx.GasTipCap(), oldTx.GasFeeCap(), oldTx.GasTipCap(), bytes.Equal(newTx.Data(), oldTx.Data()))
	}
	e.commit()
	e.step(raised)
	rec := e.record(b.ID)
	if rec.State != store.AnchorConfirmed || rec.TxHash != bumped.TxHash {
		t.Fatalf("after mining: %s tx %s, want confirmed with the replacement %s", rec.State, rec.TxHash, bumped.TxHash)
	}
	if n := e.sentTxs(); n != 1 {
		t.Fatalf("%d txs mined, want 1", n)
	}
	if _, err := e.sim.Client().TransactionReceipt(ctx, stuck.TxHash); err == nil {
		t.Fatal("the replaced tx was mined too")
	}
}

// TestNonceTakenByAnotherSender: someone else spends the anchoring
// account's nonce before the persisted anchor tx reaches the chain. The
// anchorer notices (nonce spent, no receipt of its own) and signs the
// anchor again with a new nonce.
func TestNonceTakenByAnotherSender(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.seal(2)
	lost := e.anchorer(flaky{e.sim.Client(), false}, 1)
	if err := lost.Step(ctx); err == nil {
		t.Fatal("the broadcast was meant to fail")
	}
	signed := e.record(b.ID)

	// The operator's wallet uses the same key for something else.
	other, err := types.SignNewTx(e.key, types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: signed.Nonce, GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(1e11), Gas: 21000, To: &e.from,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Client().SendTransaction(ctx, other); err != nil {
		t.Fatal(err)
	}
	e.commit()

	a := e.anchorer(e.sim.Client(), 1)
	e.step(a) // finds the nonce spent: re-signs with the next one
	e.commit()
	e.step(a)
	rec := e.record(b.ID)
	if rec.State != store.AnchorConfirmed || rec.Nonce == signed.Nonce || !slices.Contains(rec.Replaced, signed.TxHash) {
		t.Fatalf("%s nonce %d (was %d) replaced %v", rec.State, rec.Nonce, signed.Nonce, rec.Replaced)
	}
	tx, _, err := e.sim.Client().TransactionByHash(ctx, rec.TxHash)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := proof.DecodePayload(tx.Data()); err != nil || p.BatchID != b.ID || p.Root != b.Root {
		t.Fatalf("the new anchor tx carries %+v (%v)", p, err)
	}
	if got := testutil.ToFloat64(e.m.AnchorFailed.WithLabelValues("1337", metrics.ReasonNonce)); got != 1 {
		t.Fatalf("nonce failures %v, want 1", got)
	}
}

// TestDeepReorgReanchorsConfirmed: a reorg deeper than the confirmation
// depth drops a confirmed anchor; it goes back to anchoring and ends up
// confirmed in the new canonical chain.
func TestDeepReorgReanchorsConfirmed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := e.sim.Client()
	parent, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := e.anchorer(client, 1)
	b := e.seal(5)
	e.step(a)
	e.commit()
	e.step(a)
	first := e.record(b.ID)
	if first.State != store.AnchorConfirmed {
		t.Fatalf("state %s, want confirmed", first.State)
	}
	old := e.openEvidence(first)
	if old.BlockHash != first.BlockHash {
		t.Fatalf("evidence of block %s, anchor in %s", old.BlockHash, first.BlockHash)
	}
	if err := e.sim.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	e.sim.Rollback()
	e.commit()
	e.commit()
	e.commit()
	e.step(a)
	if rec := e.record(b.ID); rec.State != store.AnchorSigned || rec.Evidence != nil {
		t.Fatalf("after the deep reorg: %s with %d bytes of evidence, want signed again without", rec.State, len(rec.Evidence))
	}
	if left, _ := e.store.Unconfirmed(ctx, 1337, 10); len(left) != 1 || left[0].ID != b.ID {
		t.Fatalf("unconfirmed after the reorg: %+v", left)
	}
	e.commit()
	e.step(a)
	rec := e.record(b.ID)
	if rec.State != store.AnchorConfirmed || rec.BlockHash == first.BlockHash {
		t.Fatalf("re-anchored: %s in %s (first in %s)", rec.State, rec.BlockHash, first.BlockHash)
	}
	if hdr, err := client.HeaderByNumber(ctx, new(big.Int).SetUint64(rec.BlockNumber)); err != nil || hdr.Hash() != rec.BlockHash {
		t.Fatal("the new anchor block is not canonical")
	}
	// The evidence was replaced: the new one is of the new block, and the
	// old one's block is no longer the canonical one at its height.
	if f := e.openEvidence(rec); f.BlockHash != rec.BlockHash || bytes.Equal(rec.Evidence, first.Evidence) {
		t.Fatalf("after re-anchoring, evidence of block %s (anchor in %s), replaced: %v", f.BlockHash, rec.BlockHash, !bytes.Equal(rec.Evidence, first.Evidence))
	}
	canon, err := client.HeaderByNumber(ctx, new(big.Int).SetUint64(old.BlockNumber))
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := old.HashAt(old.BlockNumber); !ok || h == canon.Hash() {
		t.Fatalf("the old evidence's block %d hash %s still matches the canonical chain (%s)", old.BlockNumber, h, canon.Hash())
	}
}

// TestDeepReorgAfterRestart: an anchorer restarted after a batch was
// confirmed still watches it, and re-anchors it when a deep reorg drops it.
func TestDeepReorgAfterRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := e.sim.Client()
	first := e.anchorer(client, 1)
	var ids []uint64
	for range 3 {
		ids = append(ids, e.seal(2).ID)
	}
	parent, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := e.seal(4)
	e.step(first)
	e.commit()
	e.step(first)
	for _, id := range append(ids, last.ID) {
		if rec := e.record(id); rec.State != store.AnchorConfirmed {
			t.Fatalf("batch %d: %s", id, rec.State)
		}
	}
	was := e.record(last.ID)

	restarted := e.anchorer(client, 1) // knows nothing in memory
	if err := e.sim.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	e.sim.Rollback()
	e.commit()
	e.commit()
	e.step(restarted)
	if rec := e.record(last.ID); rec.State != store.AnchorSigned {
		t.Fatalf("after the deep reorg, the restarted anchorer left batch %d %s", last.ID, rec.State)
	}
	e.commit()
	e.step(restarted)
	if rec := e.record(last.ID); rec.State != store.AnchorConfirmed || rec.BlockHash == was.BlockHash {
		t.Fatalf("re-anchored: %s in %s (was %s)", rec.State, rec.BlockHash, was.BlockHash)
	}
}

// TestFailedStepCountsOnce: a failed step adds one to
// attestd_anchor_failed_total, under the reason of its failure, and a
// clean step adds nothing.
func TestFailedStepCountsOnce(t *testing.T) {
	e := newEnv(t)
	e.seal(1)
	a, err := anchor.New(context.Background(), anchor.Config{Key: e.key, ChainID: 1337, Confirmations: 1}, down{e.sim.Client()}, e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	failed := func(reason string) float64 {
		return testutil.ToFloat64(e.m.AnchorFailed.WithLabelValues("1337", reason))
	}
	for i := 1; i <= 3; i++ {
		if err := a.Step(context.Background()); !errors.Is(err, errDown) {
			t.Fatalf("step %d: %v, want the endpoint's error", i, err)
		}
		if got := failed(metrics.ReasonRPC); got != float64(i) {
			t.Fatalf("after %d failed steps: %v rpc failures counted", i, got)
		}
	}
	ok := e.anchorer(e.sim.Client(), 1)
	e.step(ok)
	if got, store := failed(metrics.ReasonRPC), failed(metrics.ReasonStore); got != 3 || store != 0 {
		t.Fatalf("a clean step counted failures: rpc %v, store %v", got, store)
	}
}

// TestFirstBatch: a chain added to a service with history (FirstBatch 4,
// more older batches than BatchLimit) anchors batch 4 and later ones, never
// the older ones, including after its anchors are settled beyond the reorg
// window and the scan starts past them.
func TestFirstBatch(t *testing.T) {
	e := newEnv(t)
	newAnchorer := func() *anchor.Anchorer {
		a, err := anchor.New(context.Background(), anchor.Config{
			Key: e.key, Confirmations: 1, RebroadcastAfter: time.Hour, BatchLimit: 2, FirstBatch: 4, ReorgWindow: 2,
		}, e.sim.Client(), e.store, e.m, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := newAnchorer()
	for range 5 {
		e.seal(1)
	}
	e.step(a) // batches 4 and 5 (the limit): signed and sent
	e.commit()
	e.step(a)
	check := func(confirmed ...uint64) {
		t.Helper()
		for id := uint64(1); id <= 3; id++ {
			b, err := e.store.Batch(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := b.Anchor(1337); ok {
				t.Fatalf("batch %d, before FirstBatch 4, was anchored", id)
			}
		}
		for _, id := range confirmed {
			if rec := e.record(id); rec.State != store.AnchorConfirmed {
				t.Fatalf("batch %d: %s, want confirmed", id, rec.State)
			}
		}
		if n := e.sentTxs(); n != uint64(len(confirmed)) {
			t.Fatalf("%d transactions, want %d (one per batch from 4 on)", n, len(confirmed))
		}
	}
	check(4, 5)
	// Beyond the reorg window, a restart, more batches: still none of 1–3.
	for range 3 {
		e.sim.Commit()
	}
	e.waitIndexed()
	e.step(a)
	e.seal(1)
	e.seal(1)
	e.seal(1)
	a = newAnchorer()
	e.step(a)
	e.commit()
	e.step(a)
	e.step(a)
	e.commit()
	e.step(a)
	check(4, 5, 6, 7, 8)
}

// TestDeepReorgWithFirstBatch: with a FirstBatch, a confirmed anchor
// within the reorg window is still watched and re-anchored when a deep
// reorg drops it (the scan never starts past a batch a reorg can reopen).
func TestDeepReorgWithFirstBatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := e.sim.Client()
	parent, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anchor.New(ctx, anchor.Config{Key: e.key, Confirmations: 1, RebroadcastAfter: time.Hour, FirstBatch: 2, Evidence: client.(evidence.Client)}, client, e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.seal(1)
	b := e.seal(1)
	e.step(a)
	e.commit()
	e.step(a)
	first := e.record(b.ID)
	if first.State != store.AnchorConfirmed {
		t.Fatalf("state %s, want confirmed", first.State)
	}
	old := e.openEvidence(first)
	if old.BlockHash != first.BlockHash {
		t.Fatalf("evidence of block %s, anchor in %s", old.BlockHash, first.BlockHash)
	}
	if err := e.sim.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	e.sim.Rollback()
	e.commit()
	e.commit()
	e.commit()
	e.step(a)
	if rec := e.record(b.ID); rec.State != store.AnchorSigned || rec.Evidence != nil {
		t.Fatalf("after the deep reorg: %s with %d bytes of evidence, want signed again without", rec.State, len(rec.Evidence))
	}
	e.commit()
	e.step(a)
	rec := e.record(b.ID)
	if rec.State != store.AnchorConfirmed || rec.BlockHash == first.BlockHash {
		t.Fatalf("re-anchored: %s in %s (first in %s)", rec.State, rec.BlockHash, first.BlockHash)
	}
	if f := e.openEvidence(rec); f.BlockHash != rec.BlockHash || f.BlockHash == old.BlockHash {
		t.Fatalf("after re-anchoring, evidence of block %s; anchor in %s, old evidence of %s", f.BlockHash, rec.BlockHash, old.BlockHash)
	}
}
