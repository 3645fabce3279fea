package main

import (
	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/web"
)

func newVerifierPageCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verifier-page",
		Short: "Print the web verifier page: one self-contained HTML file that works opened from disk",
		Long: `verifier-page prints the web verifier page that attestd serves at / and
/verifier.html: one HTML file with everything inlined, nothing loaded from
anywhere. Save it once (attestd verifier-page > verifier.html) and open it
in a browser, even with no network: the document is hashed in the browser
and checked against the proof's sealed chain evidence and a block hash you
trust, or against JSON-RPC endpoints you choose.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(web.Page())
			return err
		},
	}
}
