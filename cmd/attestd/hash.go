package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/fingerprint"
)

func newHashCmd() *cobra.Command {
	var canon string
	cmd := &cobra.Command{
		Use:   "hash FILE...",
		Short: "Print the SHA-256 fingerprints of files; nothing is sent",
		Long: `Print the SHA-256 fingerprint of each file, as "<hex>  <file>" lines.
Nothing leaves the machine. --canon jcs hashes JSON records (FHIR
resources…) in RFC 8785 canonical form, so whitespace and key order do not
change the fingerprint. Fingerprints printed here are not blinded: stamp
blinds them before they are sent.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fingerprint.ParseCanonicalization(canon)
			if err != nil {
				return err
			}
			failed := 0
			for _, h := range hashAll(args, c, false, cmd.ErrOrStderr()) {
				if h.err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "attestd: %v\n", h.err)
					failed++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", h.fp, h.path)
			}
			if failed > 0 {
				return &exitCode{code: exitError, msg: fmt.Sprintf("%d file(s) could not be hashed", failed)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&canon, "canon", "none", "canonicalisation before hashing: none or jcs (RFC 8785 JSON)")
	return cmd
}
