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
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// Offline: no endpoint is read. Each anchor is checked from its chain
	// evidence (proof format 2) and linked to the chain by a block hash
	// the verifier trusts (Trusted); without one it is undecided, and the
	// check says which hash to confirm and how.
	Offline bool
	// Trusted are the block hashes the verifier trusts, by chain ID
	// (offline verification).
	Trusted map[uint64][]TrustedBlock
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
	// VerdictSuperseded and VerdictWithdrawn (status.go): attested, and
	// since superseded or withdrawn.
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
	// set only when the attestation checked out (valid, superseded or
	// withdrawn).
	Issuer string `json:"issuer,omitempty"`
	// RecordStatus is what was learned of the record's corrections and
	// withdrawals (CheckRecord, RecordUnavailable, SkipRecordStatus); nil
	// when it was not asked.
	RecordStatus *RecordStatus `json:"record_status,omitempty"`
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
	if rs := r.RecordStatus; r.Verdict == VerdictValid && rs != nil {
		// Every check passed, the record-status one too: the record is
		// attested, and its status is what that check found.
		switch rs.State {
		case RecordSuperseded:
			r.Verdict = VerdictSuperseded
		case RecordWithdrawn:
			r.Verdict = VerdictWithdrawn
		}
	}
	r.Valid = r.Verdict == VerdictValid
	if r.Verdict == VerdictInvalid || r.Verdict == VerdictUndecided {
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
	CheckEvidence    = "evidence"        // the anchor's sealed chain evidence is complete and consistent (proof format 2)
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
	case p.Offline:
		// Every chain with a block the verifier trusts; with none, every
		// chain, so that each says what to confirm.
		for _, a := range b.Anchors {
			if len(p.Trusted[a.ChainID]) > 0 {
				required = append(required, a.ChainID)
			}
		}
		if len(required) == 0 {
			required = anchorChains(b)
		}
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
