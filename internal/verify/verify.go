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
//
// The verdict has three values. Every check is ok, failed (some evidence is
// false) or undecided (it could not be checked: the endpoint is unreachable
// or erroring, there is no anchor yet, not enough confirmations yet, or the
// issuer is not pinned). One failed check makes the verdict invalid; else
// one undecided check makes it undecided; valid needs every check ok.
// Without a pinned anchoring address a bundle is never valid, unless the
// policy says AnyIssuer — and then the result says it proves existence
// only, not who attested it. With a trust list (Policy.Issuers) the sender
// must be a listed issuer's anchoring address for the chain and the
// recipient that issuer's sink; the result names the issuer.
//
// Which chains are required is Policy.Require (default, all, any) or a
// list of chain ids. Several endpoints of one chain are read as one Chain
// through NewCrossChecked: every answer must agree, and a disagreement is
// the undecided check "anchor[<id>].endpoints_agree", never valid.
package verify

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
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

// Require says which chains' anchors must check out (Policy.Require).
type Require string

const (
	// RequireDefault: every chain the bundle anchors on that the verifier
	// has an endpoint for must check out, and there must be at least one.
	RequireDefault Require = ""
	// RequireAll: every chain the bundle anchors on must check out; an
	// anchor on a chain without an endpoint is undecided.
	RequireAll Require = "all"
	// RequireAny: at least one chain's anchor (among those with an
	// endpoint) fully checks out, and none is false. The other chains'
	// undecided checks are reported but marked Optional.
	RequireAny Require = "any"
)

// ParseRequire parses the text form of a policy: "all", "any", or a
// comma-separated list of chain ids (the named chains must each check
// out). It returns the mode and the ids.
func ParseRequire(s string) (Require, []uint64, error) {
	switch s = strings.TrimSpace(s); s {
	case "all", "any":
		return Require(s), nil, nil
	case "":
		return RequireDefault, nil, nil
	}
	var ids []uint64
	for f := range strings.SplitSeq(s, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || id == 0 {
			return "", nil, fmt.Errorf("%q: want all, any, or chain ids separated by commas", s)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return RequireDefault, ids, nil
}

// Policy is what the verifier requires.
type Policy struct {
	// Require is the mode when RequiredChains is empty (RequireDefault,
	// RequireAll or RequireAny).
	Require Require
	// RequiredChains lists the chains whose anchors must all check out
	// (an anchor missing on one, or a chain without an endpoint, is
	// undecided). When set it decides, whatever Require says. Empty means
	// Require decides.
	RequiredChains []uint64
	// MinConfirmations is the depth an anchor's block needs (≥1; 0 means 1).
	MinConfirmations uint64
	// Anchorers pins the anchoring address per chain: the address the
	// issuer publishes (`attestd info`). On a chain without a pin the
	// sender check is undecided (the verdict cannot be valid) unless
	// AnyIssuer is set.
	Anchorers map[uint64]common.Address
	// AnyIssuer accepts an unpinned chain's sender when it is the address
	// the bundle names. Such a result proves only that the fingerprint
	// existed at the attested time, not who attested it (ExistenceOnly).
	AnyIssuer bool
	// Issuers, when set, is the verifier's trust list: on every required
	// chain the anchor must be sent from an issuer's anchoring address for
	// that chain to that issuer's sink. It takes the place of Anchorers and
	// AnyIssuer; the result names the issuer (Result.Issuer).
	Issuers IssuerList
}

// IssuerList is what the verifier asks of a trust list (internal/trust).
type IssuerList interface {
	// AnchoringIssuer returns the issuer that anchors on chain chainID
	// from sender, and the sink it anchors to; ok is false when no issuer
	// in the list does.
	AnchoringIssuer(chainID uint64, sender common.Address) (issuer string, sink common.Address, ok bool)
}

// State is a check's outcome.
type State string

const (
	StateOK        State = "ok"        // checked, and it holds
	StateFailed    State = "failed"    // checked, and the evidence is false
	StateUndecided State = "undecided" // could not be checked (yet)
)

// Verdict is the outcome of a whole verification.
type Verdict string

const (
	VerdictValid     Verdict = "valid"     // every check ok, against pins the verifier trusts (or AnyIssuer)
	VerdictInvalid   Verdict = "invalid"   // some evidence is false
	VerdictUndecided Verdict = "undecided" // nothing is false, but something could not be checked
)

// Check is one named test and its outcome. OK is State == StateOK (kept
// for readers of the older JSON).
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	State  State  `json:"state"`
	Detail string `json:"detail,omitempty"`
	// Optional marks a check the policy does not need (RequireAny: a
	// chain other than the one that checked out). An undecided optional
	// check does not hold back the verdict; a failed one still makes it
	// invalid.
	Optional bool `json:"optional,omitempty"`
	// Unavailable marks an undecided check whose cause is the endpoint
	// (unreachable, erroring): asking again later may decide it.
	Unavailable bool `json:"-"`
}

// Result is the verdict. Valid is Verdict == VerdictValid.
type Result struct {
	Verdict Verdict `json:"verdict"`
	Valid   bool    `json:"valid"`
	// ExistenceOnly: valid without a pinned issuer (Policy.AnyIssuer). It
	// proves the fingerprint existed at AttestedAt, not who attested it.
	ExistenceOnly bool      `json:"existence_only,omitempty"`
	Checks        []Check   `json:"checks"`
	AttestedAt    time.Time `json:"attested_at,omitzero"` // the earliest required anchor's block time
	// Issuer is the trust list's issuer that anchored it (Policy.Issuers),
	// set only when valid.
	Issuer string `json:"issuer,omitempty"`
}

// Failed returns the checks that did not pass (failed or undecided).
func (r Result) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.State != StateOK {
			out = append(out, c)
		}
	}
	return out
}

// Unavailable reports whether an undecided check was caused by the chain
// endpoint (unreachable or erroring) rather than by the bundle.
func (r Result) Unavailable() bool {
	for _, c := range r.Checks {
		if c.State == StateUndecided && c.Unavailable && !c.Optional {
			return true
		}
	}
	return false
}

// Add appends c (its OK field is set from its State) and updates the
// verdict: a check can only make it worse.
func (r *Result) Add(c Check) {
	c.OK = c.State == StateOK
	r.Checks = append(r.Checks, c)
	r.settle()
}

// settle derives the verdict from the checks.
func (r *Result) settle() {
	r.Verdict = VerdictValid
	for _, c := range r.Checks {
		switch c.State {
		case StateFailed:
			r.Verdict = VerdictInvalid
		case StateUndecided:
			if r.Verdict == VerdictValid && !c.Optional {
				r.Verdict = VerdictUndecided
			}
		case StateOK:
		default: // a check without a state is no evidence of anything
			r.Verdict = VerdictInvalid
		}
	}
	if len(r.Checks) == 0 {
		r.Verdict = VerdictUndecided
	}
	r.Valid = r.Verdict == VerdictValid
	if !r.Valid {
		r.AttestedAt = time.Time{}
		r.ExistenceOnly = false
		r.Issuer = ""
	}
}

func (r *Result) add(name string, ok bool, format string, args ...any) bool {
	st := StateFailed
	if ok {
		st = StateOK
	}
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, State: st, Detail: fmt.Sprintf(format, args...)})
	return ok
}

// undecided records a check that could not be made; unavailable says the
// endpoint is the cause.
func (r *Result) undecided(name string, unavailable bool, format string, args ...any) bool {
	r.Checks = append(r.Checks, Check{Name: name, State: StateUndecided, Detail: fmt.Sprintf(format, args...), Unavailable: unavailable})
	return false
}

// Check names, stable for scripts and the API. Per-chain checks are
// prefixed "anchor[<chain id>]." (e.g. "anchor[1337].payload").
const (
	CheckFormat      = "format"          // the bundle is well-formed
	CheckFingerprint = "fingerprint"     // the document's fingerprint equals the bundle's
	CheckMerklePath  = "merkle_path"     // the path from (index, size) leads to the root
	CheckChains      = "chains"          // the required chains are anchored and reachable
	CheckRPC         = "rpc"             // an endpoint for the chain answered with the right chain ID
	CheckTx          = "tx"              // the transaction exists and is mined
	CheckStatus      = "status"          // it succeeded
	CheckSender      = "sender"          // sent by the (pinned) anchoring address
	CheckRecipient   = "recipient"       // sent to the issuer's published sink (with a trust list)
	CheckIssuer      = "issuer"          // the required chains name one issuer of the trust list
	CheckPayload     = "payload"         // its calldata carries this root, size and batch id
	CheckCanonical   = "canonical"       // its block is on the canonical chain
	CheckConfirmed   = "confirmations"   // with enough blocks on top
	CheckAgree       = "endpoints_agree" // several endpoints of the chain gave the same answers (CrossChecked)
	CheckPolicy      = "policy"          // RequireAny: at least one chain's anchor checked out
	CheckReceipt     = "receipt"         // the receipt is signed by the issuer's key of its time (added by the caller: the CLI, POST /v1/verify)
)

// Verify checks b. doc is the fingerprint the verifier recomputed from the
// document (nil when only the bundle is checked). chains maps chain ID to
// an endpoint for that chain.
func Verify(ctx context.Context, b *proof.Bundle, doc *fingerprint.Fingerprint, chains map[uint64]Chain, p Policy) (r Result) {
	defer r.settle() // on the named result: it runs after every return below
	if err := b.Check(); err != nil {
		r.add(CheckFormat, false, "the proof is malformed: %v", err)
		return r
	}
	if doc != nil {
		if *doc == b.Fingerprint {
			r.add(CheckFingerprint, true, "the document's fingerprint is the one the proof is for (%s)", doc)
		} else {
			r.add(CheckFingerprint, false, "the document is not the one the proof is for: its fingerprint is %s, the proof's %s", doc, b.Fingerprint)
		}
	}
	if err := VerifyPath(b.Fingerprint, b.Index, b.Size, b.PathHashes(), b.Root); err != nil {
		r.add(CheckMerklePath, false, "the proof's path does not lead from the fingerprint to the anchored root: %v", err)
	} else {
		r.add(CheckMerklePath, true, "leaf %d of %d leads to root %s", b.Index, b.Size, b.Root)
	}

	var required []uint64
	switch {
	case len(p.RequiredChains) > 0:
		required = p.RequiredChains
	case p.Require == RequireAll:
		required = anchorChains(b)
	default:
		for _, a := range b.Anchors {
			if _, ok := chains[a.ChainID]; ok {
				required = append(required, a.ChainID)
			}
		}
	}
	anyMode := p.Require == RequireAny && len(p.RequiredChains) == 0 && len(required) > 0
	switch {
	case len(b.Anchors) == 0:
		r.undecided(CheckChains, false, "the proof has no anchor yet: run \"attestd upgrade\" once its batch is anchored")
	case len(required) == 0:
		r.undecided(CheckChains, false, "no endpoint for any chain the proof is anchored on (%v): give one with --rpc", anchorChains(b))
	case anyMode:
		r.add(CheckChains, true, "checking chain(s) %v; the anchor on any one of them is enough, if none is false", required)
	default:
		r.add(CheckChains, true, "checking chain(s) %v; each must check out", required)
	}
	minConf := max(p.MinConfirmations, 1)
	var unpinned bool
	var passed []uint64
	// starts[i] is the index of required[i]'s first check in r.Checks.
	starts := make([]int, len(required)+1)
	for i, id := range required {
		starts[i] = len(r.Checks)
		t, ok, pinned := checkAnchor(ctx, &r, b, id, chains[id], p, minConf)
		if ok {
			passed = append(passed, id)
			if r.AttestedAt.IsZero() || t.Before(r.AttestedAt) {
				r.AttestedAt = t
			}
			unpinned = unpinned || !pinned
		}
	}
	starts[len(required)] = len(r.Checks)
	if anyMode && len(passed) > 0 {
		// Under RequireAny, once one chain checked out the others'
		// undecided checks are not needed (their failed ones still
		// count: none may be false).
		for i, id := range required {
			if !slices.Contains(passed, id) {
				for j := starts[i]; j < starts[i+1]; j++ {
					r.Checks[j].Optional = true
				}
			}
		}
	}
	if anyMode {
		if len(passed) > 0 {
			r.add(CheckPolicy, true, "the anchor on chain(s) %v checks out; one is enough under the policy \"any\"", passed)
		} else {
			r.undecided(CheckPolicy, false, "no chain's anchor fully checks out, and the policy \"any\" needs one")
		}
	}
	r.ExistenceOnly = unpinned
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

// checkAnchor runs the per-chain checks, stopping at the first that does
// not pass (the later ones would only repeat it). It returns the block
// time, whether every check passed, and whether the sender was pinned.
func checkAnchor(ctx context.Context, r *Result, b *proof.Bundle, id uint64, c Chain, p Policy, minConf uint64) (time.Time, bool, bool) {
	var zero time.Time
	name := func(check string) string { return fmt.Sprintf("anchor[%d].%s", id, check) }
	// disagree records a CrossChecked disagreement; it reports whether
	// err was one.
	disagree := func(err error) bool {
		var d *Disagreement
		if !errors.As(err, &d) {
			return false
		}
		r.undecided(name(CheckAgree), false, "could not check: the endpoints for chain %d disagree about %s (%s); at least one of them is wrong and nothing says which, so nothing they say can be relied on: try other endpoints",
			id, d.What, d.answers())
		return true
	}
	a, ok := b.Anchor(id)
	if !ok {
		return zero, r.undecided(name(CheckTx), false, "the proof has no anchor on required chain %d (yet)", id), false
	}
	if c == nil {
		return zero, r.undecided(name(CheckRPC), false, "no JSON-RPC endpoint given for chain %d: nothing could be checked there", id), false
	}
	got, err := c.ChainID(ctx)
	if disagree(err) {
		return zero, false, false
	}
	if err != nil {
		return zero, r.undecided(name(CheckRPC), true, "could not check: the chain endpoint did not answer (%v)", err), false
	}
	if !got.IsUint64() || got.Uint64() != id {
		return zero, r.undecided(name(CheckRPC), false, "could not check: the endpoint serves chain %s, the anchor is on chain %d", got, id), false
	}
	r.add(name(CheckRPC), true, "endpoint serves chain %d", id)

	tx, pending, err := c.TransactionByHash(ctx, a.TxHash)
	switch {
	case errors.Is(err, ethereum.NotFound):
		return zero, r.add(name(CheckTx), false, "the anchoring transaction %s does not exist on chain %d", a.TxHash.Hex(), id), false
	case disagree(err):
		return zero, false, false
	case err != nil:
		return zero, r.undecided(name(CheckTx), true, "could not read transaction %s from the endpoint: %v", a.TxHash.Hex(), err), false
	case pending:
		return zero, r.undecided(name(CheckTx), false, "transaction %s is not mined yet: try again later", a.TxHash.Hex()), false
	}
	rc, err := c.TransactionReceipt(ctx, a.TxHash)
	if f, ok := c.(Refresher); ok && err == nil && (rc.BlockHash != a.BlockHash || rc.BlockNumber.Uint64() != a.BlockNumber) {
		rc, err = f.Refresh().TransactionReceipt(ctx, a.TxHash) // a cached receipt may predate a reorg
	}
	switch {
	case errors.Is(err, ethereum.NotFound):
		// Between the two reads the tx was reorged out, or the node is
		// still indexing: not evidence either way.
		return zero, r.undecided(name(CheckTx), true, "the endpoint has no receipt for transaction %s yet: try again later", a.TxHash.Hex()), false
	case disagree(err):
		return zero, false, false
	case err != nil:
		return zero, r.undecided(name(CheckTx), true, "could not read the receipt of %s from the endpoint: %v", a.TxHash.Hex(), err), false
	}
	if rc.BlockHash != a.BlockHash || rc.BlockNumber.Uint64() != a.BlockNumber {
		return zero, r.add(name(CheckTx), false, "the proof places %s in block %d (%s), the chain in block %d (%s): fetch the proof again",
			a.TxHash.Hex(), a.BlockNumber, a.BlockHash.Hex(), rc.BlockNumber, rc.BlockHash.Hex()), false
	}
	r.add(name(CheckTx), true, "transaction %s in block %d", a.TxHash.Hex(), rc.BlockNumber)
	if !r.add(name(CheckStatus), rc.Status == types.ReceiptStatusSuccessful, "receipt status %d (1 is success)", rc.Status) {
		return zero, false, false
	}

	sender, err := types.Sender(types.LatestSignerForChainID(got), tx)
	if err != nil {
		return zero, r.add(name(CheckSender), false, "recovering the sender: %v", err), false
	}
	pin, pinned := p.Anchorers[id]
	var issuer string
	var sink common.Address
	if p.Issuers != nil {
		var known bool
		if issuer, sink, known = p.Issuers.AnchoringIssuer(id, sender); !known {
			return zero, r.add(name(CheckSender), false, "sent by %s, which is not an issuer in your trust list for chain %d: whoever sent it, the trust list does not vouch for them", sender.Hex(), id), false
		}
		pin, pinned = sender, true
	}
	switch {
	case issuer != "":
		if !r.add(name(CheckSender), a.Anchorer == sender, "sent by %s, the anchoring address of %q in your trust list; the proof names %s", sender.Hex(), issuer, a.Anchorer.Hex()) {
			return zero, false, true
		}
		to := "no recipient (a contract creation)"
		if tx.To() != nil {
			to = tx.To().Hex()
		}
		if !r.add(name(CheckRecipient), tx.To() != nil && *tx.To() == sink, "sent to %s; %q anchors to %s", to, issuer, sink.Hex()) {
			return zero, false, true
		}
		if r.Issuer == "" {
			r.Issuer = issuer
		} else if r.Issuer != issuer {
			return zero, r.add(CheckIssuer, false, "the anchors name different issuers: %q on one chain, %q on chain %d", r.Issuer, issuer, id), true
		}
	case pinned:
		if !r.add(name(CheckSender), sender == pin && a.Anchorer == pin,
			"sent by %s; the pinned issuer's anchoring address is %s; the proof names %s", sender.Hex(), pin.Hex(), a.Anchorer.Hex()) {
			return zero, false, true
		}
	case sender != a.Anchorer:
		return zero, r.add(name(CheckSender), false, "sent by %s, not by %s as the proof says", sender.Hex(), a.Anchorer.Hex()), false
	case p.AnyIssuer:
		r.add(name(CheckSender), true, "sent by %s, the address the proof names; the issuer is not pinned (--any-issuer): this proves only that the fingerprint existed then, not who attested it", sender.Hex())
	default:
		r.undecided(name(CheckSender), false, "sent by %s, but nothing says that address is the issuer's: pin the anchoring address the issuer publishes (`attestd info`) with --anchorer or ATTESTD_ANCHORER, or accept any issuer with --any-issuer (existence only)", sender.Hex())
		// The later checks still run: false evidence there is INVALID.
	}

	pl, err := proof.DecodePayload(tx.Data())
	if err != nil {
		return zero, r.add(name(CheckPayload), false, "the transaction carries no attestd anchor: %v", err), pinned
	}
	if !r.add(name(CheckPayload), pl.Root == b.Root && pl.Size == b.Size && pl.BatchID == b.BatchID,
		"on chain: batch %d, size %d, root %x; proof: batch %d, size %d, root %s",
		pl.BatchID, pl.Size, pl.Root, b.BatchID, b.Size, b.Root) {
		return zero, false, pinned
	}

	hdr, err := c.HeaderByNumber(ctx, rc.BlockNumber)
	if f, ok := c.(Refresher); ok && err == nil && hdr.Hash() != rc.BlockHash {
		hdr, err = f.Refresh().HeaderByNumber(ctx, rc.BlockNumber)
	}
	if disagree(err) {
		return zero, false, pinned
	}
	if err != nil {
		return zero, r.undecided(name(CheckCanonical), true, "could not read block %d from the endpoint: %v", rc.BlockNumber, err), pinned
	}
	if !r.add(name(CheckCanonical), hdr.Hash() == rc.BlockHash, "canonical block %d is %s, receipt says %s", rc.BlockNumber, hdr.Hash().Hex(), rc.BlockHash.Hex()) {
		return zero, false, pinned
	}
	head, err := c.HeaderByNumber(ctx, nil)
	depth := func() uint64 {
		if n := rc.BlockNumber.Uint64(); head.Number.Uint64() >= n {
			return head.Number.Uint64() - n + 1
		}
		return 0
	}
	if f, ok := c.(Refresher); ok && err == nil && depth() < minConf {
		head, err = f.Refresh().HeaderByNumber(ctx, nil) // a cached head may be behind
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
	if !pinned && !p.AnyIssuer {
		return zero, false, false
	}
	return time.Unix(int64(hdr.Time), 0).UTC(), true, pinned
}
