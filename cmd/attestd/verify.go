package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/verify"
)

func newVerifyCmd() *cobra.Command {
	var (
		proofPath, rpcURL, anchorer, receiptKey string
		requireChains                           []uint
		minConf                                 uint64
		asJSON                                  bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a document against its proof and the chain; exit 0 valid, 1 invalid",
		Long: `Recompute FILE's fingerprint (with the nonce and canonicalisation from its
.attest file), check the Merkle path to the root, and read the anchor
transaction from --rpc: it must exist, have succeeded, come from the
anchoring address (pin it with --anchorer), carry this root, size and batch,
and sit in a canonical block with --min-confirmations. Nothing is sent to
attestd; only the chain's JSON-RPC endpoint is asked.

Exit status: 0 valid, 1 invalid (each failed check is named), 2 usage or
I/O error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc := args[0]
			if proofPath == "" {
				proofPath = attestfile.PathFor(doc)
			}
			f, err := attestfile.Read(proofPath)
			if err != nil {
				return err
			}
			pins := map[uint64]common.Address{}
			var pin *common.Address
			if anchorer != "" {
				if !common.IsHexAddress(anchorer) {
					return fmt.Errorf("--anchorer: %q is not an address", anchorer)
				}
				a := common.HexToAddress(anchorer)
				pin = &a
			}
			var pub ed25519.PublicKey
			if receiptKey != "" {
				b, err := base64.StdEncoding.DecodeString(receiptKey)
				if err != nil || len(b) != ed25519.PublicKeySize {
					return errors.New("--receipt-key: want the base64 Ed25519 public key from /v1/info")
				}
				pub = b
			}
			fp, _, err := fingerprint.HashDocument(doc, f.Canonicalization, f.Nonce(), nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.Proof == nil {
				fmt.Fprintf(out, "no proof in %s yet: run \"attestd upgrade %s\" once the batch is anchored\n", proofPath, doc)
				return &exitCode{code: exitInvalid}
			}
			ctx := cmd.Context()
			client, err := ethclient.DialContext(ctx, rpcURL)
			if err != nil {
				return fmt.Errorf("--rpc: %w", err)
			}
			defer client.Close()
			chains := map[uint64]verify.Chain{}
			if id, err := client.ChainID(ctx); err == nil && id.IsUint64() {
				chains[id.Uint64()] = client
				if pin != nil {
					pins[id.Uint64()] = *pin
				}
			} else if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "attestd: the endpoint %s did not answer: %v\n", rpcURL, err)
				for _, a := range f.Proof.Anchors { // report it per chain as a named check
					chains[a.ChainID] = client
				}
			}
			policy := verify.Policy{MinConfirmations: minConf, Anchorers: pins}
			for _, id := range requireChains {
				policy.RequiredChains = append(policy.RequiredChains, uint64(id))
			}
			res := verify.Verify(ctx, f.Proof, &fp, chains, policy)
			if pub != nil {
				c := verify.Check{Name: "receipt", OK: true, Detail: "signed by key " + receipt.KeyID(pub)}
				if f.Receipt == nil {
					c.OK, c.Detail = false, "the .attest file holds no receipt"
				} else if err := receipt.Verify(*f.Receipt, pub); err != nil {
					c.OK, c.Detail = false, err.Error()
				}
				res.Checks = append(res.Checks, c)
				if !c.OK {
					res.Valid = false
				}
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				for _, c := range res.Checks {
					mark := "ok  "
					if !c.OK {
						mark = "FAIL"
					}
					fmt.Fprintf(out, "%s %-28s %s\n", mark, c.Name, c.Detail)
				}
				if res.Valid {
					fmt.Fprintf(out, "VALID: %s is attested as of %s\n", doc, res.AttestedAt.Format("2006-01-02 15:04:05 MST"))
				}
			}
			if !res.Valid {
				var names []string
				for _, c := range res.Failed() {
					names = append(names, c.Name)
				}
				return &exitCode{code: exitInvalid, msg: "INVALID: failed " + strings.Join(names, ", ")}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&proofPath, "proof", "", "the .attest file (default FILE.attest)")
	fl.StringVar(&rpcURL, "rpc", envDefault("ATTESTD_RPC", defaultRPC), "JSON-RPC endpoint of the anchoring chain (env ATTESTD_RPC)")
	fl.StringVar(&anchorer, "anchorer", envDefault("ATTESTD_ANCHORER", ""), "pin the anchoring address published by the issuer (env ATTESTD_ANCHORER)")
	fl.StringVar(&receiptKey, "receipt-key", "", "also check the receipt against this base64 Ed25519 key (from /v1/info)")
	fl.UintSliceVar(&requireChains, "require-chain", nil, "chain IDs that must be anchored (default: the --rpc endpoint's)")
	fl.Uint64Var(&minConf, "min-confirmations", 1, "blocks required on top of and including the anchor's")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
