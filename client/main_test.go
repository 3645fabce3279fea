package client_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/trust"
)

// TestMain runs the examples and tests of this package against a real
// attestd: what `attestd serve --dev` runs (internal/app with Dev: the
// embedded store, the embedded go-ethereum dev chain and a dev API key),
// in this process, on 127.0.0.1 ports of its own, with a short batch
// interval. The examples find it as a hospital's program would, in the
// environment: ATTESTD_SERVER, ATTESTD_API_KEY, ATTESTD_RPC (the dev
// chain's JSON-RPC) and ATTESTD_TRUST (the trust list serve --dev writes).
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "attestd-client-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	logs := &chainLog{}
	var apiKey string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := app.New(ctx, app.Config{
		DataDir: filepath.Join(dir, "data"),
		Listen:  "127.0.0.1:0",
		Dev:     true,
		Chains: []app.ChainConfig{{Dev: true, DevListen: "127.0.0.1:0",
			Anchor: anchor.Config{Confirmations: 1, PollInterval: 100 * time.Millisecond}}},
		Batch:  batch.Config{Interval: 300 * time.Millisecond},
		Log:    slog.New(logs),
		DevKey: func(key, _ string) { apiKey = key },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting attestd:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	rpc := logs.rpc()
	if rpc == "" || apiKey == "" {
		fmt.Fprintf(os.Stderr, "attestd started without a dev chain endpoint (%q) or a dev API key (%t)\n%s", rpc, apiKey != "", logs)
		return 1
	}
	for k, v := range map[string]string{
		"ATTESTD_SERVER":  svc.URL(),
		"ATTESTD_API_KEY": apiKey,
		"ATTESTD_RPC":     rpc,
		"ATTESTD_TRUST":   filepath.Join(dir, "data", trust.DevFile),
	} {
		os.Setenv(k, v)
	}

	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "attestd:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "attestd's log:\n%s", logs)
	}
	return code
}

// chainLog is the service's log: kept for a failure, and read for the dev
// chain's JSON-RPC address ("embedded dev chain running", rpc=…), as the
// end-to-end tests of cmd/attestd read serve --dev's.
type chainLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr string
}

func (l *chainLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *chainLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.buf, "%s %s %s", r.Time.Format(time.TimeOnly), r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&l.buf, " %s=%v", a.Key, a.Value)
		if r.Message == "embedded dev chain running" && a.Key == "rpc" {
			l.addr = a.Value.String()
		}
		return true
	})
	l.buf.WriteByte('\n')
	return nil
}

func (l *chainLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *chainLog) WithGroup(string) slog.Handler      { return l }

func (l *chainLog) rpc() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

func (l *chainLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
