package main

import (
	"encoding/json"

	"github.com/spf13/cobra"
)

func newInfoCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show what a server is: receipt keys, chains, anchoring addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := newClient(server, "")
			if err != nil {
				return err
			}
			resp, err := client.GetInfoWithResponse(cmd.Context())
			if err != nil {
				return err
			}
			if resp.JSON200 == nil {
				return problemError("info", resp.StatusCode(), resp.Body)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(resp.JSON200)
		},
	}
	cmd.Flags().StringVar(&server, "server", envDefault("ATTESTD_SERVER", defaultServer), "attestd server URL (env ATTESTD_SERVER)")
	return cmd
}
