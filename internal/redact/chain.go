package redact

import (
	"context"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/verify"
)

// Chain wraps a chain reader so that its errors, which quote the endpoint
// URL (`Post "https://rpc.example/v3/KEY": …`), are redacted before a
// verifier puts them into a check's detail or a response. Methods the
// wrapper does not know are passed through unchanged.
func Chain(c verify.Chain) verify.Chain {
	if c == nil {
		return nil
	}
	return chain{c}
}

type chain struct{ verify.Chain }

func (c chain) ChainID(ctx context.Context) (*big.Int, error) {
	id, err := c.Chain.ChainID(ctx)
	return id, Error(err)
}

func (c chain) TransactionByHash(ctx context.Context, hash common.Hash) (*types.Transaction, bool, error) {
	tx, pending, err := c.Chain.TransactionByHash(ctx, hash)
	return tx, pending, Error(err)
}

func (c chain) TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	r, err := c.Chain.TransactionReceipt(ctx, hash)
	return r, Error(err)
}

func (c chain) HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error) {
	h, err := c.Chain.HeaderByNumber(ctx, number)
	return h, Error(err)
}
