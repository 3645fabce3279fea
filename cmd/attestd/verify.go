package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"

	"github.com/attestd/attestd/client"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/verify"
)

// verifyHelp is verify's --help text: what it checks, the policy, the
// verdict and the exit status.
const verifyHelp = `Recompute FILE's fingerprint (with the nonce and canonicalisation from its
.attest file), check the Merkle path to the root, and read each anchor
transaction from the chain endpoints given with --rpc: it must exist, have
succeeded, come from the issuer's anchoring address, carry this root, size
and batch, and sit in a canonical block with --min-confirmations. The
receipt in the .attest file, if any, must be signed by the issuer's
receipt key. Only the chain endpoints are asked about the proof; attestd is
asked, once it checks out, whether the record was since corrected or
withdrawn (below), and each answer is checked on the chain.

Endpoints: --rpc URL is repeatable (or ATTESTD_RPC=URL,URL,...). Each
endpoint is asked which chain it serves; nothing is assumed. Several
endpoints for one chain are cross-checked: every answer used (the
transaction, its receipt, the block at its height, the head) must be the
same from each, or the check anchor[<id>].endpoints_agree is UNDECIDED —
one of them is wrong and nothing says which.

Offline (--offline): no network connection at all, not even to --rpc.
A proof of format 2 carries each anchor's chain evidence: the signed
transaction, its receipt, its block's header, Merkle-Patricia proofs that
both are in that block, and the headers on top of it. What links it to
the real chain is one block hash you trust: --trusted-block ID:HASH (or
ID:NUMBER:HASH; repeat once per chain) must be the hash of one of those
blocks, or --checkpoint FILE (made by attestd checkpoint) holds it. The
confirmations count up to that block. Without one, each chain is
UNDECIDED and says which block's hash to confirm and how. With endpoints
(online), such a proof is checked the same way, and the endpoints are
asked only for the hash of the anchor's block and the head.

Policy (--require):
  (default)  every chain the proof is anchored on that you gave an
             endpoint for must check out, and there must be at least one
  all        every chain the proof is anchored on must check out; an
             anchor on a chain you gave no endpoint for is UNDECIDED
  any        at least one chain's anchor must fully check out, and none
             may be false
  ID[,ID..]  each of these chains must check out

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

Corrections and withdrawals (docs/statements.md). Once the document's own
proof checks out, verify learns whether its institution has since
superseded or withdrawn the record (check record_status):
  online     from the issuer's attestd (--server URL, default ATTESTD_SERVER,
             else the server the .attest file names): it lists the
             statements about the record, each with its own proof, which is
             checked against the chain like the document's, so a server
             cannot make up a withdrawal; it can leave one out, which
             nothing online shows
  --status F from the issuer's status file (attestd status-export), online
             or --offline: its signature must be by the issuer's receipt
             key of its date in your trust list (or --receipt-key), and it
             must be less than --status-max-age old and not dated in the
             future; otherwise it is refused (exit 2)
  --no-status  not asked: VALID then says nothing of corrections
A statement that cannot be checked (not anchored yet, a proof that does
not check out, a server that does not answer, offline without --status)
is never taken as true nor ignored: the verdict is UNDECIDED and says so.

The verdict is the first line on stdout, then each check with its state
and what it asks, in plain words:
  VALID       every check passed against the pinned issuer (with
              --any-issuer: "VALID (existence only)"), and no correction
              or withdrawal is known
  SUPERSEDED  attested, but its institution has since recorded a
              corrected version: "SUPERSEDED by <fingerprint> on <date>"
  WITHDRAWN   attested, but its institution has since withdrawn it:
              "WITHDRAWN on <date> (reason)"
  INVALID     some evidence is false (each false check is marked FAILED)
  UNDECIDED   nothing is false, but something could not be checked (marked
              UNDECIDED): an endpoint is unreachable, there is no proof
              yet, not enough confirmations yet, a required chain has no
              endpoint, the endpoints disagree, the issuer is not pinned,
              or the record's status could not be learned
--json prints the same result as JSON (verdict, the checks with their
state, record_status); the exit status is the same.

Exit status:
  0  VALID
  1  INVALID: some evidence is false
  2  usage error, or an unreadable document, .attest or status file, or a
     status file refused (forged, another issuer's key, too old, dated in
     the future)
  3  UNDECIDED: could not decide; try again later, give an endpoint, pin
     the issuer, or give the issuer's status file
  4  SUPERSEDED: attested, and since replaced by a corrected version
  5  WITHDRAWN: attested, and since withdrawn by its institution`

func newVerifyCmd() *cobra.Command {
	var (
		proofPath, anchorer, receiptKey, require string
		trustFile                                string
		rpcURLs, trustedBlocks, checkpoints      []string
		offline                                  bool
		requireChains                            []uint
		minConf                                  uint64
		asJSON, anyIssuer, recursive             bool
		statusServer, statusPath                 string
		statusMaxAge                             time.Duration
		noStatus                                 bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE | verify -r DIR...",
		Short: "Check a document against its proof and the chain: VALID, SUPERSEDED, WITHDRAWN, INVALID or UNDECIDED",
		Long:  verifyHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if r, _ := cmd.Flags().GetBool("recursive"); r {
				return cobra.MinimumNArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			doc := args[0]
			if !recursive && proofPath == "" && strings.HasSuffix(doc, attestfile.Ext) {
				if _, err := os.Stat(strings.TrimSuffix(doc, attestfile.Ext)); err == nil {
					return &exitCode{code: exitError, msg: fmt.Sprintf("%s is the proof, not the document: verify %s (its .attest is found beside it), or --proof %s DOCUMENT", doc, strings.TrimSuffix(doc, attestfile.Ext), doc)}
				}
			}
			mode, named, err := verify.ParseRequire(require)
			if err != nil {
				return fmt.Errorf("--require: %w", err)
			}
			if len(requireChains) > 0 {
				if cmd.Flags().Changed("require") {
					return errors.New("--require-chain and --require: give one (--require ID,ID)")
				}
				for _, id := range requireChains {
					named = append(named, uint64(id))
				}
			}
			trusted, err := trustedFrom(trustedBlocks)
			if err != nil {
				return err
			}
			var cps []*client.Checkpoint
			for _, path := range checkpoints {
				cp, err := client.LoadCheckpoint(path)
				if err != nil {
					return fmt.Errorf("--checkpoint: %w", err)
				}
				cps = append(cps, cp)
			}
			if (len(trusted) > 0 || len(cps) > 0) && !offline {
				return errors.New("--trusted-block and --checkpoint are for --offline")
			}
			urls := rpcURLs
			if offline {
				urls = nil // not even a connection to what --rpc or ATTESTD_RPC names
			} else if !cmd.Flags().Changed("rpc") {
				urls = nil
				for u := range strings.SplitSeq(envDefault("ATTESTD_RPC", defaultRPC), ",") {
					if u = strings.TrimSpace(u); u != "" {
						urls = append(urls, u)
					}
				}
			}
			if len(urls) == 0 && !offline {
				return errors.New("--rpc: give at least one chain endpoint")
			}
			for _, u := range urls {
				// Not a host name alone: "geth.ipc" is a socket path.
				if err := needScheme("--rpc", u, false); err != nil {
					return err
				}
			}
			cfg := client.VerifierConfig{RPC: urls, Offline: offline, Trusted: trusted, Checkpoints: cps,
				AnyIssuer: anyIssuer, Require: mode, RequiredChains: named, MinConfirmations: minConf}
			var list *client.TrustList
			if trustFile != "" && !anyIssuer {
				if anchorer != "" || receiptKey != "" {
					return errors.New("give either --trust (ATTESTD_TRUST) or --anchorer and --receipt-key (ATTESTD_ANCHORER, ATTESTD_RECEIPT_KEY), not both")
				}
				if list, err = client.LoadTrustList(trustFile); err != nil {
					return fmt.Errorf("--trust: %w", err)
				}
				cfg.Trust = list
			}
			if anchorer != "" {
				if !common.IsHexAddress(anchorer) {
					return fmt.Errorf("--anchorer: %q is not an address", anchorer)
				}
				cfg.Anchorer = common.HexToAddress(anchorer)
			}
			if receiptKey != "" {
				b, err := base64.StdEncoding.DecodeString(receiptKey)
				if err != nil || len(b) != ed25519.PublicKeySize {
					return errors.New("--receipt-key: want the base64 Ed25519 public key from attestd info")
				}
				cfg.ReceiptKey = b
			}
			status := &statusLookup{skip: noStatus, offline: offline, server: statusServer, clients: map[string]*client.Client{}}
			switch {
			case noStatus && (statusPath != "" || statusServer != ""):
				return errors.New("--no-status: give it alone, without --status or --server")
			case offline && statusServer != "":
				return errors.New("--server is asked online; offline, give the issuer's status file with --status FILE")
			case statusPath != "" && statusServer != "":
				return errors.New("--status and --server: give one (the status file, or the server to ask)")
			case statusPath != "":
				if status.file, err = loadStatusFile(statusPath, list, cfg.ReceiptKey, time.Now(), statusMaxAge); err != nil {
					return &exitCode{code: exitError, msg: err.Error()}
				}
			}
			ctx := cmd.Context()
			v, err := client.NewVerifier(ctx, cfg)
			if err != nil {
				return err
			}
			defer v.Close()
			for _, err := range v.Unanswered() {
				fmt.Fprintf(cmd.ErrOrStderr(), "attestd: %v\n", err)
			}
			// check verifies one document against its .attest: the result,
			// and who attested it (the VALID line's end) with a trust list.
			check := func(doc, proofPath string) (client.Result, string, error) {
				f, err := client.ReadAttest(proofPath)
				if err != nil {
					return client.Result{}, "", err
				}
				res, err := v.VerifyFile(ctx, doc, f)
				if err != nil {
					return client.Result{}, "", err
				}
				// Only once everything about the document checked out: has
				// it since been corrected or withdrawn?
				status.check(ctx, &res, f, v)
				if list != nil {
					return res, attestedBy(res, list, f), nil
				}
				return res, "", nil
			}
			out := cmd.OutOrStdout()
			if recursive {
				return verifyTree(out, cmd.ErrOrStderr(), args, check, asJSON)
			}
			if proofPath == "" {
				proofPath = attestfile.PathFor(doc)
			}
			res, by, err := check(doc, proofPath)
			if err != nil {
				return err
			}
			return report(out, doc, res, by, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&proofPath, "proof", "", "the .attest file (default FILE.attest)")
	fl.StringArrayVar(&rpcURLs, "rpc", nil, "JSON-RPC endpoint of a chain; repeat for several chains or to cross-check one (env ATTESTD_RPC, comma-separated; default "+defaultRPC+")")
	fl.StringVar(&require, "require", "", "which chains must check out: all, any, or chain IDs separated by commas (default: every anchored chain with an endpoint, at least one)")
	fl.StringVar(&anchorer, "anchorer", envDefault("ATTESTD_ANCHORER", ""), "pin the issuer's anchoring address, from its attestd info (env ATTESTD_ANCHORER)")
	fl.StringVar(&receiptKey, "receipt-key", envDefault("ATTESTD_RECEIPT_KEY", ""), "pin the issuer's base64 Ed25519 receipt key, from its attestd info (env ATTESTD_RECEIPT_KEY)")
	fl.StringVar(&trustFile, "trust", envDefault("ATTESTD_TRUST", ""), "the issuers you trust: a trust list (docs/trust-list.md; env ATTESTD_TRUST)")
	fl.BoolVar(&anyIssuer, "any-issuer", false, "accept any issuer: VALID then proves only existence at that time, not who attested it")
	fl.UintSliceVar(&requireChains, "require-chain", nil, "chain IDs that must be anchored (the same as --require ID,ID)")
	_ = fl.MarkDeprecated("require-chain", "use --require ID[,ID...]")
	fl.Uint64Var(&minConf, "min-confirmations", 1, "blocks required on top of and including the anchor's")
	fl.BoolVar(&offline, "offline", false, "no network at all: check each anchor from the proof's chain evidence against a block hash you trust")
	fl.StringArrayVar(&trustedBlocks, "trusted-block", nil, "with --offline: ID:HASH or ID:NUMBER:HASH, a block hash of chain ID you trust (from a node, an explorer, a checkpoint); repeat once per chain")
	fl.StringArrayVar(&checkpoints, "checkpoint", nil, "with --offline: a checkpoint file (attestd checkpoint) whose block hashes you trust; repeatable")
	fl.BoolVarP(&recursive, "recursive", "r", false, "verify every document under each DIR that has a .attest: a table, and a non-zero exit if any is not VALID")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON (with its verdict); the exit status is the same")
	fl.StringVar(&statusServer, "server", "", "online: the issuer's attestd to ask whether the record was corrected or withdrawn (default: ATTESTD_SERVER, else the server the .attest file names)")
	fl.StringVar(&statusPath, "status", "", "the issuer's status file (attestd status-export): whether the record was corrected or withdrawn, without asking a server (online or --offline)")
	fl.DurationVar(&statusMaxAge, "status-max-age", statement.DefaultMaxAge, "refuse a --status file issued longer ago than this")
	fl.BoolVar(&noStatus, "no-status", false, "do not learn whether the record was corrected or withdrawn: VALID then says nothing of it")
	return cmd
}

// report prints res — the verdict line first, then each check with its
// state, the question it answers and what was found — and returns the
// exit status as an error: nil for valid. With asJSON it prints res as
// JSON instead (its verdict first).
//
// by, when not empty, says who attested it (a trust list's issuer and the
// institution): the VALID line is then "VALID: attested <time> <by>".
func report(out io.Writer, doc string, res verify.Result, by string, asJSON bool) error {
	var code error
	if c := exitFor(res.Verdict); c != 0 {
		code = &exitCode{code: c}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		return code
	}
	fmt.Fprintln(out, verdictLine(doc, res, by))
	if rs := res.RecordStatus; res.Verdict == verify.VerdictValid && rs != nil && rs.State == verify.RecordNotChecked {
		fmt.Fprintf(out, "(Whether this record was since corrected or withdrawn was not checked: %s.)\n", rs.Source)
	}
	fmt.Fprintln(out)
	for _, c := range res.Checks {
		mark := "ok"
		switch c.State {
		case verify.StateFailed:
			mark = "FAILED"
		case verify.StateUndecided:
			mark = "UNDECIDED"
			if c.Optional {
				mark = "not needed"
			}
		}
		q := verify.Explain(c.Name)
		fmt.Fprintf(out, "  %-10s %s  %s\n", mark, c.Name, q)
		if c.Detail != "" {
			fmt.Fprintf(out, "  %-10s %s\n", "", c.Detail)
		}
	}
	return code
}

// trustedFrom gathers the block hashes the verifier trusts, by chain, from
// --trusted-block values (ID:HASH or ID:NUMBER:HASH).
func trustedFrom(flags []string) (map[uint64][]verify.TrustedBlock, error) {
	out := map[uint64][]verify.TrustedBlock{}
	for _, v := range flags {
		parts := strings.Split(v, ":")
		bad := fmt.Errorf("--trusted-block %q: want ID:HASH or ID:NUMBER:HASH, e.g. 1337:0x%s", clip(v), strings.Repeat("ab", 32))
		if len(parts) != 2 && len(parts) != 3 {
			return nil, bad
		}
		id, err := strconv.ParseUint(parts[0], 10, 64)
		if err != nil || id == 0 {
			return nil, bad
		}
		var t verify.TrustedBlock
		if len(parts) == 3 {
			if t.Number, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
				return nil, bad
			}
			t.HasNumber = true
		}
		h := parts[len(parts)-1]
		if len(h) != 66 || !strings.HasPrefix(h, "0x") {
			return nil, bad
		}
		if _, err := hex.DecodeString(h[2:]); err != nil {
			return nil, bad
		}
		t.Hash = common.HexToHash(h)
		out[id] = append(out[id], t)
	}
	return out, nil
}

// verdictLine is the first line of verify's output.
func verdictLine(doc string, res verify.Result, by string) string {
	names := func(st verify.State) string {
		var n []string
		for _, c := range res.Checks {
			if c.State == st && !c.Optional {
				n = append(n, c.Name)
			}
		}
		return strings.Join(n, ", ")
	}
	switch res.Verdict {
	case verify.VerdictValid:
		when := res.AttestedAt.Format("2006-01-02 15:04:05 MST")
		if by != "" && !res.ExistenceOnly {
			return fmt.Sprintf("VALID: attested %s %s", when, by)
		}
		if res.ExistenceOnly {
			return fmt.Sprintf("VALID (existence only): %s existed as of %s. The anchoring address was not pinned (--any-issuer): this does not show who attested it.", doc, when)
		}
		return fmt.Sprintf("VALID: %s is attested by the pinned issuer as of %s", doc, when)
	case verify.VerdictSuperseded, verify.VerdictWithdrawn:
		rs := res.RecordStatus
		attested := fmt.Sprintf("%s was attested %s", doc, res.AttestedAt.Format("2006-01-02 15:04:05 MST"))
		if by != "" && !res.ExistenceOnly {
			attested += " " + by
		}
		on := rs.At.UTC().Format("2006-01-02 15:04:05 MST")
		if res.Verdict == verify.VerdictWithdrawn {
			return fmt.Sprintf("WITHDRAWN on %s (%s): %s, and its institution has since withdrawn it. Do not rely on it.", on, rs.Reason, attested)
		}
		return fmt.Sprintf("SUPERSEDED by %s on %s: %s, and its institution has since replaced it with a corrected version (that fingerprint's document). Use the new version.", rs.Replacement, on, attested)
	case verify.VerdictInvalid:
		return fmt.Sprintf("INVALID: some evidence is false (%s). Do not rely on this proof for %s.", names(verify.StateFailed), doc)
	default:
		var confirm []string
		for _, c := range res.Checks {
			if _, what, ok := strings.Cut(c.Detail, "To decide, confirm "); ok && c.State == verify.StateUndecided && !c.Optional {
				what, _, _ = strings.Cut(what, "; then give it")
				confirm = append(confirm, what)
			}
		}
		if names(verify.StateUndecided) == verify.CheckRecordStatus {
			return fmt.Sprintf("UNDECIDED: the attestation of %s checks out, but whether its institution has since corrected or withdrawn it could not be learned (record_status). Nothing checked was false.", doc)
		}
		if len(confirm) > 0 {
			return fmt.Sprintf("UNDECIDED: offline, nothing links this proof to the real chain yet. Confirm %s; then give it with --trusted-block or --checkpoint. Nothing checked was false.", strings.Join(confirm, "; and "))
		}
		for _, c := range res.Checks {
			if c.State == verify.StateUndecided && !c.Optional && strings.HasSuffix(c.Name, "."+verify.CheckAgree) {
				return fmt.Sprintf("UNDECIDED: the chain servers you gave disagree (%s): nothing checked was false, but this proof cannot be relied on until they agree. See the lines marked UNDECIDED.", names(verify.StateUndecided))
			}
		}
		return fmt.Sprintf("UNDECIDED: could not check %s; nothing checked was false. See the lines marked UNDECIDED for what to do.", names(verify.StateUndecided))
	}
}

// attestedBy is the end of a trust-list VALID line: "by <issuer>
// (<jurisdiction>), submitted by <institution>" (the attestation in a
// SUPERSEDED or WITHDRAWN line too); "" unless res is attested and names
// its issuer.
func attestedBy(res client.Result, list *client.TrustList, f *client.Attest) string {
	attested := res.Valid || res.Verdict == verify.VerdictSuperseded || res.Verdict == verify.VerdictWithdrawn
	if !attested || res.Issuer == "" {
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

// verifyTree verifies every document under roots that has a .attest and
// prints a table (or, with asJSON, one JSON object a line); the exit
// status is the worst: 2 if a file could not be read, else 1 if any is
// INVALID, else 3 if any is UNDECIDED, else 5 if any is WITHDRAWN, else 4
// if any is SUPERSEDED.
func verifyTree(out, errOut io.Writer, roots []string, check func(doc, proof string) (verify.Result, string, error), asJSON bool) error {
	proofs, err := attestFilesUnder(roots)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	worst := 0
	rank := map[int]int{0: 0, exitSuperseded: 1, exitWithdrawn: 2, exitUndecided: 3, exitInvalid: 4, exitError: 5}
	for _, pf := range proofs {
		doc := strings.TrimSuffix(pf, attestfile.Ext)
		verdict, code, detail := "", 0, ""
		res, by, err := check(doc, pf)
		switch {
		case err != nil:
			verdict, code, detail = "UNREADABLE", exitError, err.Error()
		case res.Verdict == verify.VerdictValid:
			verdict, detail = "VALID", by
		case res.Verdict == verify.VerdictSuperseded:
			verdict, code = "SUPERSEDED", exitSuperseded
			detail = fmt.Sprintf("by %s on %s", res.RecordStatus.Replacement, res.RecordStatus.At.UTC().Format("2006-01-02 15:04:05 MST"))
		case res.Verdict == verify.VerdictWithdrawn:
			verdict, code = "WITHDRAWN", exitWithdrawn
			detail = fmt.Sprintf("on %s (%s)", res.RecordStatus.At.UTC().Format("2006-01-02 15:04:05 MST"), res.RecordStatus.Reason)
		case res.Verdict == verify.VerdictInvalid:
			verdict, code = "INVALID", exitInvalid
		default:
			verdict, code = "UNDECIDED", exitUndecided
		}
		if detail == "" {
			var names []string
			for _, c := range res.Checks {
				if c.State != verify.StateOK && !c.Optional {
					names = append(names, c.Name)
				}
			}
			detail = strings.Join(names, ", ")
		}
		counts[verdict]++
		if rank[code] > rank[worst] {
			worst = code
		}
		if asJSON {
			b, _ := json.Marshal(map[string]string{"document": doc, "verdict": verdict, "detail": detail})
			fmt.Fprintln(out, string(b))
		} else {
			fmt.Fprintf(out, "%-10s %s  %s\n", verdict, doc, detail)
		}
	}
	fmt.Fprintf(errOut, "%d document(s): %d VALID, %d INVALID, %d UNDECIDED, %d unreadable, %d SUPERSEDED, %d WITHDRAWN\n", len(proofs), counts["VALID"], counts["INVALID"], counts["UNDECIDED"], counts["UNREADABLE"], counts["SUPERSEDED"], counts["WITHDRAWN"])
	if worst != 0 {
		return &exitCode{code: worst, msg: "not every document is VALID"}
	}
	return nil
}
