package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
)

func newStampCmd() *cobra.Command {
	var (
		server, apiKey, canon string
		apiKeyFile, mode      string
		noBlind, force        bool
	)
	cmd := &cobra.Command{
		Use:   "stamp FILE...",
		Short: "Fingerprint files locally, submit the fingerprints, write FILE.attest",
		Long: `Fingerprint each file at its origin, blind the fingerprint with a fresh
32-byte nonce (so a short record cannot be guessed from its published
fingerprint), submit it, and write FILE.attest holding the nonce and the
signed receipt. The document never leaves this machine. Run
"attestd upgrade FILE" later to add the proof once the batch is anchored.

The .attest file is written (with the nonce) before submitting, so the
nonce is never lost; an existing one is never overwritten without --force.
It is readable by its owner only (--mode 0600): the nonce in it would let
a reader confirm a guess about the record from its published fingerprint.

The API key is read from ATTESTD_API_KEY or --api-key-file; --api-key
works too but shows the key to every user of this machine (ps).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := fingerprint.ParseCanonicalization(canon)
			if err != nil {
				return err
			}
			perm, err := parseMode(mode)
			if err != nil {
				return err
			}
			apiKey, err := apiKeyFrom(cmd, apiKey, apiKeyFile)
			if err != nil {
				return err
			}
			if !force {
				for _, p := range args {
					if _, err := os.Stat(attestfile.PathFor(p)); err == nil {
						return fmt.Errorf("%s exists (it may hold the only copy of a nonce); use upgrade, or --force to replace it", attestfile.PathFor(p))
					}
				}
			}
			client, err := newClient(server, apiKey)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			keys, err := receiptKeys(ctx, client)
			if err != nil {
				return err
			}
			hs := hashAll(args, c, !noBlind, cmd.ErrOrStderr())
			files := make([]*attestfile.File, len(hs))
			for i, h := range hs {
				if h.err != nil {
					return h.err
				}
				f := &attestfile.File{
					Version: attestfile.Version, Document: filepath.Base(h.path), Fingerprint: h.fp,
					Canonicalization: h.canon, Server: server,
				}
				if h.nonce != nil {
					f.Blinding = &attestfile.Blinding{Scheme: fingerprint.BlindDomain, Nonce: *h.nonce}
				}
				if err := attestfile.Write(attestfile.PathFor(h.path), f, perm); err != nil {
					return err
				}
				files[i] = f
			}
			for start := 0; start < len(files); start += api.MaxFingerprintsPerRequest {
				chunk := files[start:min(start+api.MaxFingerprintsPerRequest, len(files))]
				req := api.SubmitRequest{Fingerprints: make([]api.Fingerprint, len(chunk))}
				for i, f := range chunk {
					req.Fingerprints[i] = f.Fingerprint.String()
				}
				resp, err := client.SubmitFingerprintsWithResponse(ctx, req)
				if err != nil {
					return fmt.Errorf("submitting: %w", err)
				}
				if resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil || len(resp.JSON202.Receipts) != len(chunk) {
					return problemError("submitting", resp.StatusCode(), resp.Body)
				}
				for i, r := range resp.JSON202.Receipts {
					if r.Fingerprint != chunk[i].Fingerprint {
						return fmt.Errorf("the server returned a receipt for %s, expected %s", r.Fingerprint, chunk[i].Fingerprint)
					}
					if err := keys.verify(r); err != nil {
						return fmt.Errorf("receipt for %s: %w", chunk[i].Document, err)
					}
					chunk[i].Receipt = &r
					path := attestfile.PathFor(args[start+i])
					if err := attestfile.Write(path, chunk[i], perm); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s  %s (anchored by %s at the latest)\n", r.Fingerprint, path, r.Deadline.Local().Format("15:04:05"))
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", envDefault("ATTESTD_SERVER", defaultServer), "attestd server URL (env ATTESTD_SERVER)")
	f.StringVar(&apiKey, "api-key", "", "API key; visible to other users in ps: prefer ATTESTD_API_KEY or --api-key-file")
	f.StringVar(&apiKeyFile, "api-key-file", os.Getenv("ATTESTD_API_KEY_FILE"), "file holding the API key (env ATTESTD_API_KEY_FILE)")
	f.StringVar(&mode, "mode", "0600", "permission bits of new .attest files, octal (they hold the blinding nonce)")
	f.StringVar(&canon, "canon", "none", "canonicalisation: none or jcs (RFC 8785 JSON)")
	f.BoolVar(&noBlind, "no-blind", false, "submit the plain SHA-256 (only for high-entropy documents)")
	f.BoolVar(&force, "force", false, "replace existing .attest files")
	return cmd
}

// serverKeys are a server's receipt keys as its /v1/info publishes them.
type serverKeys []api.ReceiptKey

// receiptKeys fetches the server's receipt keys from /v1/info.
func receiptKeys(ctx context.Context, client *api.ClientWithResponses) (serverKeys, error) {
	info, err := client.GetInfoWithResponse(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking the server what it is: %w", err)
	}
	if info.JSON200 == nil {
		return nil, problemError("info", info.StatusCode(), info.Body)
	}
	var keys serverKeys
	for _, k := range info.JSON200.ReceiptKeys {
		if k.Algorithm == "ed25519" && len(k.PublicKey) == ed25519.PublicKeySize {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the server publishes no Ed25519 receipt key")
	}
	return keys, nil
}

// verify checks r against the published key it names, and that r's
// received time falls in that key's published period (what a verifier's
// trust list will check).
func (ks serverKeys) verify(r receipt.Receipt) error {
	for _, k := range ks {
		if receipt.KeyID(k.PublicKey) != r.KeyID {
			continue
		}
		if err := receipt.Verify(r, ed25519.PublicKey(k.PublicKey)); err != nil {
			return err
		}
		if k.ValidFrom != nil && r.ReceivedAt.Before(*k.ValidFrom) || k.ValidUntil != nil && !r.ReceivedAt.Before(*k.ValidUntil) {
			return fmt.Errorf("%w: received %s, outside the period the server publishes for its key %s", receipt.ErrInvalid, r.ReceivedAt.Format(time.RFC3339Nano), r.KeyID)
		}
		return nil
	}
	return fmt.Errorf("%w: signed by key %s, which the server does not publish", receipt.ErrInvalid, r.KeyID)
}
