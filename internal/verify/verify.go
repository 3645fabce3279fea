// Package verify decides whether a proof bundle attests a document. It
// trusts nothing attestd says: it recomputes the Merkle path with its own
// code (path.go, no tree library), and reads the anchor transaction from a
// JSON-RPC endpoint the verifier chose.
//
// A bundle is valid for a document iff the fingerprint recomputed from the
// document equals the bundle's; the path from (index, size) leads to the
// root; and on every required chain the anchor transaction exists,
// succeeded, was sent by the pinned anchoring address, carries exactly this
// root, size and batch id, and sits in a canonical block with at least the
// required confirmations. The attested time is that block's timestamp.
// Every failed check is named in the Result.
package verify

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
)

// Chain is what the verifier reads from a JSON-RPC endpoint; an
// *ethclient.Client satisfies it.
type Chain interface {
	ChainID(ctx context.Context) (*big.Int, error)
	TransactionByHash(ctx context.Context, hash common.Hash) (tx *types.Transaction, isPending bool, err error)
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
}

// Policy is what the verifier requires.
type Policy struct {
	// RequiredChains lists the chains whose anchors must all check out. Empty
	// means every chain the verifier has an endpoint for that the bundle
	// anchors on — and at least one.
	RequiredChains []uint64
	// MinConfirmations is the depth an anchor's block needs (≥1; 0 means 1).
	MinConfirmations uint64
	// Anchorers pins the anchoring address per chain. A chain without a pin
	// accepts the address the bundle names, and the check says so.
	Anchorers map[uint64]common.Address
}

// Check is one named test and its outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Result is the verdict. Valid is true iff every check passed.
type Result struct {
	Valid      bool      `json:"valid"`
	Checks     []Check   `json:"checks"`
	AttestedAt time.Time `json:"attested_at,omitzero"` // the earliest required anchor's block time
}

// Failed returns the checks that did not pass.
func (r Result) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

func (r *Result) add(name string, ok bool, format string, args ...any) bool {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	return ok
}

// Check names, stable for scripts and the API. Per-chain checks are
// prefixed "anchor[<chain id>]." (e.g. "anchor[1337].payload").
const (
	CheckFormat      = "format"        // the bundle is well-formed
	CheckFingerprint = "fingerprint"   // the document's fingerprint equals the bundle's
	CheckMerklePath  = "merkle_path"   // the path from (index, size) leads to the root
	CheckChains      = "chains"        // the required chains are anchored and reachable
	CheckRPC         = "rpc"           // an endpoint for the chain answered with the right chain ID
	CheckTx          = "tx"            // the transaction exists and is mined
	CheckStatus      = "status"        // it succeeded
	CheckSender      = "sender"        // sent by the (pinned) anchoring address
	CheckPayload     = "payload"       // its calldata carries this root, size and batch id
	CheckCanonical   = "canonical"     // its block is on the canonical chain
	CheckConfirmed   = "confirmations" // with enough blocks on top
)

// Verify checks b. doc is the fingerprint the verifier recomputed from the
// document (nil when only the bundle is checked). chains maps chain ID to
// an endpoint for that chain.
func Verify(ctx context.Context, b *proof.Bundle, doc *fingerprint.Fingerprint, chains map[uint64]Chain, p Policy) Result {
	var r Result
	if err := b.Check(); err != nil {
		r.add(CheckFormat, false, "%v", err)
		return r
	}
	if doc != nil {
		r.add(CheckFingerprint, *doc == b.Fingerprint, "document %s, bundle %s", doc, b.Fingerprint)
	}
	if err := VerifyPath(b.Fingerprint, b.Index, b.Size, b.PathHashes(), b.Root); err != nil {
		r.add(CheckMerklePath, false, "%v", err)
	} else {
		r.add(CheckMerklePath, true, "leaf %d of %d leads to root %s", b.Index, b.Size, b.Root)
	}

	required := p.RequiredChains
	if len(required) == 0 {
		for _, a := range b.Anchors {
			if _, ok := chains[a.ChainID]; ok {
				required = append(required, a.ChainID)
			}
		}
	}
	switch {
	case len(b.Anchors) == 0:
		r.add(CheckChains, false, "the bundle has no anchor yet")
	case len(required) == 0:
		r.add(CheckChains, false, "no endpoint for any chain the bundle is anchored on (%v)", anchorChains(b))
	default:
		r.add(CheckChains, true, "checking chain(s) %v", required)
	}
	minConf := max(p.MinConfirmations, 1)
	for _, id := range required {
		t, ok := checkAnchor(ctx, &r, b, id, chains[id], p.Anchorers, minConf)
		if ok && (r.AttestedAt.IsZero() || t.Before(r.AttestedAt)) {
			r.AttestedAt = t
		}
	}
	r.Valid = len(r.Failed()) == 0
	if !r.Valid {
		r.AttestedAt = time.Time{}
	}
	return r
}

func anchorChains(b *proof.Bundle) []uint64 {
	var ids []uint64
	for _, a := range b.Anchors {
		ids = append(ids, a.ChainID)
	}
	slices.Sort(ids)
	return ids
}

// checkAnchor runs the per-chain checks, stopping at the first that fails
// (the later ones would only repeat it). It returns the block time.
func checkAnchor(ctx context.Context, r *Result, b *proof.Bundle, id uint64, c Chain, pins map[uint64]common.Address, minConf uint64) (time.Time, bool) {
	name := func(check string) string { return fmt.Sprintf("anchor[%d].%s", id, check) }
	a, ok := b.Anchor(id)
	if !ok {
		r.add(name(CheckTx), false, "the bundle has no anchor on required chain %d", id)
		return time.Time{}, false
	}
	if c == nil {
		r.add(name(CheckRPC), false, "no JSON-RPC endpoint given for chain %d", id)
		return time.Time{}, false
	}
	got, err := c.ChainID(ctx)
	if err != nil {
		r.add(name(CheckRPC), false, "endpoint unreachable: %v", err)
		return time.Time{}, false
	}
	if !got.IsUint64() || got.Uint64() != id {
		r.add(name(CheckRPC), false, "endpoint serves chain %s, the anchor is on chain %d", got, id)
		return time.Time{}, false
	}
	r.add(name(CheckRPC), true, "endpoint serves chain %d", id)

	tx, pending, err := c.TransactionByHash(ctx, a.TxHash)
	switch {
	case errors.Is(err, ethereum.NotFound):
		return time.Time{}, r.add(name(CheckTx), false, "transaction %s not found on chain %d", a.TxHash.Hex(), id)
	case err != nil:
		return time.Time{}, r.add(name(CheckTx), false, "reading transaction %s: %v", a.TxHash.Hex(), err)
	case pending:
		return time.Time{}, r.add(name(CheckTx), false, "transaction %s is not mined yet", a.TxHash.Hex())
	}
	rc, err := c.TransactionReceipt(ctx, a.TxHash)
	if err != nil {
		return time.Time{}, r.add(name(CheckTx), false, "reading the receipt of %s: %v", a.TxHash.Hex(), err)
	}
	if rc.BlockHash != a.BlockHash || rc.BlockNumber.Uint64() != a.BlockNumber {
		return time.Time{}, r.add(name(CheckTx), false, "the bundle places %s in block %d (%s), the chain in block %d (%s): fetch the proof again",
			a.TxHash.Hex(), a.BlockNumber, a.BlockHash.Hex(), rc.BlockNumber, rc.BlockHash.Hex())
	}
	r.add(name(CheckTx), true, "transaction %s in block %d", a.TxHash.Hex(), rc.BlockNumber)
	if !r.add(name(CheckStatus), rc.Status == types.ReceiptStatusSuccessful, "receipt status %d", rc.Status) {
		return time.Time{}, false
	}

	sender, err := types.Sender(types.LatestSignerForChainID(got), tx)
	if err != nil {
		return time.Time{}, r.add(name(CheckSender), false, "recovering the sender: %v", err)
	}
	if pin, ok := pins[id]; ok {
		if !r.add(name(CheckSender), sender == pin && a.Anchorer == pin, "sent by %s, pinned anchorer %s, bundle names %s", sender.Hex(), pin.Hex(), a.Anchorer.Hex()) {
			return time.Time{}, false
		}
	} else if !r.add(name(CheckSender), sender == a.Anchorer, "sent by %s, the anchorer the bundle names (not pinned: pin the issuer's published address)", sender.Hex()) {
		return time.Time{}, false
	}

	pl, err := proof.DecodePayload(tx.Data())
	if err != nil {
		return time.Time{}, r.add(name(CheckPayload), false, "%v", err)
	}
	if !r.add(name(CheckPayload), pl.Root == b.Root && pl.Size == b.Size && pl.BatchID == b.BatchID,
		"on chain: batch %d, size %d, root %x; bundle: batch %d, size %d, root %s",
		pl.BatchID, pl.Size, pl.Root, b.BatchID, b.Size, b.Root) {
		return time.Time{}, false
	}

	hdr, err := c.HeaderByNumber(ctx, rc.BlockNumber)
	if err != nil {
		return time.Time{}, r.add(name(CheckCanonical), false, "reading block %d: %v", rc.BlockNumber, err)
	}
	if !r.add(name(CheckCanonical), hdr.Hash() == rc.BlockHash, "canonical block %d is %s, receipt says %s", rc.BlockNumber, hdr.Hash().Hex(), rc.BlockHash.Hex()) {
		return time.Time{}, false
	}
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		return time.Time{}, r.add(name(CheckConfirmed), false, "reading the chain head: %v", err)
	}
	var conf uint64
	if n := rc.BlockNumber.Uint64(); head.Number.Uint64() >= n {
		conf = head.Number.Uint64() - n + 1
	}
	if !r.add(name(CheckConfirmed), conf >= minConf, "%d confirmation(s), %d required", conf, minConf) {
		return time.Time{}, false
	}
	return time.Unix(int64(hdr.Time), 0).UTC(), true
}
