package evidence_test

// A real chain for the tests, fuzz seeds and benchmarks: go-ethereum's
// simulated backend with blocks of 1, 50 and 500 anchor-like transactions
// (self-sends of a proof.Payload, in nonce order, so the transaction at
// index i is known), a block with a reverted transaction and one from
// another account, and 12 empty blocks on top. It is built once per test
// binary (a 500-transaction block takes a second or two).

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/proof"
)

const chainID = 1337

var (
	anchorKey, _ = crypto.HexToECDSA("8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a")
	otherKey, _  = crypto.HexToECDSA("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee")
	anchorAddr   = crypto.PubkeyToAddress(anchorKey.PublicKey)
	otherAddr    = crypto.PubkeyToAddress(otherKey.PublicKey)
	// revertAddr holds code that always reverts (PUSH1 0 PUSH1 0 REVERT).
	revertAddr = common.HexToAddress("0x00000000000000000000000000000000000fd0fd")
)

// chain is the shared fixture.
type chain struct {
	sim    *simulated.Backend
	client evidence.Client
	// blocks by their number of transactions (1, 50, 500): the hashes of
	// their transactions in block order.
	blocks map[int][]common.Hash
	// reverted is a transaction whose receipt has status 0; foreign one
	// sent by otherAddr. Both are in one block after the 500 one.
	reverted, foreign common.Hash
	nonces            map[common.Address]uint64
}

var (
	fixtureOnce sync.Once
	fixture     *chain
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture != nil {
		fixture.sim.Close()
	}
	os.Exit(code)
}

// sharedChain returns the fixture, building it on first use.
func sharedChain(tb testing.TB) *chain {
	tb.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = buildChain(1, 50, 500) })
	if fixtureErr != nil {
		tb.Fatalf("building the chain fixture: %v", fixtureErr)
	}
	return fixture
}

// buildChain builds the chain with blocks of the given sizes.
func buildChain(sizes ...int) (*chain, error) {
	funds := new(big.Int).Lsh(big.NewInt(1), 100)
	sim := simulated.NewBackend(types.GenesisAlloc{
		anchorAddr: {Balance: funds},
		otherAddr:  {Balance: funds},
		revertAddr: {Code: []byte{0x60, 0x00, 0x60, 0x00, 0xfd}},
	})
	c := &chain{sim: sim, blocks: map[int][]common.Hash{}, nonces: map[common.Address]uint64{}}
	cl, ok := sim.Client().(evidence.Client)
	if !ok {
		sim.Close()
		return nil, fmt.Errorf("the simulated client %T is not an evidence.Client", sim.Client())
	}
	c.client = cl
	for _, n := range sizes {
		var want []common.Hash
		for i := range n {
			h, err := c.send(anchorKey, &anchorAddr, proof.Payload{BatchID: uint64(n*1000 + i), Size: 1, Root: [32]byte{byte(i), byte(n)}}.Encode(), 30_000)
			if err != nil {
				sim.Close()
				return nil, err
			}
			want = append(want, h)
		}
		if err := c.mine(want); err != nil {
			sim.Close()
			return nil, err
		}
		c.blocks[n] = want
	}
	var err error
	if c.reverted, err = c.send(anchorKey, &revertAddr, []byte("ATST"), 50_000); err == nil {
		c.foreign, err = c.send(otherKey, &anchorAddr, proof.Payload{BatchID: 9, Size: 1, Root: [32]byte{9}}.Encode(), 30_000)
	}
	if err == nil {
		err = c.mine([]common.Hash{c.reverted, c.foreign})
	}
	for i := 0; err == nil && i < 12; i++ {
		err = c.mine(nil)
	}
	if err != nil {
		sim.Close()
		return nil, err
	}
	return c, nil
}

// send signs and sends an EIP-1559 transaction from key.
func (c *chain) send(key *ecdsa.PrivateKey, to *common.Address, data []byte, gas uint64) (common.Hash, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(chainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(chainID), Nonce: c.nonces[from], To: to, Data: data, Gas: gas,
		GasTipCap: big.NewInt(1_000_000_000), GasFeeCap: big.NewInt(100_000_000_000),
	})
	if err != nil {
		return common.Hash{}, err
	}
	if err := c.sim.Client().SendTransaction(context.Background(), tx); err != nil {
		return common.Hash{}, err
	}
	c.nonces[from]++
	return tx.Hash(), nil
}

// mine waits until the pool holds every transaction sent (the pool
// promotes them asynchronously), mines one block and checks it holds
// exactly want, in that order when every one is from the same account.
func (c *chain) mine(want []common.Hash) error {
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for addr, next := range c.nonces {
		for {
			n, err := c.sim.Client().PendingNonceAt(ctx, addr)
			if err != nil {
				return err
			}
			if n >= next {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the pool's pending nonce of %s is %d, want %d", addr, n, next)
			}
			time.Sleep(time.Millisecond)
		}
	}
	c.sim.Commit()
	head, err := c.sim.Client().BlockByNumber(ctx, nil)
	if err != nil {
		return err
	}
	txs := head.Transactions()
	if len(txs) != len(want) {
		return fmt.Errorf("block %d has %d transactions, want %d", head.NumberU64(), len(txs), len(want))
	}
	in := map[common.Hash]bool{}
	for _, tx := range txs {
		in[tx.Hash()] = true
	}
	for i, h := range want {
		if !in[h] || len(want) > 2 && txs[i].Hash() != h {
			return fmt.Errorf("block %d does not hold %s at %d", head.NumberU64(), h, i)
		}
	}
	return nil
}

// collect is evidence.Collect on the fixture, failing tb on error.
func (c *chain) collect(tb testing.TB, tx common.Hash, depth uint64) *proof.Evidence {
	tb.Helper()
	ev, err := evidence.Collect(context.Background(), c.client, tx, depth)
	if err != nil {
		tb.Fatalf("Collect(%s, %d): %v", tx, depth, err)
	}
	return ev
}
