package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/apikeys"
)

func newKeysCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage submitters' API keys (add, list, revoke) in the keys file",
		Long: `Manage the API keys file that serve --api-keys-file reads. The file holds
only SHA-256 hashes of the keys; a new key is printed once, when it is
added. A running server picks up changes within seconds, without a restart.`,
	}
	cmd.PersistentFlags().StringVar(&file, "file", envDefault("ATTESTD_API_KEYS_FILE", "api-keys"), "the keys file (env ATTESTD_API_KEYS_FILE)")

	var comment, display string
	add := &cobra.Command{
		Use:   "add INSTITUTION [--display NAME]",
		Short: "Create a key for an institution and print it (once)",
		Long: `Create a key for INSTITUTION, a short id of letters, digits and ._-:@
(hopital-saint-louis), and print it once. --display gives the name its
receipts carry instead, any printable text on one line:
  attestd keys add hopital-saint-louis --display "Hôpital Saint-Louis"
The name is signed into every receipt of the institution (the holder and
any verifier see it) and is never in a public answer. A client
certificate whose CommonName is INSTITUTION gets the same name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, e, err := apikeys.AddNamed(file, args[0], display, comment)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "added key %s for %s to %s; it is shown only now:\n", e.Hash.ID(), e.Institution, file)
			fmt.Fprintln(cmd.OutOrStdout(), key)
			return nil
		},
	}
	add.Flags().StringVar(&comment, "comment", "", "a note stored next to the key's hash")
	add.Flags().StringVar(&display, "display", "", `the institution's name in its receipts, e.g. "Hôpital Saint-Louis" (printable UTF-8, one line)`)

	list := &cobra.Command{
		Use:   "list",
		Short: "List institutions and key IDs (never the keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := apikeys.Load(file)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "INSTITUTION\tKEY ID\tDISPLAY NAME\tCOMMENT")
			for _, e := range s.Entries() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.Institution, e.Hash.ID(), s.DisplayName(e.Institution), e.Comment)
			}
			return w.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke KEY-ID|INSTITUTION",
		Short: "Remove a key by its ID, or every key of an institution",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			gone, err := apikeys.Revoke(file, args[0])
			if err != nil {
				return err
			}
			for _, e := range gone {
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s)\n", e.Hash.ID(), e.Institution)
			}
			return nil
		},
	}
	cmd.AddCommand(add, list, revoke)
	return cmd
}
