package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/server"
)

// TestServeFlagDefaults: serve's flags default to the packages' Default*
// constants, so `serve` and an app.Config built in code run alike.
func TestServeFlagDefaults(t *testing.T) {
	fs := newServeCmd().Flags()
	for flag, want := range map[string]string{
		"chain-poll":     anchor.DefaultPollInterval.String(),
		"confirmations":  strconv.Itoa(anchor.DefaultConfirmations),
		"max-fee":        fmt.Sprint(defaultMaxFeeGwei()),
		"rate-limit":     fmt.Sprint(server.DefaultRatePerSecond),
		"rate-burst":     strconv.Itoa(server.DefaultRateBurst),
		"max-pending":    strconv.Itoa(server.DefaultMaxPending),
		"batch-interval": batch.DefaultInterval.String(),
		"listen":         app.DefaultListen,
	} {
		if got := fs.Lookup(flag).DefValue; got != want {
			t.Errorf("--%s defaults to %s, the package default is %s", flag, got, want)
		}
	}
	if got := defaultMaxFeeGwei(); got != 500 {
		t.Errorf("anchor.DefaultMaxFeePerGas is %v gwei, want 500", got)
	}
}

// TestFlagError: the errors of an app.Config that cannot work come out
// in the words of serve's flags; other errors pass unchanged.
func TestFlagError(t *testing.T) {
	for field, want := range map[string]string{
		"Chains":            "--dev",
		"Chains[0].RPC":     "--chain-rpc",
		"Chains[0].KeyFile": "--chain-key-file",
		"APIKeysFile":       "--api-keys-file",
		"TLSCert":           "--tls-key",
		"Store":             "--store: ",
		"Backup.Dir":        "--backup-dir: ",
		"Backup":            "--backup-every",
	} {
		err := flagError(fmt.Errorf("starting: %w", &app.ConfigError{Field: field, Err: errors.New("bad")}))
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q, want it to name %s", field, err, want)
		}
	}
	other := errors.New("disk on fire")
	if err := flagError(other); err != other {
		t.Errorf("flagError(%v) = %v, want it unchanged", other, err)
	}
}
