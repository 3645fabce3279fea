package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/client"
	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/statement"
)

// statementFlags are the flags supersede and withdraw share with stamp:
// where the server is and how to authenticate.
type statementFlags struct {
	server, apiKey, apiKeyFile string
	asJSON                     bool
}

func (sf *statementFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.server, "server", "", "attestd server URL (default: ATTESTD_SERVER, else the server the .attest file names)")
	f.StringVar(&sf.apiKey, "api-key", "", "API key; visible to other users in ps: prefer ATTESTD_API_KEY or --api-key-file")
	f.StringVar(&sf.apiKeyFile, "api-key-file", os.Getenv("ATTESTD_API_KEY_FILE"), "file holding the API key (env ATTESTD_API_KEY_FILE)")
	f.BoolVar(&sf.asJSON, "json", false, "print the statement, its fingerprint and its receipt as JSON")
}

// serverFor is the server a statement about the record of f goes to:
// --server, else ATTESTD_SERVER, else the one f names (where the record
// was stamped), else the default.
func (sf *statementFlags) serverFor(f *attestfile.File) string {
	switch {
	case sf.server != "":
		return sf.server
	case os.Getenv("ATTESTD_SERVER") != "":
		return os.Getenv("ATTESTD_SERVER")
	case f.Server != "":
		return f.Server
	}
	return defaultServer
}

// client is the client of the server serverFor(f) names, with the API
// key from the flags or the environment.
func (sf *statementFlags) client(cmd *cobra.Command, f *attestfile.File) (*client.Client, error) {
	apiKey, err := apiKeyFrom(cmd, sf.apiKey, sf.apiKeyFile)
	if err != nil {
		return nil, err
	}
	return newClient(cmd.Context(), sf.serverFor(f), apiKey)
}

const statementExitHelp = `Exit status: 0 the statement is recorded (its receipt checked); 1 the
server refused it (another institution's record: 403; a record it does
not know; a replacement this institution did not submit); 2 usage error,
an unreadable file, or the server could not be reached.`

func newSupersedeCmd() *cobra.Command {
	var sf statementFlags
	var canon, mode string
	var noBlind bool
	cmd := &cobra.Command{
		Use:   "supersede OLD.attest NEWFILE",
		Short: "Stamp a corrected version of a record and record that it supersedes the old one",
		Long: `Stamp NEWFILE as stamp does (hashed and blinded here, NEWFILE.attest written
once its receipt is in hand), then record with the server that it
supersedes the record of OLD.attest. Verifiers of the old record then get
"SUPERSEDED by <NEWFILE's fingerprint> on <date>" (exit 4) once the
statement is anchored.

Only the institution that first submitted the old record may: another
gets 403. The statement is itself attested — batched, anchored, with a
receipt — and names no institution. A NEWFILE already stamped (its
.attest holds a receipt for it) is not stamped again, so a supersede
that failed half-way is finished by running it again; the same
correction recorded twice is one statement (for a blinded record).

` + statementExitHelp,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, doc := args[0], args[1]
			f, err := readSubject(old)
			if err != nil {
				return err
			}
			if strings.HasSuffix(doc, attestfile.Ext) || strings.HasSuffix(doc, pendingExt) {
				return &exitCode{code: exitError, msg: fmt.Sprintf("%s is a proof file: give the new version's document, which supersede stamps", doc)}
			}
			canonical, err := fingerprint.ParseCanonicalization(canon)
			if err != nil {
				return err
			}
			perm, err := parseMode(mode)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := sf.client(cmd, f)
			if err != nil {
				return err
			}
			if _, err := c.ReceiptKeys(ctx); err != nil {
				return err
			}
			// Before anything is stamped: is the old record this
			// institution's at all? (Only its first submitter may
			// supersede it; the server decides that with the statement.)
			if err := ownSubmission(ctx, c, f.Fingerprint); err != nil {
				return err
			}
			nf, err := stampedAlready(doc)
			if err != nil {
				return err
			}
			if nf == nil {
				st := &stamper{out: io.Discard, errOut: cmd.ErrOrStderr(), canon: canonical, blind: !noBlind, perm: perm, client: c}
				docs, err := st.classify(ctx, []string{doc})
				if err != nil {
					return err
				}
				if err := st.stamp(ctx, docs); err != nil {
					return err
				}
				if st.failed > 0 {
					return &exitCode{code: exitError, msg: doc + " could not be stamped: the old record is not superseded"}
				}
				if nf, err = attestfile.Read(attestfile.PathFor(doc)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "stamped %s: %s\n", doc, attestfile.PathFor(doc))
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is stamped already (%s): recording the correction\n", doc, attestfile.PathFor(doc))
			}
			repl := nf.Fingerprint.String()
			req := api.StatementRequest{Type: api.StatementRequestTypeSupersede, Subject: f.Fingerprint.String(), Replacement: &repl,
				Nonce: statementNonce(f, "supersede", repl).String()}
			resp, err := makeStatement(ctx, c, req)
			var ec *exitCode
			if errors.As(err, &ec) {
				ec.msg += fmt.Sprintf("\n%s is stamped (%s), but the old record is not superseded", doc, attestfile.PathFor(doc))
				return ec
			}
			if err != nil {
				return fmt.Errorf("%w\n%s is stamped (%s); run supersede again to record the correction", err, doc, attestfile.PathFor(doc))
			}
			return printStatement(cmd.OutOrStdout(), sf.asJSON, resp,
				fmt.Sprintf("SUPERSEDED: %s (%s) by %s (%s)", old, f.Fingerprint, doc, repl))
		},
	}
	sf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&mode, "mode", "0600", "permission bits of NEWFILE.attest, octal (it holds the blinding nonce)")
	fl.StringVar(&canon, "canon", "none", "canonicalisation of NEWFILE: none or jcs (RFC 8785 JSON)")
	fl.BoolVar(&noBlind, "no-blind", false, "submit NEWFILE's plain SHA-256 (only for high-entropy documents)")
	return cmd
}

func newWithdrawCmd() *cobra.Command {
	var sf statementFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "withdraw FILE.attest --reason entered-in-error|superseded|other",
		Short: "Record that a record is withdrawn",
		Long: `Record with the server that the record of FILE.attest is withdrawn, for a
reason: entered-in-error (it should never have been issued), superseded
(replaced by a version outside attestd; to name one stamped with attestd
use supersede), or other. Verifiers of the record then get "WITHDRAWN on
<date> (reason)" (exit 5) once the statement is anchored. A withdrawal
stands whatever supersede statements say, and nothing is ever deleted.

Only the institution that first submitted the record may: another gets
403. The statement is itself attested — batched, anchored, with a
receipt — and names no institution. The same withdrawal recorded twice
is one statement (for a blinded record).

` + statementExitHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := statement.ParseReason(reason)
			if err != nil {
				return &exitCode{code: exitError, msg: "--reason: want entered-in-error, superseded or other"}
			}
			f, err := readSubject(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := sf.client(cmd, f)
			if err != nil {
				return err
			}
			wr := api.WithdrawReason(r)
			req := api.StatementRequest{Type: api.StatementRequestTypeWithdraw, Subject: f.Fingerprint.String(), Reason: &wr,
				Nonce: statementNonce(f, "withdraw", string(r)).String()}
			resp, err := makeStatement(ctx, c, req)
			if err != nil {
				return err
			}
			return printStatement(cmd.OutOrStdout(), sf.asJSON, resp, fmt.Sprintf("WITHDRAWN: %s (%s), %s", args[0], f.Fingerprint, r))
		},
	}
	sf.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why: entered-in-error, superseded or other (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

// ownSubmission refuses (exit 1) a record this institution never
// submitted, asking GET /v1/submissions/{fp}: it answers 404 alike for an
// unknown fingerprint and another institution's.
func ownSubmission(ctx context.Context, c *client.Client, fp fingerprint.Fingerprint) error {
	ok, err := c.Submitted(ctx, fp)
	if err != nil {
		return err
	}
	if !ok {
		return &exitCode{code: exitInvalid, msg: fmt.Sprintf("the server knows no submission of %s by this institution: only the institution that first submitted a record may supersede it (nothing was stamped)", fp)}
	}
	return nil
}

// readSubject reads the .attest of the record a statement is about.
func readSubject(path string) (*attestfile.File, error) {
	if !strings.HasSuffix(path, attestfile.Ext) {
		if _, err := os.Stat(attestfile.PathFor(path)); err == nil {
			return nil, &exitCode{code: exitError, msg: fmt.Sprintf("%s is the document: give its proof file, %s", path, attestfile.PathFor(path))}
		}
		return nil, &exitCode{code: exitError, msg: fmt.Sprintf("%s is not a .attest file: give the record's proof file (DOC%s)", path, attestfile.Ext)}
	}
	return attestfile.Read(path)
}

// stampedAlready returns doc's .attest when it holds a receipt for doc as
// it is now (its fingerprint recomputed with the file's nonce and
// canonicalisation); nil when doc has no .attest or one without a receipt
// (stamp settles that); an error when the .attest is another document's.
func stampedAlready(doc string) (*attestfile.File, error) {
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	fp, _, err := fingerprint.HashDocument(doc, f.Canonicalization, f.Nonce(), nil)
	if err != nil {
		return nil, err
	}
	switch {
	case fp != f.Fingerprint:
		return nil, &exitCode{code: exitError, msg: fmt.Sprintf("%s is not the proof of %s as it is now (the document changed after it was stamped?): move it away, or give another file", attestfile.PathFor(doc), doc)}
	case f.Receipt == nil:
		return nil, nil // stamp decides (classify): stamped again when the server does not know it
	}
	return f, nil
}

// statementNonce is the nonce of a statement about the record of f. For a
// blinded record it is derived from the record's own secret nonce and what
// the statement says, so that the same statement made again (a retry
// after a lost answer) is the same statement, and nobody without the
// .attest can predict it; for an unblinded record it is random.
func statementNonce(f *attestfile.File, what, arg string) fingerprint.Nonce {
	if n := f.Nonce(); n != nil {
		return fingerprint.Nonce(sha256.Sum256([]byte("attestd/statement-nonce/v1\n" + n.String() + "\n" + what + "\n" + arg + "\n")))
	}
	n, err := fingerprint.NewNonce()
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // as NewNonce's other callers: no safe way on
	}
	return n
}

// makeStatement records req with the server (client.MakeStatement checks
// the answer and its receipt). A refusal (400, 403, 404) is exit 1 with
// the server's words.
func makeStatement(ctx context.Context, c *client.Client, req api.StatementRequest) (*api.StatementResponse, error) {
	resp, err := c.MakeStatement(ctx, req)
	var pe *client.ProblemError
	if errors.As(err, &pe) && (pe.StatusCode == http.StatusBadRequest || pe.StatusCode == http.StatusForbidden || pe.StatusCode == http.StatusNotFound) {
		pe.Op = "the server refused the statement"
		return nil, &exitCode{code: exitInvalid, msg: pe.Error()}
	}
	return resp, err
}

// printStatement says what was recorded; with asJSON the statement, its
// fingerprint and its receipt (to keep).
func printStatement(out io.Writer, asJSON bool, resp *api.StatementResponse, what string) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(resp)
	}
	fmt.Fprintf(out, "%s\nstatement %s, received %s; anchored by %s at the latest. Verifiers see it once it is anchored.\n",
		what, resp.Fingerprint, resp.Receipt.ReceivedAt.Local().Format("2006-01-02 15:04:05 MST"), resp.Receipt.Deadline.Local().Format("2006-01-02 15:04:05 MST"))
	return nil
}
