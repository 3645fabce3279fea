package verify

import (
	"context"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
)

// countChain counts ChainID and HeaderByNumber calls that reach the
// chain behind it, and can fail ChainID.
type countChain struct {
	Chain
	ids, headers atomic.Int64
	idErr        error
}

func (c *countChain) ChainID(ctx context.Context) (*big.Int, error) {
	c.ids.Add(1)
	if c.idErr != nil {
		return nil, c.idErr
	}
	return c.Chain.ChainID(ctx)
}

func (c *countChain) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	c.headers.Add(1)
	return c.Chain.HeaderByNumber(ctx, n)
}

// TestCachedChainBoundedAndNoErrors: the cache holds at most its size
// (least recently used out), and an error is never cached.
func TestCachedChainBoundedAndNoErrors(t *testing.T) {
	fx := sharedFixture(t)
	ctx := context.Background()
	under := &countChain{Chain: fx.env.client()}
	c := NewCachedChain(under, 3)
	for round := range 2 {
		for n := int64(0); n < 6; n++ {
			if _, err := c.HeaderByNumber(ctx, big.NewInt(n)); err != nil {
				t.Fatal(err)
			}
			if l := c.(*cachedChain).lru.Len(); l > 3 {
				t.Fatalf("round %d: %d entries in a cache of 3", round, l)
			}
		}
	}
	// 6 heights cycled through 3 slots: every read missed.
	if got := under.headers.Load(); got != 12 {
		t.Errorf("%d header reads reached the chain, want 12", got)
	}
	if _, err := c.HeaderByNumber(ctx, big.NewInt(5)); err != nil || under.headers.Load() != 12 {
		t.Errorf("the most recent height was not cached: %v, %d reads", err, under.headers.Load())
	}

	down := &countChain{Chain: fx.env.client(), idErr: errors.New("connection refused")}
	cd := NewCachedChain(down, 0)
	for range 3 {
		if _, err := cd.ChainID(ctx); err == nil {
			t.Fatal("no error")
		}
	}
	if got := down.ids.Load(); got != 3 {
		t.Errorf("3 failing ChainID calls reached the chain %d times: an error was cached", got)
	}
}
