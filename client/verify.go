package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/checkpoint"
	"github.com/attestd/attestd/internal/endpoints"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/trust"
	"github.com/attestd/attestd/internal/verify"
)

// Result is a verification's outcome: the Verdict, every Check made with
// its State and, when valid, AttestedAt (the anchoring block's time) and
// Issuer (the trust list's issuer that anchored it). Its JSON is what
// `attestd verify --json` prints.
type Result = verify.Result

// Check is one named check of a [Result]: Name (e.g. "fingerprint",
// "anchor[1].sender"; [Explain] gives the question it answers), State and
// Detail, in words a reader who is not an engineer can follow.
type Check = verify.Check

// Verdict is a [Result]'s outcome.
type Verdict = verify.Verdict

const (
	// VerdictValid: every check passed, against the issuers the verifier
	// trusts (or, with AnyIssuer, any issuer: Result.ExistenceOnly).
	VerdictValid = verify.VerdictValid
	// VerdictInvalid: some evidence is false (the failed checks say
	// which). Do not rely on the document.
	VerdictInvalid = verify.VerdictInvalid
	// VerdictUndecided: nothing checked was false, but something could not
	// be checked — an endpoint unreachable, no proof yet, too few
	// confirmations, endpoints that disagree, no trusted block hash, the
	// issuer not pinned. Never read it as "false": try again or give what
	// the undecided checks ask for.
	VerdictUndecided = verify.VerdictUndecided
)

// State is a [Check]'s outcome: StateOK, StateFailed or StateUndecided.
type State = verify.State

const (
	StateOK        = verify.StateOK        // checked, and it holds
	StateFailed    = verify.StateFailed    // checked, and the evidence is false
	StateUndecided = verify.StateUndecided // could not be checked (yet)
)

// Require says which chains' anchors must check out
// (VerifierConfig.Require).
type Require = verify.Require

const (
	// RequireDefault: every chain the proof anchors on that the verifier
	// has an endpoint for (or, offline, a trusted block of) must check
	// out, and at least one must.
	RequireDefault = verify.RequireDefault
	// RequireAll: every chain the proof anchors on must check out.
	RequireAll = verify.RequireAll
	// RequireAny: one chain's anchor must check out, and none be false.
	RequireAny = verify.RequireAny
)

// TrustedBlock is a block hash the verifier trusts, from a node or
// explorer it trusts or a checkpoint: the hash of block Number of its
// chain when HasNumber, else of some block the verifier took to be one of
// the anchor's.
type TrustedBlock = verify.TrustedBlock

// TrustList is a verifier's list of the issuers it trusts
// (docs/trust-list.md): each with its name, jurisdiction, receipt keys and
// their periods and, per chain, its anchoring address and sink. Find
// returns an issuer by name (Result.Issuer).
type TrustList = trust.List

// TrustEntry is one issuer of a [TrustList]: Name, Jurisdiction, Contact,
// its ReceiptKeys and, per chain, where it anchors (Chains).
type TrustEntry = trust.Entry

// TrustKey is one receipt key of a [TrustEntry] and the period in which
// the receipts it signs are accepted.
type TrustKey = trust.Key

// TrustChain is where a [TrustEntry] anchors on one chain: transactions
// from its Anchorer to its Sink.
type TrustChain = trust.Chain

// Checkpoint is a checkpoint file (`attestd checkpoint`): block hashes
// several endpoints agreed on, for verifying offline.
type Checkpoint = checkpoint.File

// LoadTrustList reads and checks the trust list at path.
func LoadTrustList(path string) (*TrustList, error) { return trust.Load(path) }

// ParseTrustList checks and decodes a trust list's content (its Marshal
// method writes it). A list can also be built in code: a [TrustList] of
// Version 1 and its Add method, which refuses what Parse would.
func ParseTrustList(data []byte) (*TrustList, error) { return trust.Parse(data) }

// LoadCheckpoint reads and checks the checkpoint file at path.
func LoadCheckpoint(path string) (*Checkpoint, error) { return checkpoint.Load(path) }

// Explain returns the question a check answers, in plain words, for a
// [Check]'s Name; "" for a name it does not know.
func Explain(name string) string { return verify.Explain(name) }

// VerifierConfig is what a [Verifier] trusts and requires. It trusts
// nothing from attestd: the chain is read from the endpoints given here
// (or, offline, from the proof's chain evidence tied to a block hash given
// here), and who may attest is pinned here.
type VerifierConfig struct {
	// RPC are chain JSON-RPC endpoints you chose (your own node, a
	// provider you trust). Each is asked which chain it serves; several of
	// one chain are cross-checked, and any disagreement is undecided,
	// never valid. Not used Offline.
	RPC []string

	// Offline connects to nothing: each anchor is checked from the chain
	// evidence in the proof and tied to the chain by a block hash from
	// Trusted or Checkpoints; without one it is undecided, and its check
	// says which block's hash to confirm.
	Offline     bool
	Trusted     map[uint64][]TrustedBlock // by chain ID
	Checkpoints []*Checkpoint

	// Who may attest. Trust (the normal way): the anchor must come from a
	// listed issuer's anchoring address to its sink, and the receipt be
	// signed by that issuer's key of its time. Or, for one issuer,
	// Anchorer (its anchoring address on every chain) and ReceiptKey.
	// With none of them nothing is valid, unless AnyIssuer: then a valid
	// result proves only that the fingerprint existed at that time, not
	// who attested it (Result.ExistenceOnly).
	Trust      *TrustList
	Anchorer   common.Address // zero: not pinned
	ReceiptKey ed25519.PublicKey
	AnyIssuer  bool

	// Require says which chains must check out; RequiredChains, when set,
	// names them instead.
	Require        Require
	RequiredChains []uint64
	// MinConfirmations is the depth an anchor's block needs, itself
	// included (0 means 1).
	MinConfirmations uint64
}

// A Verifier checks documents against their .attest files. Close it when
// done. It is safe for concurrent use.
type Verifier struct {
	cfg     VerifierConfig
	trusted map[uint64][]TrustedBlock
	eps     *endpoints.Set // nil offline
}

// NewVerifier checks cfg and, unless it is Offline, connects to each
// endpoint and asks which chain it serves. An endpoint that does not
// answer is not an error here: the checks of its chain will be undecided
// ([Verifier.Unanswered] says why).
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	switch {
	case !cfg.Offline && len(cfg.RPC) == 0:
		return nil, errors.New("verifier: no chain endpoint: give RPC, or verify Offline")
	case !cfg.Offline && (len(cfg.Trusted) > 0 || len(cfg.Checkpoints) > 0):
		return nil, errors.New("verifier: trusted blocks and checkpoints are for verifying Offline")
	case cfg.Trust != nil && (cfg.Anchorer != common.Address{} || cfg.ReceiptKey != nil):
		return nil, errors.New("verifier: give either a trust list or an anchoring address and receipt key, not both")
	case cfg.Trust != nil && cfg.AnyIssuer:
		return nil, errors.New("verifier: a trust list and AnyIssuer: give one")
	case cfg.ReceiptKey != nil && len(cfg.ReceiptKey) != ed25519.PublicKeySize:
		return nil, fmt.Errorf("verifier: the receipt key is %d bytes, want an Ed25519 public key of %d", len(cfg.ReceiptKey), ed25519.PublicKeySize)
	}
	v := &Verifier{cfg: cfg, trusted: map[uint64][]TrustedBlock{}}
	for id, bs := range cfg.Trusted {
		v.trusted[id] = append(v.trusted[id], bs...)
	}
	for _, cp := range cfg.Checkpoints {
		for _, c := range cp.Chains {
			for _, b := range c.Blocks {
				v.trusted[c.ChainID] = append(v.trusted[c.ChainID], TrustedBlock{Number: b.Number, Hash: b.Hash, HasNumber: true})
			}
		}
	}
	if !cfg.Offline {
		var err error
		if v.eps, err = endpoints.Dial(ctx, cfg.RPC); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Close closes the verifier's connections.
func (v *Verifier) Close() {
	if v.eps != nil {
		v.eps.Close()
	}
}

// Unanswered returns why each endpoint that did not say which chain it
// serves failed (when the Verifier was made); its chain's checks are
// undecided. The errors name no more of an endpoint than its scheme and
// host.
func (v *Verifier) Unanswered() []error {
	if v.eps == nil {
		return nil
	}
	return v.eps.Unanswered
}

// VerifyFile verifies the document at path against its .attest f.
func (v *Verifier) VerifyFile(ctx context.Context, path string, f *Attest) (Result, error) {
	fp, err := hashFileAs(path, f.Canonicalization, f.Nonce())
	if err != nil {
		return Result{}, err
	}
	return v.verify(ctx, fp, f, path), nil
}

// Verify verifies the document read from r against its .attest f: its
// fingerprint computed again (with f's nonce and canonicalization) must be
// the proof's, the proof's Merkle path must lead to its root, each
// required chain's anchoring transaction must carry that root from an
// issuer the verifier trusts in a block deep enough in the chain, and the
// receipt must be signed by that issuer's key of its time.
//
// The error is for a document that could not be read; everything about
// the evidence is in the Result, whose Verdict is the answer: valid,
// invalid (some evidence is false) or undecided (something could not be
// checked; never read it as false).
func (v *Verifier) Verify(ctx context.Context, r io.Reader, f *Attest) (Result, error) {
	fp, err := hashAs(r, f.Canonicalization, f.Nonce())
	if err != nil {
		return Result{}, err
	}
	name := f.Document
	if name == "" {
		name = "DOCUMENT"
	}
	return v.verify(ctx, fp, f, name), nil
}

func (v *Verifier) verify(ctx context.Context, fp Fingerprint, f *Attest, doc string) Result {
	if f.Proof == nil {
		var res Result
		res.Add(Check{Name: verify.CheckChains, State: StateUndecided,
			Detail: fmt.Sprintf("no proof in the .attest file yet: it is added once the batch is anchored (attestd upgrade %s, or Client.Upgrade)", doc)})
		return res
	}
	chains, extra, policy := v.setup(f.Proof)
	res := verify.Verify(ctx, f.Proof, &fp, chains, policy)
	for _, c := range extra {
		res.Add(c)
	}
	if v.cfg.Trust != nil {
		if f.Receipt != nil {
			res.Add(v.cfg.Trust.ReceiptCheck(*f.Receipt, res.Issuer))
		}
		return res
	}
	if c, ok := receiptCheck(f, v.cfg.ReceiptKey, v.cfg.AnyIssuer); ok {
		res.Add(c)
	}
	return res
}

// StatusSource is what a status source (an issuer's server, or its signed
// status file) says about a record: its statements, each checked by
// [Verifier.CheckRecordStatus].
type StatusSource = verify.StatusSource

// CheckRecordStatus adds to res, a VALID result of the record fp whose
// proof is b, whether its institution has since superseded or withdrawn
// it, from what src says: each statement counts only once its own proof
// checks out the way the document's did (the same endpoints, trusted
// blocks and issuers), so a source cannot invent one; a statement that
// cannot be checked makes res undecided, never valid nor withdrawn
// (docs/statements.md). A result that is not VALID is left as it is.
func (v *Verifier) CheckRecordStatus(ctx context.Context, res *Result, fp Fingerprint, b *Bundle, src StatusSource) {
	if res.Verdict != verify.VerdictValid {
		return
	}
	chains, _, policy := v.setup(b)
	verify.CheckRecord(ctx, res, fp, src, chains, policy)
}

// setup is what checking proof b needs: its chains' endpoints (and a check
// for each chain that has none or whose endpoints disagree) and the policy.
func (v *Verifier) setup(b *Bundle) (map[uint64]verify.Chain, []Check, verify.Policy) {
	var chains map[uint64]verify.Chain
	var extra []Check
	if v.eps != nil {
		chains, extra = v.eps.Chains(b)
	}
	pins := map[uint64]common.Address{}
	if pin := v.cfg.Anchorer; pin != (common.Address{}) {
		for id := range chains {
			pins[id] = pin
		}
		for _, a := range b.Anchors {
			pins[a.ChainID] = pin
		}
	}
	policy := verify.Policy{Require: v.cfg.Require, RequiredChains: v.cfg.RequiredChains, MinConfirmations: v.cfg.MinConfirmations,
		Anchorers: pins, AnyIssuer: v.cfg.AnyIssuer, Offline: v.cfg.Offline, Trusted: v.trusted}
	if v.cfg.Trust != nil {
		policy.Issuers = v.cfg.Trust
	}
	return chains, extra, policy
}

// receiptCheck checks the .attest file's receipt against the pinned key.
// It returns false when there is nothing to report: no receipt and no key.
func receiptCheck(f *Attest, pub ed25519.PublicKey, anyIssuer bool) (Check, bool) {
	c := Check{Name: verify.CheckReceipt}
	switch {
	case f.Receipt == nil && pub == nil:
		return c, false
	case f.Receipt == nil:
		c.State, c.Detail = StateUndecided, "the .attest file holds no receipt to check against --receipt-key; verify without a receipt key to rely on the chain alone"
	case pub != nil:
		if err := receipt.Verify(*f.Receipt, pub); err != nil {
			c.State, c.Detail = StateFailed, "the receipt was not signed by the pinned receipt key: "+err.Error()
		} else {
			c.State, c.Detail = StateOK, "signed by the pinned receipt key "+receipt.KeyID(pub)
		}
	case anyIssuer:
		c.State, c.Detail = StateOK, fmt.Sprintf("not checked: the receipt names key %s, but no receipt key is pinned (--any-issuer)", f.Receipt.KeyID)
	default:
		c.State, c.Detail = StateUndecided, fmt.Sprintf("the receipt names key %s, but nothing says that key is the issuer's: pin the receipt key the issuer publishes (attestd info) with --receipt-key or ATTESTD_RECEIPT_KEY, or accept any issuer with --any-issuer", f.Receipt.KeyID)
	}
	return c, true
}
