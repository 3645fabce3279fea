// Command attestd is the attestation service and its client: serve,
// devchain, hash, stamp, upgrade, verify, info and version. See README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/redact"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes: 0 success / valid, 1 invalid (verify: some evidence is
// false) or not done (upgrade without --wait; supersede, withdraw: the
// server refused), 2 usage or I/O error, 3 undecided (verify: could not
// check something), 4 superseded and 5 withdrawn (verify: attested, and
// since corrected or withdrawn by its institution).
const (
	exitInvalid    = 1
	exitError      = 2
	exitUndecided  = 3
	exitSuperseded = 4
	exitWithdrawn  = 5
)

// exitCode carries a non-zero exit status that is not a usage error.
type exitCode struct {
	code int
	msg  string
}

func (e *exitCode) Error() string { return e.msg }

func main() {
	root := newRoot(os.Stdout, os.Stderr)
	err := root.Execute()
	if err == nil {
		return
	}
	// No endpoint credential in what is printed, whichever command failed.
	var ec *exitCode
	if errors.As(err, &ec) {
		if ec.msg != "" {
			fmt.Fprintln(os.Stderr, "attestd:", redact.Text(ec.msg))
		}
		os.Exit(ec.code)
	}
	fmt.Fprintln(os.Stderr, "attestd:", redact.Text(err.Error()))
	os.Exit(exitError)
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "attestd",
		Short:         "Document fingerprint attestation anchored on an EVM chain",
		Long:          "attestd batches document fingerprints into Merkle trees, anchors the roots on an EVM chain and hands out proofs that anyone can check against the chain — without the document leaving its holder.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(), newDevchainCmd(), newHashCmd(), withServerTLS(newStampCmd()),
		withServerTLS(newUpgradeCmd()), withServerTLS(newVerifyCmd()), withServerTLS(newInfoCmd()), newTrustCmd(), newKeysCmd(), newReceiptKeysCmd(), newCheckpointCmd(),
		newVerifierPageCmd(), withServerTLS(newSupersedeCmd()), withServerTLS(newWithdrawCmd()), withServerTLS(newStatusExportCmd()), newVersionCmd(),
	)
	return root
}

// newLogger builds the process logger on stderr.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// envDefault returns the environment variable's value, or def.
func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
