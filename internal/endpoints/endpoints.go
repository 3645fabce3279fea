// Package endpoints holds the chain JSON-RPC endpoints a verifier chose:
// each dialled and asked which chain it serves (nothing is assumed), and
// grouped by chain. The verifier (package client) reads a chain through
// its endpoints, several of one chain cross-checked; `attestd checkpoint`
// records the blocks they agree on.
package endpoints

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/redact"
	"github.com/attestd/attestd/internal/verify"
)

// Set is the endpoints of Dial.
type Set struct {
	clients []*ethclient.Client
	// ByChain are the endpoints that answered, by the chain id they gave.
	// An endpoint's Name holds no more of its URL than scheme and host
	// (redact.URL), and so do the errors its Chain returns: verdicts and
	// errors get pasted into tickets and e-mails.
	ByChain map[uint64][]verify.Endpoint
	// Order is the chain ids of ByChain in the order first given.
	Order []uint64
	// Down are the endpoints that did not say which chain they serve, and
	// Unanswered why, one error each.
	Down       []verify.Endpoint
	Unanswered []error
}

// Dial dials every URL and asks each its chain id, all at once. A URL that
// cannot be dialled is an error; one that does not answer is in Down.
func Dial(ctx context.Context, urls []string) (*Set, error) {
	s := &Set{ByChain: map[uint64][]verify.Endpoint{}}
	readers := make([]verify.Endpoint, len(urls))
	for i, u := range urls {
		c, err := ethclient.DialContext(ctx, u)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("chain endpoint %s: %w", redact.URL(u), err)
		}
		s.clients = append(s.clients, c)
		readers[i] = verify.Endpoint{Name: redact.URL(u), Chain: redact.Chain(c)}
	}
	ids := make([]*big.Int, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Go(func() { ids[i], errs[i] = r.Chain.ChainID(ctx) })
	}
	wg.Wait()
	for i, r := range readers {
		switch {
		case errs[i] != nil:
			s.Unanswered = append(s.Unanswered, fmt.Errorf("the endpoint %s did not answer: %w", r.Name, errs[i]))
			s.Down = append(s.Down, r)
		case !ids[i].IsUint64():
			s.Unanswered = append(s.Unanswered, fmt.Errorf("the endpoint %s gave chain id %s, which is not one", r.Name, ids[i]))
			s.Down = append(s.Down, r)
		default:
			id := ids[i].Uint64()
			if _, ok := s.ByChain[id]; !ok {
				s.Order = append(s.Order, id)
			}
			s.ByChain[id] = append(s.ByChain[id], r)
		}
	}
	return s, nil
}

// Close closes every endpoint's connection.
func (s *Set) Close() {
	for _, c := range s.clients {
		c.Close()
	}
}

// Chains returns the verifier's chain map for b: one endpoint as it is,
// several for one chain cross-checked (verify.NewCrossChecked). An
// endpoint that did not say which chain it serves stands in for each
// chain b anchors on that has no other endpoint (so that chain's checks
// say it did not answer); when there is no such chain it may have been
// meant to cross-check one, and it is returned as an undecided rpc check,
// so the verdict cannot be valid.
func (s *Set) Chains(b *proof.Bundle) (map[uint64]verify.Chain, []verify.Check) {
	out := map[uint64]verify.Chain{}
	for _, id := range s.Order {
		eps := s.ByChain[id]
		if len(eps) == 1 {
			out[id] = eps[0].Chain
		} else {
			out[id] = verify.NewCrossChecked(eps...)
		}
	}
	if len(s.Down) == 0 {
		return out, nil
	}
	used := false
	for _, a := range b.Anchors {
		if _, ok := out[a.ChainID]; ok {
			continue
		}
		used = true
		if len(s.Down) == 1 {
			out[a.ChainID] = s.Down[0].Chain
		} else {
			out[a.ChainID] = verify.NewCrossChecked(s.Down...)
		}
	}
	if used {
		return out, nil
	}
	var names []string
	for _, d := range s.Down {
		names = append(names, d.Name)
	}
	return out, []verify.Check{{Name: verify.CheckRPC, State: verify.StateUndecided, Unavailable: true,
		Detail: fmt.Sprintf("could not check: the endpoint(s) %s did not say which chain they serve, so what they would say was not compared with the others", strings.Join(names, ", "))}}
}
