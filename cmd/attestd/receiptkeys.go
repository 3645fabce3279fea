package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/receipt"
)

// minRotationNotice is the least time between a rotation and the new
// key's start: many times the service's re-read interval
// (app.KeysReloadInterval).
const minRotationNotice = time.Minute

func newReceiptKeysCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "receipt-keys",
		Short: "Rotate and list the receipt signing keys (the keyring serve --receipt-key-file reads)",
		Long: `The receipt key file is a keyring: each key signs the receipts of
fingerprints received in its period, from its Valid-From to the next key's.
A rotation is scheduled: rotate appends a new key valid from --at, every
replica re-reads the file within seconds and all switch at that instant.
Old keys stay in the file, so a fingerprint resubmitted later is still
signed by the key of its own received time, and /v1/info keeps listing them
with their periods. Publish the new key (attestd info --trust-entry) to
the verifiers who trust you before --at.`,
	}
	cmd.PersistentFlags().StringVar(&file, "file", envDefault("ATTESTD_RECEIPT_KEY_FILE", "attestd-data/receipt-key.pem"), "the receipt key file (env ATTESTD_RECEIPT_KEY_FILE)")

	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the key file with one new key, signing from now (serve does this on first start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Lstat(file); err == nil {
				return fmt.Errorf("%s exists: it holds the keys of receipts already given out; rotate instead", file)
			}
			ring, err := receipt.LoadOrCreateKeyring(file, time.Now())
			if err != nil {
				return err
			}
			k := ring.Keys()[0]
			fmt.Fprintf(cmd.OutOrStdout(), "created %s (mode 0600): receipt key %s, signing from %s\n", file, k.ID(), k.ValidFrom.Format(time.RFC3339))
			return nil
		},
	}

	var at string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add a new key that takes over at --at (default: in 24 hours)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			when := now.Add(24 * time.Hour)
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--at %q: want an RFC 3339 time, like 2026-12-08T00:00:00Z", at)
				}
				when = t
			}
			// A running server re-reads the file every few seconds: until
			// it has, it signs with the old key, and a receipt it signs
			// after the new key's start would fall outside the old key's
			// period.
			if when.Before(now.Add(minRotationNotice)) {
				return fmt.Errorf("--at %s is less than %s from now: running servers re-read the key file every few seconds, and until they have, they sign with the old key; give them (and your verifiers) time", when.UTC().Format(time.RFC3339), minRotationNotice)
			}
			k, err := receipt.Rotate(file, when, now)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added receipt key %s, signing from %s; a running server picks it up within seconds\n", k.ID(), k.ValidFrom.Format(time.RFC3339))
			return nil
		},
	}
	rotate.Flags().StringVar(&at, "at", "", "when the new key takes over, RFC 3339, at least a minute from now (default: 24 hours from now, time to publish it)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys and their periods (never a private key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ring, err := receipt.LoadKeyring(file)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY ID\tVALID FROM\tVALID UNTIL")
			for _, k := range ring.Keys() {
				from, until := k.Bounds()
				fmt.Fprintf(w, "%s\t%s\t%s\n", k.ID(), from, until)
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(initCmd, rotate, list)
	return cmd
}
