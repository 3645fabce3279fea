package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/api"
)

func newInfoCmd() *cobra.Command {
	var (
		server string
		export bool
	)
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show what a server is: receipt keys, chains, anchoring addresses",
		Long: `Show what a server is: its receipt keys, chains and anchoring addresses
(GET /v1/info), as JSON.

--export prints instead the issuer's pins as shell lines for verify:
  eval "$(attestd info --export)"
sets ATTESTD_ANCHORER and ATTESTD_RECEIPT_KEY. Take them from a server you
trust to be the issuer (or from what the issuer publishes): verify trusts
whatever they name.`,
		Args: cobra.NoArgs,
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
			if export {
				lines, err := exportLines(resp.JSON200)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(cmd.OutOrStdout(), lines)
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(resp.JSON200)
		},
	}
	cmd.Flags().StringVar(&server, "server", envDefault("ATTESTD_SERVER", defaultServer), "attestd server URL (env ATTESTD_SERVER)")
	cmd.Flags().BoolVar(&export, "export", false, `print "export ATTESTD_ANCHORER=… ATTESTD_RECEIPT_KEY=…" lines for eval, the pins verify needs`)
	return cmd
}

// exportLines renders the pins of info as shell export lines. verify pins
// one anchoring address, so the chains must share it.
func exportLines(info *api.Info) (string, error) {
	if len(info.Chains) == 0 || len(info.ReceiptKeys) == 0 {
		return "", fmt.Errorf("info: the server publishes %d chain(s) and %d receipt key(s); nothing to pin", len(info.Chains), len(info.ReceiptKeys))
	}
	anchorer := info.Chains[0].Anchorer
	for _, c := range info.Chains[1:] {
		if !strings.EqualFold(c.Anchorer, anchorer) {
			return "", fmt.Errorf("info: the chains have different anchoring addresses (%s on %d, %s on %d): give verify --anchorer for the chain you check", anchorer, info.Chains[0].ChainID, c.Anchorer, c.ChainID)
		}
	}
	if !common.IsHexAddress(anchorer) {
		return "", fmt.Errorf("info: the anchoring address %q is not an address", anchorer)
	}
	key := info.ReceiptKeys[0].PublicKey
	if len(key) != ed25519.PublicKeySize {
		return "", fmt.Errorf("info: the receipt key is %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	// Only hex and base64 characters are printed: safe for eval.
	var b strings.Builder
	fmt.Fprintf(&b, "export ATTESTD_ANCHORER=%s\n", common.HexToAddress(anchorer).Hex())
	fmt.Fprintf(&b, "export ATTESTD_RECEIPT_KEY=%s\n", base64.StdEncoding.EncodeToString(key))
	return b.String(), nil
}
