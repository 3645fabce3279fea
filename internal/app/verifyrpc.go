package app

import (
	"context"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/redact"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/verify"
)

// verifyEndpointTimeout bounds asking a verify endpoint its chain id at
// start.
const verifyEndpointTimeout = 15 * time.Second

// addVerifyEndpoints dials each of Config.VerifyRPC, asks it which chain
// it serves (never assumed), and makes that chain's reader for POST
// /v1/verify a verify.CrossChecked of the anchoring endpoint and these:
// every answer must agree, and a disagreement is undecided, never valid.
// An endpoint that does not answer, or serves a chain this server does
// not anchor on, stops the start.
func (s *Service) addVerifyEndpoints(ctx context.Context, chains []server.Chain) error {
	extra := make([][]verify.Endpoint, len(chains))
	for i, u := range s.cfg.VerifyRPC {
		field := fmt.Sprintf("VerifyRPC[%d]", i)
		name := redact.URL(u)
		c, err := ethclient.DialContext(ctx, u)
		if err != nil {
			return &ConfigError{field, fmt.Errorf("%s: %w", name, err)}
		}
		s.closers = append(s.closers, func() error { c.Close(); return nil })
		cctx, cancel := context.WithTimeout(ctx, verifyEndpointTimeout)
		id, err := c.ChainID(cctx)
		cancel()
		if err != nil {
			return &ConfigError{field, fmt.Errorf("%s did not say which chain it serves: %s", name, redact.Text(err.Error()))}
		}
		found := false
		for j, ch := range chains {
			if id.IsUint64() && ch.ID == id.Uint64() {
				extra[j] = append(extra[j], verify.Endpoint{Name: name, Chain: redact.Chain(c)})
				found = true
			}
		}
		if !found {
			return &ConfigError{field, fmt.Errorf("%s serves chain %s, which this server does not anchor on", name, id)}
		}
	}
	for j, eps := range extra {
		if len(eps) == 0 {
			continue
		}
		own := "the anchoring endpoint"
		if rpc := s.cfg.Chains[j].RPC; rpc != "" && s.cfg.Chains[j].Client == nil && !s.cfg.Chains[j].Dev {
			own = redact.URL(rpc)
		}
		chains[j].Reader = verify.NewCrossChecked(append([]verify.Endpoint{{Name: own, Chain: chains[j].Reader}}, eps...)...)
		s.log.Info("POST /v1/verify cross-checks its chain reads", "chain_id", chains[j].ID, "endpoints", len(eps)+1)
	}
	return nil
}
