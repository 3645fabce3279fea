package app

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/backup"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/server"
)

// TestWithDefaults: a Config built in code gets the limits serve's flags
// default to, not unlimited; a negative limit stays (unlimited), and a
// set value is kept.
func TestWithDefaults(t *testing.T) {
	c := Config{Chains: []ChainConfig{{}, {Anchor: anchor.Config{AnchorWithin: time.Minute}}}}.withDefaults()
	if c.HTTP.RatePerSecond != server.DefaultRatePerSecond || c.HTTP.RateBurst != server.DefaultRateBurst || c.HTTP.MaxPending != server.DefaultMaxPending {
		t.Errorf("zero limits became %v/s burst %d, max pending %d; want the server's defaults", c.HTTP.RatePerSecond, c.HTTP.RateBurst, c.HTTP.MaxPending)
	}
	if c.Listen != DefaultListen || c.ShutdownTimeout != DefaultShutdownTimeout || c.LeaseTTL != DefaultLeaseTTL || c.ReplicaID == "" {
		t.Errorf("service defaults not applied: %+v", c)
	}
	if got := c.Chains[0].Anchor.AnchorWithin; got != batch.DefaultAnchorWithin {
		t.Errorf("chain 0 AnchorWithin %v, want the batch default %v", got, batch.DefaultAnchorWithin)
	}
	if got := c.Chains[1].Anchor.AnchorWithin; got != time.Minute {
		t.Errorf("chain 1 AnchorWithin %v, want its own 1m", got)
	}
	// Every chain counts receipts overdue against the receipts' promise:
	// the batch interval plus the service's allowance, not the chain's own.
	for i, ch := range c.Chains {
		if got, want := ch.Anchor.ReceiptDeadline, batch.DefaultInterval+batch.DefaultAnchorWithin; got != want {
			t.Errorf("chain %d ReceiptDeadline %v, want the receipts' promise %v", i, got, want)
		}
	}
	p := Config{Batch: batch.Config{Interval: 5 * time.Second, AnchorWithin: time.Minute}, Chains: []ChainConfig{{}}}.withDefaults()
	if got := p.Chains[0].Anchor.ReceiptDeadline; got != 65*time.Second {
		t.Errorf("ReceiptDeadline %v with a 5s interval and 1m allowance, want 1m5s", got)
	}

	u := Config{HTTP: server.Config{RatePerSecond: -1, MaxPending: -1, RateBurst: 7}}.withDefaults()
	if u.HTTP.RatePerSecond != -1 || u.HTTP.MaxPending != -1 || u.HTTP.RateBurst != 7 {
		t.Errorf("negative (unlimited) or set limits changed: %+v", u.HTTP)
	}
	orig := []ChainConfig{{}}
	Config{Chains: orig}.withDefaults()
	if orig[0].Anchor.AnchorWithin != 0 {
		t.Error("withDefaults wrote into the caller's Chains")
	}
}

// TestConfigErrors: a Config that cannot work fails New with a
// ConfigError naming the field at fault, in words that name no CLI flag
// (cmd/attestd maps the field to its flag).
func TestConfigErrors(t *testing.T) {
	sim := newSimChain(t, 1337)
	good := ChainConfig{Client: sim, Anchor: anchor.Config{Key: sim.key}}
	for _, tc := range []struct {
		name  string
		cfg   func(dir string) Config
		field string
	}{
		{"no chain", func(string) Config { return Config{Dev: true} }, "Chains"},
		{"store URL", func(string) Config {
			return Config{Dev: true, Chains: []ChainConfig{good}, Store: "http://127.0.0.1:1"}
		}, "Store"},
		{"backup with Redis", func(dir string) Config {
			return Config{Dev: true, Chains: []ChainConfig{good}, Store: "redis://127.0.0.1:1/0", Backup: backup.Config{Dir: dir}}
		}, "Backup.Dir"},
		{"negative backup interval", func(dir string) Config {
			return Config{Dev: true, Chains: []ChainConfig{good}, Backup: backup.Config{Dir: filepath.Join(dir, "b"), Every: -time.Second}}
		}, "Backup"},
		{"no API keys", func(string) Config { return Config{Chains: []ChainConfig{good}} }, "APIKeysFile"},
		{"no endpoint", func(string) Config { return Config{Dev: true, Chains: []ChainConfig{{}}} }, "Chains[0].RPC"},
		{"no key", func(string) Config {
			return Config{Dev: true, Chains: []ChainConfig{{RPC: "http://127.0.0.1:1"}}}
		}, "Chains[0].KeyFile"},
		{"a chain twice", func(string) Config { return Config{Dev: true, Chains: []ChainConfig{good, good}} }, "Chains[1]"},
		{"TLS without a key", func(dir string) Config {
			return Config{Dev: true, Chains: []ChainConfig{good}, TLSCert: filepath.Join(dir, "cert.pem")}
		}, "TLSCert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tc.cfg(dir)
			cfg.DataDir, cfg.Listen, cfg.Log = filepath.Join(dir, "data"), "127.0.0.1:0", slog.New(slog.DiscardHandler)
			svc, err := New(context.Background(), cfg)
			if err == nil {
				svc.Close()
				t.Fatal("New accepted the config")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("New: %v (%T), want a ConfigError for %s", err, err, tc.field)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("New's error names a CLI flag: %v", err)
			}
		})
	}
}

// TestNewLeavesNothingOpen: a New that fails after opening the store, and
// Close on a Service never run, release it: the next New on the same data
// dir gets the embedded store's lock.
func TestNewLeavesNothingOpen(t *testing.T) {
	sim := newSimChain(t, 1337)
	dir := t.TempDir()
	cfg := Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Dev: true, Log: slog.New(slog.DiscardHandler),
		Chains: []ChainConfig{{Client: sim, Anchor: anchor.Config{Key: sim.key}}},
	}
	bad := cfg
	bad.TLSCert = filepath.Join(dir, "cert.pem") // fails at the listener, the last step
	if _, err := New(context.Background(), bad); err == nil {
		t.Fatal("New accepted a certificate without its key")
	}
	svc, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New after a failed New: %v", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	svc, err = New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	svc.Close()
}
