package redact

import (
	"context"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// failing is a chain reader whose every call fails with err.
type failing struct{ err error }

func (f failing) ChainID(context.Context) (*big.Int, error) { return nil, f.err }
func (f failing) TransactionByHash(context.Context, common.Hash) (*types.Transaction, bool, error) {
	return nil, false, f.err
}
func (f failing) TransactionReceipt(context.Context, common.Hash) (*types.Receipt, error) {
	return nil, f.err
}
func (f failing) HeaderByNumber(context.Context, *big.Int) (*types.Header, error) { return nil, f.err }

func TestChain(t *testing.T) {
	ue := &url.Error{Op: "Post", URL: "https://u:***@rpc.example/v3/SECRETKEY?apikey=K2", Err: errors.New("connection refused")}
	c := Chain(failing{ue})
	ctx := context.Background()
	_, err1 := c.ChainID(ctx)
	_, _, err2 := c.TransactionByHash(ctx, common.Hash{})
	_, err3 := c.TransactionReceipt(ctx, common.Hash{})
	_, err4 := c.HeaderByNumber(ctx, nil)
	for i, err := range []error{err1, err2, err3, err4} {
		if err == nil || strings.Contains(err.Error(), "SECRETKEY") || strings.Contains(err.Error(), "K2") || !strings.Contains(err.Error(), "https://rpc.example/…") {
			t.Errorf("call %d: %v", i, err)
		}
		if !errors.Is(err, ue) {
			t.Errorf("call %d: the error no longer wraps the client's", i)
		}
	}
	// Sentinels the verifier compares with pass through unchanged.
	if _, _, err := Chain(failing{ethereum.NotFound}).TransactionByHash(ctx, common.Hash{}); err != ethereum.NotFound {
		t.Errorf("NotFound became %v", err)
	}
	if Chain(nil) != nil {
		t.Error("Chain(nil) is not nil")
	}
}
