package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

A .attest is written (atomically) only once its receipt is in hand: a
submission that fails (a wrong key, the server down, a file that cannot be
read) leaves no .attest for the files it did not acknowledge, and running
stamp again stamps them. A path given twice is stamped once; a .attest
given as a document is refused. An existing .attest with a receipt is
never replaced without --force (use upgrade); one without a receipt (left
by an older attestd) is replaced when the server does not know its
fingerprint. New files are readable by their owner only (--mode 0600): the
nonce would let a reader confirm a guess about the record.

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
			docs, err := stampPaths(args)
			if err != nil {
				return err
			}
			client, err := newClient(server, apiKey)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !force {
				if docs, err = skipStamped(ctx, client, docs, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			if len(docs) == 0 {
				return nil
			}
			keys, err := receiptKeys(ctx, client)
			if err != nil {
				return err
			}
			var failed int
			var files []*attestfile.File
			var paths []string
			for _, h := range hashAll(docs, c, !noBlind, cmd.ErrOrStderr()) {
				if h.err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "attestd: %v: not stamped\n", h.err)
					failed++
					continue
				}
				f := &attestfile.File{
					Version: attestfile.Version, Document: filepath.Base(h.path), Fingerprint: h.fp,
					Canonicalization: h.canon, Server: server,
				}
				if h.nonce != nil {
					f.Blinding = &attestfile.Blinding{Scheme: fingerprint.BlindDomain, Nonce: *h.nonce}
				}
				files, paths = append(files, f), append(paths, h.path)
			}
			for start := 0; start < len(files); start += api.MaxFingerprintsPerRequest {
				end := min(start+api.MaxFingerprintsPerRequest, len(files))
				chunk := files[start:end]
				req := api.SubmitRequest{Fingerprints: make([]api.Fingerprint, len(chunk))}
				for i, f := range chunk {
					req.Fingerprints[i] = f.Fingerprint.String()
				}
				resp, err := client.SubmitFingerprintsWithResponse(ctx, req)
				if err == nil && (resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil || len(resp.JSON202.Receipts) != len(chunk)) {
					err = problemError("submitting", resp.StatusCode(), resp.Body)
				}
				if err != nil {
					return stampFailed(err, len(files)-start, start, failed)
				}
				for i, r := range resp.JSON202.Receipts {
					if r.Fingerprint != chunk[i].Fingerprint {
						return stampFailed(fmt.Errorf("the server returned a receipt for %s, expected %s", r.Fingerprint, chunk[i].Fingerprint), len(files)-start, start, failed)
					}
					if err := keys.verify(r); err != nil {
						return stampFailed(fmt.Errorf("receipt for %s: %w", chunk[i].Document, err), len(files)-start, start, failed)
					}
				}
				// Every receipt of the request checks out: only now is any
				// .attest written, each atomically.
				for i, r := range resp.JSON202.Receipts {
					chunk[i].Receipt = &r
					path := attestfile.PathFor(paths[start+i])
					if err := attestfile.Write(path, chunk[i], perm); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s  %s (anchored by %s at the latest)\n", r.Fingerprint, path, r.Deadline.Local().Format("2006-01-02 15:04:05 MST"))
				}
			}
			if failed > 0 {
				return &exitCode{code: exitInvalid, msg: fmt.Sprintf("%d file(s) could not be read and were not stamped", failed)}
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

// stampPaths checks stamp's arguments: a .attest is refused with a hint,
// and a document given twice (however spelt) is stamped once.
func stampPaths(args []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range args {
		if strings.HasSuffix(p, attestfile.Ext) {
			return nil, &exitCode{code: exitError, msg: fmt.Sprintf("%s is a proof file, not a document: stamp %s instead (or upgrade %s to add its proof)", p, strings.TrimSuffix(p, attestfile.Ext), p)}
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// skipStamped leaves out the documents that already have a .attest with a
// receipt (upgrade is for those) and keeps, to be stamped again, those
// whose .attest holds no receipt and whose fingerprint the server does not
// know: an older attestd wrote the .attest before submitting, and a failed
// submission left it without one.
func skipStamped(ctx context.Context, client *api.ClientWithResponses, docs []string, stderr io.Writer) ([]string, error) {
	var out []string
	for _, p := range docs {
		f, err := attestfile.Read(attestfile.PathFor(p))
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, p)
			continue
		case err != nil:
			return nil, err
		case f.Receipt != nil:
			return nil, fmt.Errorf("%s exists with a receipt (it may hold the only copy of a nonce): use upgrade, or --force to replace it", attestfile.PathFor(p))
		}
		resp, err := client.GetFingerprintWithResponse(ctx, f.Fingerprint.String())
		if err != nil {
			return nil, fmt.Errorf("%s: asking the server whether it knows it: %w", p, err)
		}
		switch resp.StatusCode() {
		case http.StatusNotFound:
			fmt.Fprintf(stderr, "attestd: %s holds no receipt and the server does not know its fingerprint: stamping %s again\n", attestfile.PathFor(p), p)
			out = append(out, p)
		case http.StatusOK:
			return nil, fmt.Errorf("%s holds no receipt, but the server knows its fingerprint: keep it, and run upgrade %s for its proof", attestfile.PathFor(p), p)
		default:
			return nil, problemError(p, resp.StatusCode(), resp.Body)
		}
	}
	return out, nil
}

// stampFailed is the error of a submission that failed: the files of this
// request and after it were not stamped, and no .attest was written for
// them; the ones before it were.
func stampFailed(err error, left, done, unreadable int) error {
	return fmt.Errorf("%w\nstamped %d, not stamped %d (no .attest written for them: run stamp again), unreadable %d", err, done, left, unreadable)
}
