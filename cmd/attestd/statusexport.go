package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/statement"
)

func newStatusExportCmd() *cobra.Command {
	var server, out string
	cmd := &cobra.Command{
		Use:   "status-export [--out FILE]",
		Short: "Save the issuer's signed status file (its corrections and withdrawals) for offline verifiers",
		Long: `Fetch the server's status file (GET /v1/status): every supersede and
withdraw statement it recorded, each with the time it was attested,
dated and signed with its receipt key of that time. The running server
makes it, so this works while it serves (the embedded store is locked by
it). The file is checked before it is written: it must parse and verify
with the receipt key the server publishes for its date.

Give the file to verifiers with the documents: attestd verify --offline
--status FILE reports SUPERSEDED or WITHDRAWN from it, after checking its
signature against their trust list and its date (by default it must be
less than a week old: export it again at least that often). It names no
institution. Without --out it is printed on stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := newClient(ctx, server, "")
			if err != nil {
				return err
			}
			body, f, err := c.StatusFile(ctx)
			if err != nil {
				return err
			}
			if out == "" {
				_, err := cmd.OutOrStdout().Write(append(body, '\n'))
				return err
			}
			if err := atomicfile.Write(out, body, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d statement(s), issued %s, signed by receipt key %s; verifiers accept it for %s by default (verify --status-max-age)\n",
				out, len(f.Statements), f.IssuedAt.Time.UTC().Format("2006-01-02 15:04:05 MST"), f.KeyID, statement.DefaultMaxAge)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", envDefault("ATTESTD_SERVER", defaultServer), "attestd server URL (env ATTESTD_SERVER)")
	f.StringVar(&out, "out", "", "write the status file here (atomically, mode 0644: it holds no secret) instead of stdout")
	return cmd
}
