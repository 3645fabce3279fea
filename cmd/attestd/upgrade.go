package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/client"
	"github.com/attestd/attestd/client/api"
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
			ctx := cmd.Context()
			c, err := newClient(ctx, server, "")
			if err != nil {
				return err
			}
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
			opts := client.UpgradeOptions{Wait: wait, AnyChain: waitFor == "any", Poll: poll}
			// One deadline for all: once it has passed, the files left are
			// asked once more each (their proof stored if there is one),
			// not waited for.
			waitCtx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			left := 0
			for _, path := range todo {
				f, err := attestfile.Read(path)
				if err != nil {
					return err
				}
				waited := wait && waitCtx.Err() == nil
				upgrade := func() (*client.Status, error) {
					if waited {
						return c.Upgrade(waitCtx, f, opts)
					}
					o := opts
					o.Wait = false // no --wait, or its time is up: asked once
					return c.Upgrade(ctx, f, o)
				}
				st, err := upgrade()
				if errors.Is(err, client.ErrUnknownFingerprint) && resubmit && f.Receipt != nil {
					if err := resubmitLost(cmd, server, apiKeyFile, path, f); err != nil {
						return err
					}
					st, err = upgrade()
				}
				timedOut := waited && err != nil && waitCtx.Err() != nil && ctx.Err() == nil
				if err != nil && !timedOut {
					return fmt.Errorf("%s: %w", path, err)
				}
				if f.Proof != nil {
					if err := attestfile.Write(path, f, 0); err != nil {
						return err
					}
				}
				var done bool
				switch {
				case !wait:
					done = st.Proof != nil
				case waited:
					done = !timedOut // Upgrade returned with the proof final
				default:
					done = client.Final(st, opts.AnyChain)
				}
				switch {
				case !done:
					left++
					if !wait && !quiet {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, no proof yet\n", path, st.Status)
					}
				case !quiet:
					note := ""
					if slices.ContainsFunc(f.Proof.Anchors, func(a proof.Anchor) bool { return a.NoEvidence == proof.NoEvidencePending }) {
						note = " (chain evidence still pending: upgrade again later for a proof that verifies offline)"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s%s, proof stored%s\n", path, st.Status, chainsSummary(st.Chains), note)
				}
			}
			if quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "%s of %s file(s) upgraded, %s not yet\n", thousands(len(todo)-left), thousands(len(todo)), thousands(left))
			}
			switch {
			case left == 0:
				return nil
			case !wait:
				return &exitCode{code: exitInvalid, msg: fmt.Sprintf("%d file(s) not anchored yet; run again later or use --wait", left)}
			default:
				return &exitCode{code: exitInvalid, msg: fmt.Sprintf("%d file(s) not confirmed within %s", left, timeout)}
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

// chainsSummary says which chains have confirmed, when the server anchors
// on several: " (confirmed on 1337; 1338 anchored)".
func chainsSummary(chains []api.ChainProgress) string {
	if len(chains) < 2 {
		return ""
	}
	var confirmed, others []string
	for _, c := range chains {
		if c.Status == api.StatusConfirmed {
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
	c, err := newClient(ctx, server, key)
	if err != nil {
		return err
	}
	old := f.Receipt.ReceivedAt
	if err := c.Resubmit(ctx, f); err != nil {
		return fmt.Errorf("%s: the server does not know this fingerprint; %w", path, err)
	}
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
