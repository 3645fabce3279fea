package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/proof"
)

func newUpgradeCmd() *cobra.Command {
	var (
		server, apiKeyFile string
		wait, resubmit     bool
		recursive          bool
		timeout, poll      time.Duration
		waitFor            string
	)
	cmd := &cobra.Command{
		Use:   "upgrade FILE[.attest]... | upgrade -r DIR...",
		Short: "Add the proof bundle to .attest files once their batch is anchored",
		Long: `Fetch the proof of each .attest file's fingerprint and store it in the
file. Without --wait, files whose batch is not anchored yet are left as they
are and the exit status is 1. With --wait, poll until every file's batch is
confirmed (or --timeout) on every chain the server anchors on, or, with
--wait-for any, on at least one of them (the .attest then carries the
anchors mined so far; upgrade it again later for the others).

When the server does not know a fingerprint (404) whose .attest holds a
receipt of this server (its signature checked against the server's
published keys), upgrade submits it again (--resubmit, on by default):
this is how a holder restores what a server restored from an older
backup lost. It needs the institution's API key (ATTESTD_API_KEY or
--api-key-file), and the .attest then holds the new receipt.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if waitFor != "all" && waitFor != "any" {
				return &exitCode{code: exitError, msg: fmt.Sprintf("--wait-for %q: want all or any", waitFor)}
			}
			client, err := newClient(server, "")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			deadline := time.Now().Add(timeout)
			var todo []string
			if recursive {
				if todo, err = attestFilesUnder(args); err != nil {
					return err
				}
			} else {
				for _, a := range args {
					if !strings.HasSuffix(a, attestfile.Ext) {
						a = attestfile.PathFor(a)
					}
					todo = append(todo, a)
				}
			}
			quiet := recursive && len(todo) > 20 // a folder: a summary, not a line a file
			confirmedAt := map[string]time.Time{}
			for {
				var left []string
				for _, path := range todo {
					f, err := attestfile.Read(path)
					if err != nil {
						return err
					}
					resp, err := client.GetFingerprintWithResponse(ctx, f.Fingerprint.String())
					if err != nil {
						return fmt.Errorf("%s: %w", path, err)
					}
					if resp.StatusCode() == http.StatusNotFound && resubmit && f.Receipt != nil {
						if err := resubmitLost(cmd, server, apiKeyFile, path, f); err != nil {
							return err
						}
						left = append(left, path)
						continue
					}
					if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
						return fmt.Errorf("%s: %w", path, problemError("fetching the proof", resp.StatusCode(), resp.Body))
					}
					st := resp.JSON200
					if b := st.Proof; b != nil {
						// The client decoded it as proof.Bundle (after
						// strictResponses refused duplicate or case-variant
						// names); Check is the rest of proof.Parse.
						if err := b.Check(); err != nil {
							return fmt.Errorf("%s: the server's proof: %w", path, err)
						}
						if b.Fingerprint != f.Fingerprint {
							return fmt.Errorf("%s: the server returned a proof for another fingerprint", path)
						}
						f.Proof = b
						if err := attestfile.Write(path, f, 0); err != nil {
							return err
						}
					}
					// Confirmed means with the chain evidence of the confirmed
					// anchors too (collected right after confirmation), so the
					// .attest verifies with no chain endpoint.
					withEvidence := func(c api.ChainProgress) bool {
						return c.Status == "confirmed" && st.Proof != nil && evidenceIn(st.Proof, uint64(c.ChainID))
					}
					allEvidence := st.Status == "confirmed" && !slices.ContainsFunc(st.Chains, func(c api.ChainProgress) bool { return !withEvidence(c) })
					if len(st.Chains) == 0 && st.Proof != nil { // one chain: the status says it
						allEvidence = st.Status == "confirmed" && !slices.ContainsFunc(st.Proof.Anchors, func(a proof.Anchor) bool { return a.NoEvidence == proof.NoEvidencePending })
					}
					// Evidence is collected right after confirmation; an issuer
					// whose endpoint cannot give it (no eth_getBlockReceipts)
					// never will, so confirmed without it is done after a grace.
					if st.Status == "confirmed" && !allEvidence {
						if _, ok := confirmedAt[path]; !ok {
							confirmedAt[path] = time.Now()
						}
						allEvidence = time.Since(confirmedAt[path]) > evidenceGrace
					}
					done := allEvidence || (!wait && st.Proof != nil) ||
						(waitFor == "any" && slices.ContainsFunc(st.Chains, withEvidence))
					if done && quiet {
						continue
					} else if done {
						note := ""
						if st.Proof != nil && slices.ContainsFunc(st.Proof.Anchors, func(a proof.Anchor) bool { return a.NoEvidence == proof.NoEvidencePending }) {
							note = " (chain evidence still pending: upgrade again later for a proof that verifies offline)"
						}
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %s%s, proof stored%s\n", path, st.Status, chainsSummary(st.Chains), note)
					} else {
						left = append(left, path)
						if !wait && !quiet {
							fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, no proof yet\n", path, st.Status)
						}
					}
				}
				if quiet {
					fmt.Fprintf(cmd.OutOrStdout(), "%s of %s file(s) upgraded, %s not yet\n", thousands(len(todo)-len(left)), thousands(len(todo)), thousands(len(left)))
				}
				if len(left) == 0 {
					return nil
				}
				if !wait {
					return &exitCode{code: exitInvalid, msg: fmt.Sprintf("%d file(s) not anchored yet; run again later or use --wait", len(left))}
				}
				if time.Now().After(deadline) {
					return &exitCode{code: exitInvalid, msg: fmt.Sprintf("%d file(s) not confirmed within %s", len(left), timeout)}
				}
				todo = left
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(poll):
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", envDefault("ATTESTD_SERVER", defaultServer), "attestd server URL (env ATTESTD_SERVER)")
	f.BoolVar(&wait, "wait", false, "wait until every batch is confirmed")
	f.DurationVar(&timeout, "timeout", 15*time.Minute, "give up waiting after this long")
	f.StringVar(&waitFor, "wait-for", "all", "with --wait: all (confirmed on every chain the server anchors on) or any (on at least one)")
	f.DurationVar(&poll, "poll", time.Second, "how often to ask while waiting")
	f.BoolVarP(&recursive, "recursive", "r", false, "upgrade every .attest file under each DIR")
	f.BoolVar(&resubmit, "resubmit", true, "submit again a fingerprint the server does not know whose .attest holds a receipt of this server (after a restore)")
	f.StringVar(&apiKeyFile, "api-key-file", os.Getenv("ATTESTD_API_KEY_FILE"), "with --resubmit: file holding the API key (env ATTESTD_API_KEY_FILE; or ATTESTD_API_KEY)")
	return cmd
}

// evidenceGrace is how long upgrade --wait waits, after a batch is
// confirmed, for its chain evidence before it stores the proof without.
const evidenceGrace = 2 * time.Minute

// evidenceIn reports whether b's anchor on chainID is final as to chain
// evidence: it carries its evidence, or the chain cannot have any, or b is
// of a server that issues proof format 1 (no evidence at all).
func evidenceIn(b *proof.Bundle, chainID uint64) bool {
	a, ok := b.Anchor(chainID)
	return ok && (b.Version == proof.VersionV1 || len(a.Evidence) > 0 || a.NoEvidence == proof.NoEvidenceUnsupported)
}

// chainsSummary says which chains have confirmed, when the server anchors
// on several: " (confirmed on 1337; 1338 anchored)".
func chainsSummary(chains []api.ChainProgress) string {
	if len(chains) < 2 {
		return ""
	}
	var confirmed, others []string
	for _, c := range chains {
		if c.Status == "confirmed" {
			confirmed = append(confirmed, fmt.Sprint(c.ChainID))
		} else {
			others = append(others, fmt.Sprintf("%d %s", c.ChainID, c.Status))
		}
	}
	out := " (confirmed on " + strings.Join(confirmed, ", ")
	if len(confirmed) == 0 {
		out = " (confirmed on none"
	}
	if len(others) > 0 {
		out += "; " + strings.Join(others, ", ")
	}
	return out + ")"
}

// resubmitLost submits again the fingerprint of f, which the server does
// not know (404), after checking that f's receipt is one this server
// signed: the server lost it (restored from an older backup). The new
// receipt replaces the old in the .attest at path.
func resubmitLost(cmd *cobra.Command, server, apiKeyFile, path string, f *attestfile.File) error {
	ctx := cmd.Context()
	key, err := apiKeyFrom(cmd, "", apiKeyFile)
	if err != nil {
		return fmt.Errorf("%s: the server does not know this fingerprint, though the .attest holds its receipt; to submit it again: %w", path, err)
	}
	client, err := newClient(server, key)
	if err != nil {
		return err
	}
	keys, err := receiptKeys(ctx, client)
	if err != nil {
		return err
	}
	if err := keys.verify(*f.Receipt); err != nil {
		return fmt.Errorf("%s: the server does not know this fingerprint, and the receipt in the .attest is not one of this server's (%w): not submitted again", path, err)
	}
	resp, err := client.SubmitFingerprintsWithResponse(ctx, api.SubmitRequest{Fingerprints: []api.Fingerprint{f.Fingerprint.String()}})
	if err != nil {
		return fmt.Errorf("%s: submitting again: %w", path, err)
	}
	if resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil || len(resp.JSON202.Receipts) != 1 {
		return fmt.Errorf("%s: %w", path, problemError("submitting again", resp.StatusCode(), resp.Body))
	}
	r := resp.JSON202.Receipts[0]
	if r.Fingerprint != f.Fingerprint {
		return fmt.Errorf("%s: the server returned a receipt for %s", path, r.Fingerprint)
	}
	if err := keys.verify(r); err != nil {
		return fmt.Errorf("%s: the new receipt: %w", path, err)
	}
	old := f.Receipt.ReceivedAt
	f.Receipt = &r
	if err := attestfile.Write(path, f, 0); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: the server did not know it (first received %s): submitted again, new receipt stored\n", path, old.Local().Format("2006-01-02 15:04:05 MST"))
	return nil
}

// attestFilesUnder lists the .attest files under each root (symbolic
// links are not followed).
func attestFilesUnder(roots []string) ([]string, error) {
	var out []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && strings.HasSuffix(p, attestfile.Ext) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
