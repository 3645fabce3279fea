package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"

	"github.com/attestd/attestd/client/api"
)

func newInfoCmd() *cobra.Command {
	var (
		server                            string
		export, entry                     bool
		name, jurisdiction, contact, from string
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
whatever they name.

--trust-entry prints instead the server's entry for a trust list
(docs/trust-list.md), for attestd trust add: its receipt key and, per
chain, its anchoring address and sink, with the --name, --jurisdiction
and --contact you give. /v1/info does not say since when the key signs:
--valid-from says it (default: now; receipts dated earlier will not
verify against the entry).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd.Context(), server, "")
			if err != nil {
				return err
			}
			info, err := c.Info(cmd.Context())
			if err != nil {
				return err
			}
			if entry {
				validFrom := time.Now()
				if from != "" {
					if validFrom, err = time.Parse(time.RFC3339, from); err != nil {
						return fmt.Errorf("--valid-from: want an RFC 3339 time, like 2026-01-02T15:04:05Z: %w", err)
					}
				}
				e, err := trustEntry(info, name, jurisdiction, contact, validFrom)
				if err != nil {
					return err
				}
				b, err := entryJSON(e)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if export {
				lines, err := exportLines(info)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(cmd.OutOrStdout(), lines)
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		},
	}
	cmd.Flags().StringVar(&server, "server", envDefault("ATTESTD_SERVER", defaultServer), "attestd server URL (env ATTESTD_SERVER)")
	cmd.Flags().BoolVar(&export, "export", false, `print "export ATTESTD_ANCHORER=… ATTESTD_RECEIPT_KEY=…" lines for eval, the pins verify needs`)
	cmd.Flags().BoolVar(&entry, "trust-entry", false, "print the server's trust list entry, for attestd trust add")
	cmd.Flags().StringVar(&name, "name", "", "with --trust-entry: the issuer's display name")
	cmd.Flags().StringVar(&jurisdiction, "jurisdiction", "", "with --trust-entry: the issuer's jurisdiction (e.g. TW)")
	cmd.Flags().StringVar(&contact, "contact", "", "with --trust-entry: where the issuer can be reached")
	cmd.Flags().StringVar(&from, "valid-from", "", "with --trust-entry: since when a receipt key that /v1/info gives no start signs (one made before rotation existed), RFC 3339 (default now)")
	cmd.MarkFlagsMutuallyExclusive("trust-entry", "export")
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
	// The key signing now: after a rotation an older receipt needs its own
	// key, which a trust list (info --trust-entry) holds with its period.
	key := info.ReceiptKeys[len(info.ReceiptKeys)-1].PublicKey
	now := time.Now()
	for _, k := range info.ReceiptKeys {
		if (k.ValidFrom == nil || !now.Before(*k.ValidFrom)) && (k.ValidUntil == nil || now.Before(*k.ValidUntil)) {
			key = k.PublicKey
		}
	}
	if len(key) != ed25519.PublicKeySize {
		return "", fmt.Errorf("info: the receipt key is %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	// Only hex and base64 characters are printed: safe for eval.
	var b strings.Builder
	fmt.Fprintf(&b, "export ATTESTD_ANCHORER=%s\n", common.HexToAddress(anchorer).Hex())
	fmt.Fprintf(&b, "export ATTESTD_RECEIPT_KEY=%s\n", base64.StdEncoding.EncodeToString(key))
	return b.String(), nil
}
