package verify

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Endpoint is one JSON-RPC endpoint of a chain. Name identifies it in a
// verdict (which endpoint said what), so it must hold no secret: a URL
// reduced to scheme and host (redact.URL), not one with an API key.
type Endpoint struct {
	Name  string
	Chain Chain
}

// CrossChecked is a Chain made of several endpoints of one chain. Every
// read asks each endpoint (concurrently) and returns the answer only when
// all of them gave the same one; otherwise it returns a *Disagreement
// naming what each endpoint said. An endpoint that fails makes the read
// fail (the cross-check could not be made). Verify reports a disagreement
// as the check "anchor[<id>].endpoints_agree", undecided: the verifier
// cannot tell which endpoint is wrong, so it is never VALID, and one lying
// endpoint cannot make a true anchor INVALID either.
//
// What "the same" means: a transaction by its hash (and whether it is
// pending); a receipt by its consensus encoding plus the block hash,
// number and index it names; a header by its hash. The head is compared
// at the lowest height any endpoint reports as its head (endpoints a
// block apart are normal): every endpoint must hold the same block there,
// and that block is the head Verify counts confirmations to.
type CrossChecked struct {
	eps []Endpoint
}

// NewCrossChecked returns the chain read through every endpoint in eps
// (at least one; with one it only adds the endpoint's name to errors).
func NewCrossChecked(eps ...Endpoint) *CrossChecked {
	return &CrossChecked{eps: append([]Endpoint(nil), eps...)}
}

// Endpoints returns the endpoints' names, in order.
func (c *CrossChecked) Endpoints() []string {
	out := make([]string, len(c.eps))
	for i, e := range c.eps {
		out[i] = e.Name
	}
	return out
}

// Refresh returns c with each endpoint that is a Refresher (a cache)
// replaced by its Refresh.
func (c *CrossChecked) Refresh() Chain {
	out := &CrossChecked{eps: make([]Endpoint, len(c.eps))}
	for i, e := range c.eps {
		out.eps[i] = e
		if f, ok := e.Chain.(Refresher); ok {
			out.eps[i].Chain = f.Refresh()
		}
	}
	return out
}

// Disagreement is the error of a CrossChecked read whose endpoints
// answered differently.
type Disagreement struct {
	What    string   // what was asked, in words: "the receipt of 0x…"
	Answers []Answer // one per endpoint, in the endpoints' order
}

// Answer is what one endpoint said.
type Answer struct {
	Endpoint string `json:"endpoint"`
	Said     string `json:"said"`
}

func (d *Disagreement) Error() string {
	return fmt.Sprintf("the endpoints disagree about %s: %s", d.What, d.answers())
}

// answer is one endpoint's reply to a read: its value, the key it is
// compared by, its words for a Disagreement, or an error.
type answer[T any] struct {
	v    T
	key  string
	said string
	err  error
}

// ask runs read on every endpoint at once and compares the answers.
func ask[T any](ctx context.Context, c *CrossChecked, what string, read func(context.Context, Chain) answer[T]) (T, error) {
	ans := make([]answer[T], len(c.eps))
	var wg sync.WaitGroup
	for i, e := range c.eps {
		wg.Go(func() { ans[i] = read(ctx, e.Chain) })
	}
	wg.Wait()
	var zero T
	if len(ans) == 0 {
		return zero, errors.New("no endpoint to ask")
	}
	for i, a := range ans {
		if a.err != nil && !errors.Is(a.err, ethereum.NotFound) {
			return zero, fmt.Errorf("%s: %w", c.eps[i].Name, a.err)
		}
	}
	same := true
	for _, a := range ans[1:] {
		same = same && a.key == ans[0].key && errors.Is(a.err, ethereum.NotFound) == errors.Is(ans[0].err, ethereum.NotFound)
	}
	if !same {
		d := &Disagreement{What: what}
		for i, a := range ans {
			said := a.said
			if a.err != nil {
				said = "it does not exist"
			}
			d.Answers = append(d.Answers, Answer{Endpoint: c.eps[i].Name, Said: said})
		}
		return zero, d
	}
	return ans[0].v, ans[0].err
}

func (c *CrossChecked) ChainID(ctx context.Context) (*big.Int, error) {
	return ask(ctx, c, "the chain id", func(ctx context.Context, ch Chain) answer[*big.Int] {
		id, err := ch.ChainID(ctx)
		if err == nil && id == nil {
			err = errors.New("no chain id")
		}
		if err != nil {
			return answer[*big.Int]{err: err}
		}
		return answer[*big.Int]{v: id, key: id.String(), said: "chain " + id.String()}
	})
}

type txAnswer struct {
	tx      *types.Transaction
	pending bool
}

func (c *CrossChecked) TransactionByHash(ctx context.Context, h common.Hash) (*types.Transaction, bool, error) {
	a, err := ask(ctx, c, "transaction "+h.Hex(), func(ctx context.Context, ch Chain) answer[txAnswer] {
		tx, pending, err := ch.TransactionByHash(ctx, h)
		if err == nil && tx == nil {
			err = errors.New("no transaction in the answer")
		}
		if err != nil {
			return answer[txAnswer]{err: err}
		}
		said := "it is mined, with hash " + tx.Hash().Hex()
		if pending {
			said = "it is pending, with hash " + tx.Hash().Hex()
		}
		return answer[txAnswer]{v: txAnswer{tx, pending}, key: fmt.Sprintf("%s/%v", tx.Hash().Hex(), pending), said: said}
	})
	return a.tx, a.pending, err
}

func (c *CrossChecked) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	return ask(ctx, c, "the receipt of "+h.Hex(), func(ctx context.Context, ch Chain) answer[*types.Receipt] {
		rc, err := ch.TransactionReceipt(ctx, h)
		if err == nil && (rc == nil || rc.BlockNumber == nil) {
			err = errors.New("no receipt in the answer")
		}
		if err != nil {
			return answer[*types.Receipt]{err: err}
		}
		enc, err := rc.MarshalBinary()
		if err != nil {
			return answer[*types.Receipt]{err: err}
		}
		return answer[*types.Receipt]{v: rc,
			key:  fmt.Sprintf("%x/%s/%s/%d/%s", enc, rc.BlockHash.Hex(), rc.BlockNumber, rc.TransactionIndex, rc.TxHash.Hex()),
			said: fmt.Sprintf("status %d in block %d (%s)", rc.Status, rc.BlockNumber, rc.BlockHash.Hex())}
	})
}

func (c *CrossChecked) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	if n != nil {
		return c.header(ctx, n)
	}
	// Each endpoint's head may be a block or two apart: find the lowest
	// and compare the block every endpoint holds there.
	heads := make([]*types.Header, len(c.eps))
	errs := make([]error, len(c.eps))
	var wg sync.WaitGroup
	for i, e := range c.eps {
		wg.Go(func() { heads[i], errs[i] = e.Chain.HeaderByNumber(ctx, nil) })
	}
	wg.Wait()
	var low *big.Int
	for i := range c.eps {
		if errs[i] == nil && (heads[i] == nil || heads[i].Number == nil) {
			errs[i] = errors.New("no header in the answer")
		}
		if errs[i] != nil {
			return nil, fmt.Errorf("%s: %w", c.eps[i].Name, errs[i])
		}
		if low == nil || heads[i].Number.Cmp(low) < 0 {
			low = heads[i].Number
		}
	}
	if low == nil {
		return nil, errors.New("no endpoint to ask")
	}
	return c.header(ctx, new(big.Int).Set(low))
}

func (c *CrossChecked) header(ctx context.Context, n *big.Int) (*types.Header, error) {
	return ask(ctx, c, "block "+n.String(), func(ctx context.Context, ch Chain) answer[*types.Header] {
		h, err := ch.HeaderByNumber(ctx, n)
		if err == nil && h == nil {
			err = errors.New("no header in the answer")
		}
		if err != nil {
			return answer[*types.Header]{err: err}
		}
		return answer[*types.Header]{v: h, key: h.Hash().Hex(), said: "its hash is " + h.Hash().Hex()}
	})
}

// answers is what each endpoint said, in one line.
func (d *Disagreement) answers() string {
	parts := make([]string, len(d.Answers))
	for i, a := range d.Answers {
		parts[i] = fmt.Sprintf("%s says %s", a.Endpoint, a.Said)
	}
	return strings.Join(parts, "; ")
}
