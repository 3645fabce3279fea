package verify

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/proof"
)

// TrustedBlock is a block hash the verifier trusts (verify --trusted-block,
// a checkpoint file): the hash of block Number of its chain when HasNumber,
// else of some block the verifier took to be one of the anchor's.
type TrustedBlock struct {
	Hash      common.Hash
	Number    uint64
	HasNumber bool
}

// anchorFacts is what an anchor's transaction shows, read from an
// endpoint or opened from the anchor's chain evidence.
type anchorFacts struct {
	sender  common.Address
	to      *common.Address
	data    []byte
	number  uint64
	hash    common.Hash
	time    time.Time
	sealed  *evidence.Facts // the opened chain evidence; nil when read from an endpoint
	chainID *big.Int        // the endpoint's chain ID (online)
}

// checkAnchor runs the per-chain checks, stopping at the first that does
// not pass (the later ones would only repeat it). It returns the block
// time, whether every check passed, and whether the sender was pinned.
//
// With the anchor's chain evidence (proof format 2) the transaction, its
// receipt and block come from the bundle and are checked here; the chain
// is asked (online) only for the hash of the anchor's block and its head,
// or (Policy.Offline) nothing at all: a trusted block hash links the
// evidence to the chain. Without evidence they are read from the endpoint.
func checkAnchor(ctx context.Context, r *Result, b *proof.Bundle, id uint64, c Chain, p Policy, minConf uint64) (time.Time, bool, bool) {
	var zero time.Time
	name := func(check string) string { return fmt.Sprintf("anchor[%d].%s", id, check) }
	disagree := func(err error) bool { return disagreement(r, id, err) }
	a, ok := b.Anchor(id)
	if !ok {
		return zero, r.undecided(name(CheckTx), false, "the proof has no anchor on required chain %d (yet)", id), false
	}
	ev, err := a.ParsedEvidence()
	if err != nil { // Check parsed it already; kept for callers that did not
		return zero, r.add(name(CheckEvidence), false, "%v", err), false
	}

	var f anchorFacts
	switch {
	case ev != nil:
		sealed, ok := openEvidence(r, name, a, ev, id)
		if !ok {
			return zero, false, false
		}
		f = anchorFacts{sender: sealed.Sender, to: sealed.To, data: sealed.Calldata, number: sealed.BlockNumber,
			hash: sealed.BlockHash, time: sealed.BlockTime, sealed: sealed}
		if !p.Offline {
			if f.chainID, ok = askChainID(ctx, r, name, c, id); !ok {
				return zero, false, false
			}
		}
	case p.Offline:
		why := "it is a version 1 proof, made before proofs carried it"
		switch a.NoEvidence {
		case proof.NoEvidencePending:
			why = "it was not collected yet when the proof was fetched: run \"attestd upgrade\" again"
		case proof.NoEvidenceUnsupported:
			why = "the issuer cannot collect it on this chain"
		}
		return zero, r.undecided(name(CheckEvidence), false, "could not check offline: the proof carries no chain evidence for chain %d (%s); verify it against a chain endpoint instead", id, why), false
	default:
		if f.chainID, ok = askChainID(ctx, r, name, c, id); !ok {
			return zero, false, false
		}
		if f, ok = readAnchor(ctx, r, name, c, a, f.chainID); !ok {
			return zero, false, false
		}
	}

	pinned, ok := checkIssuer(r, name, a, id, f, p)
	if !ok {
		return zero, false, pinned
	}
	pl, err := proof.DecodePayload(f.data)
	if err != nil {
		return zero, r.add(name(CheckPayload), false, "the transaction carries no attestd anchor: %v", err), pinned
	}
	if !r.add(name(CheckPayload), pl.Root == b.Root && pl.Size == b.Size && pl.BatchID == b.BatchID,
		"on chain: batch %d, size %d, root %x; proof: batch %d, size %d, root %s",
		pl.BatchID, pl.Size, pl.Root, b.BatchID, b.Size, b.Root) {
		return zero, false, pinned
	}

	if p.Offline {
		if !checkTrusted(r, name, id, f.sealed, p.Trusted[id], minConf) {
			return zero, false, pinned
		}
	} else {
		hdr, err := c.HeaderByNumber(ctx, new(big.Int).SetUint64(f.number))
		if x, ok := c.(Refresher); ok && err == nil && hdr.Hash() != f.hash {
			hdr, err = x.Refresh().HeaderByNumber(ctx, new(big.Int).SetUint64(f.number))
		}
		if disagree(err) {
			return zero, false, pinned
		}
		if errors.Is(err, ethereum.NotFound) && f.sealed != nil {
			// As a transaction the chain does not hold is false (readAnchor):
			// the chain the endpoint serves has no block at that height.
			return zero, r.add(name(CheckCanonical), false, "the endpoint's chain %d has no block %d, where the proof's chain evidence places the anchor: it is not on this chain", id, f.number), pinned
		}
		if err != nil {
			return zero, r.undecided(name(CheckCanonical), true, "could not read block %d from the endpoint: %v", f.number, err), pinned
		}
		what := "the receipt says"
		if f.sealed != nil {
			what = "the proof's chain evidence says"
		}
		if !r.add(name(CheckCanonical), hdr.Hash() == f.hash, "canonical block %d is %s, %s %s", f.number, hdr.Hash().Hex(), what, f.hash.Hex()) {
			return zero, false, pinned
		}
		if f.sealed == nil { // the attested time: the canonical block's timestamp
			f.time = time.Unix(int64(min(hdr.Time, 1<<62)), 0).UTC()
		}
		head, err := c.HeaderByNumber(ctx, nil)
		depth := func() uint64 {
			if head.Number.Uint64() >= f.number {
				return head.Number.Uint64() - f.number + 1
			}
			return 0
		}
		if x, ok := c.(Refresher); ok && err == nil && depth() < minConf {
			head, err = x.Refresh().HeaderByNumber(ctx, nil) // a cached head may be behind
		}
		if disagree(err) {
			return zero, false, pinned
		}
		if err != nil {
			return zero, r.undecided(name(CheckConfirmed), true, "could not read the chain head from the endpoint: %v", err), pinned
		}
		conf := depth()
		if conf < minConf {
			return zero, r.undecided(name(CheckConfirmed), false, "%d confirmation(s), %d required: not settled yet, try again later", conf, minConf), pinned
		}
		r.add(name(CheckConfirmed), true, "%d confirmation(s), %d required", conf, minConf)
		if x, ok := c.(interface{ Endpoints() []string }); ok && len(x.Endpoints()) > 1 {
			r.add(name(CheckAgree), true, "the %d endpoints (%s) gave the same answers", len(x.Endpoints()), strings.Join(x.Endpoints(), ", "))
		}
	}
	if !pinned && !p.AnyIssuer {
		return zero, false, false
	}
	return f.time, true, pinned
}

// disagreement records a CrossChecked disagreement; it reports whether
// err was one.
func disagreement(r *Result, id uint64, err error) bool {
	var d *Disagreement
	if !errors.As(err, &d) {
		return false
	}
	r.undecided(fmt.Sprintf("anchor[%d].%s", id, CheckAgree), false, "could not check: the endpoints for chain %d disagree about %s (%s); at least one of them is wrong and nothing says which, so nothing they say can be relied on: try other endpoints",
		id, d.What, d.answers())
	return true
}

// askChainID asks c which chain it serves: it must be id.
func askChainID(ctx context.Context, r *Result, name func(string) string, c Chain, id uint64) (*big.Int, bool) {
	if c == nil {
		return nil, r.undecided(name(CheckRPC), false, "no JSON-RPC endpoint given for chain %d: nothing could be checked there", id)
	}
	got, err := c.ChainID(ctx)
	if disagreement(r, id, err) {
		return nil, false
	}
	if err != nil {
		return nil, r.undecided(name(CheckRPC), true, "could not check: the chain endpoint did not answer (%v)", err)
	}
	if !got.IsUint64() || got.Uint64() != id {
		return nil, r.undecided(name(CheckRPC), false, "could not check: the endpoint serves chain %s, the anchor is on chain %d", got, id)
	}
	return got, r.add(name(CheckRPC), true, "endpoint serves chain %d", id)
}

// readAnchor reads the anchor's transaction and receipt from c and checks
// they are where the proof says and succeeded.
func readAnchor(ctx context.Context, r *Result, name func(string) string, c Chain, a proof.Anchor, chainID *big.Int) (anchorFacts, bool) {
	var f anchorFacts
	id := chainID.Uint64()
	tx, pending, err := c.TransactionByHash(ctx, a.TxHash)
	switch {
	case errors.Is(err, ethereum.NotFound):
		return f, r.add(name(CheckTx), false, "the anchoring transaction %s does not exist on chain %d", a.TxHash.Hex(), id)
	case disagreement(r, id, err):
		return f, false
	case err != nil:
		return f, r.undecided(name(CheckTx), true, "could not read transaction %s from the endpoint: %v", a.TxHash.Hex(), err)
	case pending:
		return f, r.undecided(name(CheckTx), false, "transaction %s is not mined yet: try again later", a.TxHash.Hex())
	}
	rc, err := c.TransactionReceipt(ctx, a.TxHash)
	if x, ok := c.(Refresher); ok && err == nil && (rc.BlockHash != a.BlockHash || rc.BlockNumber.Uint64() != a.BlockNumber) {
		rc, err = x.Refresh().TransactionReceipt(ctx, a.TxHash) // a cached receipt may predate a reorg
	}
	switch {
	case errors.Is(err, ethereum.NotFound):
		// Between the two reads the tx was reorged out, or the node is
		// still indexing: not evidence either way.
		return f, r.undecided(name(CheckTx), true, "the endpoint has no receipt for transaction %s yet: try again later", a.TxHash.Hex())
	case disagreement(r, id, err):
		return f, false
	case err != nil:
		return f, r.undecided(name(CheckTx), true, "could not read the receipt of %s from the endpoint: %v", a.TxHash.Hex(), err)
	}
	if rc.BlockHash != a.BlockHash || rc.BlockNumber.Uint64() != a.BlockNumber {
		return f, r.add(name(CheckTx), false, "the proof places %s in block %d (%s), the chain in block %d (%s): fetch the proof again",
			a.TxHash.Hex(), a.BlockNumber, a.BlockHash.Hex(), rc.BlockNumber, rc.BlockHash.Hex())
	}
	r.add(name(CheckTx), true, "transaction %s in block %d", a.TxHash.Hex(), rc.BlockNumber)
	if !r.add(name(CheckStatus), rc.Status == types.ReceiptStatusSuccessful, "receipt status %d (1 is success)", rc.Status) {
		return f, false
	}
	sender, err := types.Sender(types.LatestSignerForChainID(chainID), tx)
	if err != nil {
		return f, r.add(name(CheckSender), false, "recovering the sender: %v", err)
	}
	return anchorFacts{sender: sender, to: tx.To(), data: tx.Data(), number: rc.BlockNumber.Uint64(), hash: rc.BlockHash, chainID: chainID}, true
}

// openEvidence opens the anchor's chain evidence and checks it is the
// evidence of the transaction the proof names, in the block it names, on
// its chain, and that the transaction succeeded.
func openEvidence(r *Result, name func(string) string, a proof.Anchor, ev *proof.Evidence, id uint64) (*evidence.Facts, bool) {
	f, err := evidence.Open(ev)
	if err != nil {
		return nil, r.add(name(CheckEvidence), false, "%v", err)
	}
	r.add(name(CheckEvidence), true, "the sealed chain evidence holds block %d and %d block(s) on top of it, linked by their hashes, and proves the transaction and its receipt are in block %d",
		f.BlockNumber, f.TipNumber-f.BlockNumber, f.BlockNumber)
	switch {
	case f.ChainID != id:
		return nil, r.add(name(CheckTx), false, "the transaction in the chain evidence is for chain %d, the anchor is on chain %d", f.ChainID, id)
	case f.TxHash != a.TxHash || f.BlockNumber != a.BlockNumber || f.BlockHash != a.BlockHash:
		return nil, r.add(name(CheckTx), false, "the chain evidence holds transaction %s in block %d (%s), the proof names %s in block %d (%s)",
			f.TxHash.Hex(), f.BlockNumber, f.BlockHash.Hex(), a.TxHash.Hex(), a.BlockNumber, a.BlockHash.Hex())
	}
	r.add(name(CheckTx), true, "transaction %s at index %d of block %d (from the chain evidence)", f.TxHash.Hex(), f.TxIndex, f.BlockNumber)
	if !r.add(name(CheckStatus), f.ReceiptStatus == types.ReceiptStatusSuccessful, "receipt status %d (1 is success)", f.ReceiptStatus) {
		return nil, false
	}
	return f, true
}

// checkIssuer checks who sent the anchor, against the trust list, the
// pinned address, or (AnyIssuer) the address the proof names. ok is false
// when the checks must stop; pinned says whether the sender was pinned.
func checkIssuer(r *Result, name func(string) string, a proof.Anchor, id uint64, f anchorFacts, p Policy) (pinned, ok bool) {
	sender := f.sender
	pin, pinned := p.Anchorers[id]
	var issuer string
	var sink common.Address
	if p.Issuers != nil {
		var known bool
		if issuer, sink, known = p.Issuers.AnchoringIssuer(id, sender); !known {
			return false, r.add(name(CheckSender), false, "sent by %s, which is not an issuer in your trust list for chain %d: whoever sent it, the trust list does not vouch for them", sender.Hex(), id)
		}
		pin, pinned = sender, true
	}
	switch {
	case issuer != "":
		if !r.add(name(CheckSender), a.Anchorer == sender, "sent by %s, the anchoring address of %q in your trust list; the proof names %s", sender.Hex(), issuer, a.Anchorer.Hex()) {
			return true, false
		}
		to := "no recipient (a contract creation)"
		if f.to != nil {
			to = f.to.Hex()
		}
		if !r.add(name(CheckRecipient), f.to != nil && *f.to == sink, "sent to %s; %q anchors to %s", to, issuer, sink.Hex()) {
			return true, false
		}
		if r.Issuer == "" {
			r.Issuer = issuer
		} else if r.Issuer != issuer {
			return true, r.add(CheckIssuer, false, "the anchors name different issuers: %q on one chain, %q on chain %d", r.Issuer, issuer, id)
		}
	case pinned:
		if !r.add(name(CheckSender), sender == pin && a.Anchorer == pin,
			"sent by %s; the pinned issuer's anchoring address is %s; the proof names %s", sender.Hex(), pin.Hex(), a.Anchorer.Hex()) {
			return true, false
		}
	case sender != a.Anchorer:
		return false, r.add(name(CheckSender), false, "sent by %s, not by %s as the proof says", sender.Hex(), a.Anchorer.Hex())
	case p.AnyIssuer:
		r.add(name(CheckSender), true, "sent by %s, the address the proof names; the issuer is not pinned (--any-issuer): this proves only that the fingerprint existed then, not who attested it", sender.Hex())
	default:
		r.undecided(name(CheckSender), false, "sent by %s, but nothing says that address is the issuer's: pin the anchoring address the issuer publishes (`attestd info`) with --anchorer or ATTESTD_ANCHORER, or accept any issuer with --any-issuer (existence only)", sender.Hex())
		// The later checks still run: false evidence there is INVALID.
	}
	return pinned, true
}

// checkTrusted links the sealed evidence to the chain offline: a trusted
// hash must be the hash of one of the evidence's blocks (the anchor's or
// one on top of it), and the confirmations are counted up to it.
func checkTrusted(r *Result, name func(string) string, id uint64, f *evidence.Facts, trusted []TrustedBlock, minConf uint64) bool {
	confirm := fmt.Sprintf("chain %d, block %d, hash %s: compare it with a block explorer, a node, or a published checkpoint you trust; then give it with --trusted-block %d:%s",
		id, f.TipNumber, f.TipHash.Hex(), id, f.TipHash.Hex())
	if len(trusted) == 0 {
		return r.undecided(name(CheckCanonical), false, "could not check offline: no block hash you trust for chain %d. To decide, confirm %s", id, confirm)
	}
	// The highest trusted block the evidence reaches decides.
	var best *TrustedBlock
	var at uint64
	var outside []string
	for i, t := range trusted {
		if t.HasNumber {
			h, in := f.HashAt(t.Number)
			switch {
			case !in:
				outside = append(outside, fmt.Sprint(t.Number))
				continue
			case h != t.Hash:
				return r.add(name(CheckCanonical), false, "block %d of chain %d is %s for you, but %s in the proof's chain evidence: the evidence is not of the chain you trust", t.Number, id, t.Hash.Hex(), h.Hex())
			}
			if best == nil || t.Number > at {
				best, at = &trusted[i], t.Number
			}
			continue
		}
		for n := f.TipNumber; ; n-- {
			if h, _ := f.HashAt(n); h == t.Hash {
				if best == nil || n > at {
					best, at = &trusted[i], n
				}
				break
			}
			if n == f.BlockNumber {
				break
			}
		}
	}
	if best == nil {
		if len(outside) == len(trusted) { // only numbered blocks, none of them in the evidence
			return r.undecided(name(CheckCanonical), false, "could not check offline: your trusted block(s) %s of chain %d are not among the blocks the proof's chain evidence holds (%d to %d). To decide, confirm %s",
				strings.Join(outside, ", "), id, f.BlockNumber, f.TipNumber, confirm)
		}
		return r.add(name(CheckCanonical), false, "the hash you trust for chain %d is not the hash of any block in the proof's chain evidence (blocks %d to %d): either the evidence is false, or the hash is of another block — compare %s",
			id, f.BlockNumber, f.TipNumber, confirm)
	}
	r.add(name(CheckCanonical), true, "block %d of chain %d is the block you trust (%s), and the proof's chain evidence links it, parent by parent, down to block %d", at, id, best.Hash.Hex(), f.BlockNumber)
	conf := at - f.BlockNumber + 1
	if conf < minConf {
		return r.undecided(name(CheckConfirmed), false, "%d confirmation(s) up to your trusted block, %d required: trust a later block of the evidence (up to %d)", conf, minConf, f.TipNumber)
	}
	return r.add(name(CheckConfirmed), true, "%d confirmation(s) up to your trusted block, %d required", conf, minConf)
}
