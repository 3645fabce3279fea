package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/redact"
	"github.com/attestd/attestd/internal/trust"
	"github.com/attestd/attestd/internal/verify"
)

// checkReceipt is the name of the receipt check in verify's output.
const checkReceipt = "receipt"

func newVerifyCmd() *cobra.Command {
	var (
		proofPath, rpcURL, anchorer, receiptKey string
		trustFile                               string
		requireChains                           []uint
		minConf                                 uint64
		asJSON, anyIssuer                       bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a document against its proof and the chain: VALID, INVALID or UNDECIDED",
		Long: `Recompute FILE's fingerprint (with the nonce and canonicalisation from its
.attest file), check the Merkle path to the root, and read the anchor
transaction from --rpc: it must exist, have succeeded, come from the
issuer's anchoring address, carry this root, size and batch, and sit in a
canonical block with --min-confirmations. The receipt in the .attest file,
if any, must be signed by the issuer's receipt key. Nothing is sent to
attestd; only the chain's JSON-RPC endpoint is asked.

Pin the issuer. The normal way is a trust list (docs/trust-list.md):
--trust FILE or ATTESTD_TRUST names the issuers you trust, each with its
receipt keys (and when each was valid) and, per chain, the address it
anchors from and the sink it anchors to. The anchor must then be sent by
a listed issuer's address to that issuer's sink, and the receipt signed
by that issuer's key valid at the receipt's received time; the verdict
names the issuer and the submitting institution. Edit a list with
attestd trust add|remove|list.

For one issuer, take its anchoring address and receipt key from what it
publishes (attestd info --server URL --export prints them as lines for
eval) and give them as --anchorer and --receipt-key, or as
ATTESTD_ANCHORER and ATTESTD_RECEIPT_KEY. Without a pin a proof is never
VALID: anyone can anchor a root of their own choosing. --any-issuer
accepts any issuer (and ignores --trust); a VALID result then proves only
that the fingerprint existed at that time, not who attested it.

The verdict is printed last on stdout, one line:
  VALID      every check passed against the pinned issuer (with
             --any-issuer: "VALID (existence only)")
  INVALID    some evidence is false (each false check is marked FAIL)
  UNDECIDED  nothing is false, but something could not be checked (marked ??):
             the endpoint is unreachable, no proof yet, not enough
             confirmations yet, or the issuer is not pinned

Exit status: 0 valid, 1 invalid (some evidence is false), 2 usage error or
unreadable input, 3 undecided (could not decide; try again later, or pin
the issuer).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc := args[0]
			if proofPath == "" {
				proofPath = attestfile.PathFor(doc)
			}
			f, err := attestfile.Read(proofPath)
			if err != nil {
				return err
			}
			var list *trust.List
			if trustFile != "" && !anyIssuer {
				if anchorer != "" || receiptKey != "" {
					return errors.New("give either --trust (ATTESTD_TRUST) or --anchorer and --receipt-key (ATTESTD_ANCHORER, ATTESTD_RECEIPT_KEY), not both")
				}
				if list, err = trust.Load(trustFile); err != nil {
					return fmt.Errorf("--trust: %w", err)
				}
			}
			var pin *common.Address
			if anchorer != "" {
				if !common.IsHexAddress(anchorer) {
					return fmt.Errorf("--anchorer: %q is not an address", anchorer)
				}
				a := common.HexToAddress(anchorer)
				pin = &a
			}
			var pub ed25519.PublicKey
			if receiptKey != "" {
				b, err := base64.StdEncoding.DecodeString(receiptKey)
				if err != nil || len(b) != ed25519.PublicKeySize {
					return errors.New("--receipt-key: want the base64 Ed25519 public key from attestd info")
				}
				pub = b
			}
			fp, _, err := fingerprint.HashDocument(doc, f.Canonicalization, f.Nonce(), nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.Proof == nil {
				res := verify.Result{}
				res.Add(verify.Check{Name: verify.CheckChains, State: verify.StateUndecided,
					Detail: fmt.Sprintf("no proof in %s yet: run \"attestd upgrade %s\" once the batch is anchored", proofPath, doc)})
				return report(out, doc, res, "", asJSON)
			}
			ctx := cmd.Context()
			client, err := ethclient.DialContext(ctx, rpcURL)
			if err != nil {
				return fmt.Errorf("--rpc: %w", err)
			}
			defer client.Close()
			// Its errors name no more of the URL than scheme and host: the
			// output gets pasted into tickets and e-mails.
			reader := redact.Chain(client)
			pins := map[uint64]common.Address{}
			chains := map[uint64]verify.Chain{}
			if id, err := reader.ChainID(ctx); err == nil && id.IsUint64() {
				chains[id.Uint64()] = reader
				if pin != nil {
					pins[id.Uint64()] = *pin
				}
			} else if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "attestd: the endpoint %s did not answer: %v\n", redact.URL(rpcURL), err)
				for _, a := range f.Proof.Anchors { // report it per chain as a named check
					chains[a.ChainID] = reader
					if pin != nil {
						pins[a.ChainID] = *pin
					}
				}
			}
			policy := verify.Policy{MinConfirmations: minConf, Anchorers: pins, AnyIssuer: anyIssuer}
			if list != nil {
				policy.Issuers = list
			}
			for _, id := range requireChains {
				policy.RequiredChains = append(policy.RequiredChains, uint64(id))
			}
			res := verify.Verify(ctx, f.Proof, &fp, chains, policy)
			if list != nil {
				c, ok := trustReceiptCheck(f, list, res.Issuer)
				if ok {
					res.Add(c)
				}
				return report(out, doc, res, attestedBy(res, list, f), asJSON)
			}
			if c, ok := receiptCheck(f, pub, anyIssuer); ok {
				res.Add(c)
			}
			return report(out, doc, res, "", asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&proofPath, "proof", "", "the .attest file (default FILE.attest)")
	fl.StringVar(&rpcURL, "rpc", envDefault("ATTESTD_RPC", defaultRPC), "JSON-RPC endpoint of the anchoring chain (env ATTESTD_RPC)")
	fl.StringVar(&anchorer, "anchorer", envDefault("ATTESTD_ANCHORER", ""), "pin the issuer's anchoring address, from its attestd info (env ATTESTD_ANCHORER)")
	fl.StringVar(&receiptKey, "receipt-key", envDefault("ATTESTD_RECEIPT_KEY", ""), "pin the issuer's base64 Ed25519 receipt key, from its attestd info (env ATTESTD_RECEIPT_KEY)")
	fl.StringVar(&trustFile, "trust", envDefault("ATTESTD_TRUST", ""), "the issuers you trust: a trust list (docs/trust-list.md; env ATTESTD_TRUST)")
	fl.BoolVar(&anyIssuer, "any-issuer", false, "accept any issuer: VALID then proves only existence at that time, not who attested it")
	fl.UintSliceVar(&requireChains, "require-chain", nil, "chain IDs that must be anchored (default: the --rpc endpoint's)")
	fl.Uint64Var(&minConf, "min-confirmations", 1, "blocks required on top of and including the anchor's")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON (with its verdict); the exit status is the same")
	return cmd
}

// receiptCheck checks the .attest file's receipt against the pinned key.
// It returns false when there is nothing to report: no receipt and no key.
func receiptCheck(f *attestfile.File, pub ed25519.PublicKey, anyIssuer bool) (verify.Check, bool) {
	c := verify.Check{Name: checkReceipt}
	switch {
	case f.Receipt == nil && pub == nil:
		return c, false
	case f.Receipt == nil:
		c.State, c.Detail = verify.StateUndecided, "the .attest file holds no receipt to check against --receipt-key; verify without a receipt key to rely on the chain alone"
	case pub != nil:
		if err := receipt.Verify(*f.Receipt, pub); err != nil {
			c.State, c.Detail = verify.StateFailed, "the receipt was not signed by the pinned receipt key: "+err.Error()
		} else {
			c.State, c.Detail = verify.StateOK, "signed by the pinned receipt key "+receipt.KeyID(pub)
		}
	case anyIssuer:
		c.State, c.Detail = verify.StateOK, fmt.Sprintf("not checked: the receipt names key %s, but no receipt key is pinned (--any-issuer)", f.Receipt.KeyID)
	default:
		c.State, c.Detail = verify.StateUndecided, fmt.Sprintf("the receipt names key %s, but nothing says that key is the issuer's: pin the receipt key the issuer publishes (attestd info) with --receipt-key or ATTESTD_RECEIPT_KEY, or accept any issuer with --any-issuer", f.Receipt.KeyID)
	}
	return c, true
}

// report prints res (the checks, then the verdict line) and returns the
// exit status as an error: nil for valid.
// by, when not empty, says who attested it (a trust list's issuer and the
// institution): the VALID line is then "VALID: attested <time> <by>".
func report(out io.Writer, doc string, res verify.Result, by string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		for _, c := range res.Checks {
			mark := "ok  "
			switch c.State {
			case verify.StateFailed:
				mark = "FAIL"
			case verify.StateUndecided:
				mark = "??  "
			}
			fmt.Fprintf(out, "%s %-28s %s\n", mark, c.Name, c.Detail)
		}
	}
	names := func(st verify.State) string {
		var n []string
		for _, c := range res.Checks {
			if c.State == st {
				n = append(n, c.Name)
			}
		}
		return strings.Join(n, ", ")
	}
	switch res.Verdict {
	case verify.VerdictValid:
		if asJSON {
			return nil
		}
		when := res.AttestedAt.Format("2006-01-02 15:04:05 MST")
		if by != "" && !res.ExistenceOnly {
			fmt.Fprintf(out, "VALID: attested %s %s\n", when, by)
		} else if res.ExistenceOnly {
			fmt.Fprintf(out, "VALID (existence only): %s existed as of %s. The anchoring address was not pinned (--any-issuer): this does not show who attested it.\n", doc, when)
		} else {
			fmt.Fprintf(out, "VALID: %s is attested by the pinned issuer as of %s\n", doc, when)
		}
		return nil
	case verify.VerdictInvalid:
		if !asJSON {
			fmt.Fprintf(out, "INVALID: some evidence is false (%s)\n", names(verify.StateFailed))
		}
		return &exitCode{code: exitInvalid}
	default:
		if !asJSON {
			fmt.Fprintf(out, "UNDECIDED: could not check %s; nothing checked was false. See the lines marked ?? for what to do.\n", names(verify.StateUndecided))
		}
		return &exitCode{code: exitUndecided}
	}
}

// trustReceiptCheck checks the .attest file's receipt against a trust
// list: signed by a listed issuer's key, dated (received time) within that
// key's validity, and — when the chain named one — by the issuer that
// anchored it. It returns false when there is no receipt.
func trustReceiptCheck(f *attestfile.File, list *trust.List, anchoredBy string) (verify.Check, bool) {
	c := verify.Check{Name: checkReceipt}
	if f.Receipt == nil {
		return c, false
	}
	r := *f.Receipt
	var owner *trust.Entry
	var key *trust.Key
	for i := range list.Issuers {
		for j, k := range list.Issuers[i].ReceiptKeys {
			if receipt.KeyID(k.PublicKey) == r.KeyID && receipt.Verify(r, k.PublicKey) == nil {
				owner, key = &list.Issuers[i], &list.Issuers[i].ReceiptKeys[j]
			}
		}
	}
	received := r.ReceivedAt.UTC().Format("2006-01-02 15:04:05 MST")
	switch {
	case owner == nil:
		c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt is not signed by any receipt key in your trust list (it names key %s)", r.KeyID)
	case !key.ValidAt(r.ReceivedAt):
		c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt is dated %s, outside the validity of %q's key %s (%s): that key did not vouch for receipts then", received, owner.Name, r.KeyID, key.Period())
	case anchoredBy != "" && owner.Name != anchoredBy:
		c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt is signed by %q, but the anchor is %q's", owner.Name, anchoredBy)
	default:
		c.State, c.Detail = verify.StateOK, fmt.Sprintf("signed by %q's receipt key %s (valid %s); received %s from %s", owner.Name, r.KeyID, key.Period(), received, r.Institution)
	}
	return c, true
}

// attestedBy is the end of a trust-list VALID line: "by <issuer>
// (<jurisdiction>), submitted by <institution>"; "" unless res is valid
// and names its issuer.
func attestedBy(res verify.Result, list *trust.List, f *attestfile.File) string {
	if !res.Valid || res.Issuer == "" {
		return ""
	}
	e := list.Find(res.Issuer)
	if e == nil {
		return ""
	}
	inst := "an institution the .attest file does not name (it holds no receipt)"
	if f.Receipt != nil {
		inst = f.Receipt.Institution
	}
	return fmt.Sprintf("by %s (%s), submitted by %s", e.Name, e.Jurisdiction, inst)
}
