package anchor_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
)

func (e *env) balance() float64 {
	e.t.Helper()
	b, err := e.sim.Client().BalanceAt(context.Background(), e.from, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	f, _ := new(big.Float).SetInt(b).Float64()
	return f
}

// TestBalanceAndHeadGauges: the anchorer exports the anchoring account's
// balance (read again after an anchor paid its fee, not on every step)
// and the newest block's timestamp; when Run returns (the replica stops
// leading) both series are gone, so a former leader's stale values never
// stand in for the current one's.
func TestBalanceAndHeadGauges(t *testing.T) {
	// 100 ether: small enough that a fee shows in a float64 of wei.
	e := newEnvWith(t, new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether)), nil)
	a, err := anchor.New(context.Background(), anchor.Config{Key: e.key, Confirmations: 1, BalanceInterval: time.Hour}, e.sim.Client(), e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	gauge := func() float64 { return testutil.ToFloat64(e.m.AnchorBalance.WithLabelValues("1337")) }
	e.step(a)
	start := e.balance()
	if got := gauge(); got != start || start == 0 {
		t.Fatalf("balance gauge %v, the chain says %v", got, start)
	}
	head, err := e.sim.Client().HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(e.m.ChainHeadTime.WithLabelValues("1337")); got != float64(head.Time) {
		t.Fatalf("head timestamp gauge %v, the head block's is %d", got, head.Time)
	}

	e.seal(2)
	e.step(a)
	e.commit() // the anchor pays its fee
	e.step(a)  // mined and confirmed: the balance is read again on the next step
	e.step(a)
	if now := e.balance(); now >= start || gauge() != now {
		t.Fatalf("after an anchor: gauge %v, chain %v (was %v)", gauge(), now, start)
	}
	head, _ = e.sim.Client().HeaderByNumber(context.Background(), nil)
	if got := testutil.ToFloat64(e.m.ChainHeadTime.WithLabelValues("1337")); got != float64(head.Time) {
		t.Fatalf("head timestamp gauge %v after a block, the head's is %d", got, head.Time)
	}

	// Within BalanceInterval and nothing mined: not read again (a
	// transfer out of the account is not seen until the next read).
	before := gauge()
	other := common.HexToAddress("0x000000000000000000000000000000000000bEEF")
	sendValue(t, e, e.key, other, big.NewInt(params.Ether))
	e.step(a)
	if got := gauge(); got != before {
		t.Fatalf("balance read again within the interval: %v, was %v", got, before)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	cancel()
	<-done
	for name, n := range map[string]int{
		"attestd_anchor_balance_wei":           testutil.CollectAndCount(e.m.AnchorBalance),
		"attestd_chain_head_timestamp_seconds": testutil.CollectAndCount(e.m.ChainHeadTime),
	} {
		if n != 0 {
			t.Errorf("%s: %d series after Run returned, want none", name, n)
		}
	}
}

// sendValue sends value from key's account to to and mines it.
func sendValue(t *testing.T, e *env, key *ecdsa.PrivateKey, to common.Address, value *big.Int) {
	t.Helper()
	ctx := context.Background()
	c := e.sim.Client()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: big.NewInt(params.GWei),
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), big.NewInt(params.GWei)),
		Gas:       21000, To: &to, Value: value,
	})
	if err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := c.PendingNonceAt(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		if n > nonce {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transfer is not in the pool after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	e.sim.Commit()
	e.waitIndexed()
}

// TestReceiptsOverdue: a batch still unconfirmed past the receipts'
// deadline counts its fingerprints in attestd_receipts_overdue, also while
// the endpoint is down (when deadlines are missed), and no longer once it
// is confirmed; a batch within its deadline never counts.
func TestReceiptsOverdue(t *testing.T) {
	e := newEnv(t)
	cfg := anchor.Config{Key: e.key, ChainID: 1337, Confirmations: 1, ReceiptDeadline: time.Hour}
	overdue := func() float64 { return testutil.ToFloat64(e.m.ReceiptsOverdue.WithLabelValues("1337")) }
	old := e.sealAt(5, time.Now().Add(-2*time.Hour)) // past its deadline
	e.sealAt(3, time.Now())                          // within it

	a, err := anchor.New(context.Background(), cfg, down{e.sim.Client()}, e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Step(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("step against a down endpoint: %v", err)
	}
	if got := overdue(); got != float64(old.Size) {
		t.Fatalf("overdue %v with the endpoint down, want the old batch's %d", got, old.Size)
	}

	up, err := anchor.New(context.Background(), cfg, e.sim.Client(), e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.step(up) // both signed and sent
	e.commit()
	e.step(up) // both confirmed
	e.step(up) // counted again: nothing unconfirmed
	if rec := e.record(old.ID); rec.State != store.AnchorConfirmed {
		t.Fatalf("old batch %s", rec.State)
	}
	if got := overdue(); got != 0 {
		t.Fatalf("overdue %v once everything is confirmed", got)
	}
}

// TestInsufficientFunds: an anchoring account that cannot pay for the
// transaction fails the step with reason funds (the alert that says "fund
// the account") and a message naming the account; once funded, the same
// signed anchor goes out and is confirmed.
func TestInsufficientFunds(t *testing.T) {
	faucetKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	faucet := crypto.PubkeyToAddress(faucetKey.PublicKey)
	e := newEnvWith(t, big.NewInt(1000), types.GenesisAlloc{faucet: {Balance: new(big.Int).Lsh(big.NewInt(1), 100)}})
	a, err := anchor.New(context.Background(), anchor.Config{Key: e.key, Confirmations: 1}, e.sim.Client(), e.store, e.m, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := e.seal(1)
	err = a.Step(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot pay") || !strings.Contains(err.Error(), e.from.Hex()) {
		t.Fatalf("step with an unfunded account: %v, want it to name the account and say it cannot pay", err)
	}
	if got := testutil.ToFloat64(e.m.AnchorFailed.WithLabelValues("1337", metrics.ReasonFunds)); got != 1 {
		t.Fatalf("funds failures %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.m.AnchorFailed.WithLabelValues("1337", metrics.ReasonRPC)); got != 0 {
		t.Fatalf("counted as rpc failures too: %v", got)
	}
	if got := testutil.ToFloat64(e.m.AnchorBalance.WithLabelValues("1337")); got != 1000 {
		t.Fatalf("balance gauge %v, want the account's 1000 wei", got)
	}

	sendValue(t, e, faucetKey, e.from, big.NewInt(params.Ether))
	e.step(a) // the persisted anchor is broadcast again, now payable
	e.commit()
	e.step(a)
	if rec := e.record(b.ID); rec.State != store.AnchorConfirmed {
		t.Fatalf("after funding: %s", rec.State)
	}
}
