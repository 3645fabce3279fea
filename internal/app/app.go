// Package app assembles attestd's service from its parts: store, sealer,
// one anchorer per chain, receipts and the HTTP API. New builds a Service
// from a Config (and fails there if anything cannot start); Run serves it.
// cmd/attestd turns flags into a Config; tests build one directly, with
// injected parts where they need them (Config.OpenStore,
// ChainConfig.Client). See docs/architecture.md.
package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/backup"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/redact"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/trust"
)

// Service is attestd assembled: store, keys, receipt signer, chains,
// sealer, anchorers and the HTTP API on its listener. New builds it; Run
// serves; Close releases a Service that is never run.
type Service struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics.Metrics
	st      store.Store
	backups backup.Store // nil: no backups
	pipe    *pipeline
	srv     *server.Server
	hs      *http.Server
	ln      net.Listener
	pprof   net.Listener // nil unless Config.PprofListen
	url     string

	closers   []func() error // in the order opened
	closeOnce sync.Once
	closeErr  error
}

// New opens everything the service needs — store, API keys, receipt key,
// chain endpoints (learning each chain's ID once, unless configured) —
// and builds the sealer, one anchorer per chain, the server and its
// listener. Whatever can fail at start-up fails here; on error nothing is
// left open.
func New(ctx context.Context, cfg Config) (_ *Service, err error) {
	defer func() { err = redact.Error(err) }() // cmd/attestd prints it: no endpoint credential in it
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	urls := []string{cfg.Store}
	for _, c := range cfg.Chains {
		urls = append(urls, c.RPC)
	}
	log = slog.New(redacting(log.Handler(), urls...))
	cfg = cfg.withDefaults()
	if cfg.Backup.Dir != "" && cfg.Store != "" && cfg.Store != "bolt" {
		return nil, &ConfigError{"Backup.Dir", errors.New("backups are for the embedded store; back Redis up with its own persistence (docs/redis.md)")}
	}
	if len(cfg.Chains) == 0 {
		return nil, &ConfigError{"Chains", errors.New("no chain configured")}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data dir: %w", err)
	}
	s := &Service{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()

	s.m = metrics.New(cfg.HTTP.Version)
	st, err := openStore(ctx, cfg, s.m, log)
	if err != nil {
		return nil, err
	}
	s.st = st
	s.closers = append(s.closers, st.Close)
	if cfg.Backup.Dir != "" {
		var ok bool
		if s.backups, ok = st.(backup.Store); !ok {
			return nil, &ConfigError{"Backup.Dir", fmt.Errorf("the store %T cannot be backed up", st)}
		}
		if err := backup.Check(cfg.Backup, cfg.DataDir, log); err != nil {
			return nil, &ConfigError{"Backup", err}
		}
	}

	keysDone := make(chan struct{})
	s.closers = append(s.closers, func() error { close(keysDone); return nil })
	keys, keysFile, err := loadKeys(cfg, log, keysDone)
	if err != nil {
		return nil, err
	}
	if keysFile != nil {
		s.m.RegisterKeysFile(keysFile.Health)
	}
	rkPath := receiptKeyPath(cfg)
	now := cfg.HTTP.Now // the clock of received times
	if now == nil {
		now = time.Now
	}
	signer, err := receiptKeys(rkPath, log, now)
	if err != nil {
		return nil, err
	}

	s.pipe = &pipeline{store: st, m: s.m, replicaID: cfg.ReplicaID, ttl: cfg.LeaseTTL, log: log}
	if el, ok := st.(store.Elector); ok {
		s.pipe.elector = el
	}
	chains, err := s.openChains(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.addVerifyEndpoints(ctx, chains); err != nil {
		return nil, err
	}
	var onReload func(*receipt.Keyring)
	if cfg.Dev { // the README walkthrough's trust list: verify --trust <data-dir>/trust.json
		var tc []trust.Chain
		for _, c := range chains {
			tc = append(tc, trust.Chain{ChainID: c.ID, Anchorer: c.Anchorer, Sink: c.Sink})
		}
		writeDev := func(ring *receipt.Keyring) error {
			keys, err := devTrustKeys(ring, rkPath)
			if err != nil {
				return err
			}
			return trust.WriteDev(filepath.Join(cfg.DataDir, trust.DevFile), keys, tc)
		}
		if err := writeDev(signer.Keyring()); err != nil {
			return nil, err
		}
		onReload = func(ring *receipt.Keyring) {
			if err := writeDev(ring); err != nil {
				log.Warn("could not rewrite the dev trust list after a receipt key change", "err", err)
			}
		}
	}
	watchReceiptKeys(signer, rkPath, log, keysDone, KeysReloadInterval, onReload)
	registerStoreMetrics(s.m, st)
	s.m.RegisterReceiptDeadline(cfg.Batch.Promise())
	s.pipe.sealer = batch.New(cfg.Batch, st, s.m, log, func(store.Batch) { s.pipe.wake() })
	s.srv = server.New(cfg.HTTP, server.Deps{
		Store: st, Keys: keys, Signer: signer, Sealer: s.pipe.sealer, Metrics: s.m, Log: log,
		Chains: chains,
		Ready:  func(ctx context.Context) (notReady, degraded []string) { return s.ready(ctx, keysFile) },
	})

	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// openChains connects to every configured chain and makes its anchorer;
// it returns the chains as the server shows and reads them.
func (s *Service) openChains(ctx context.Context) ([]server.Chain, error) {
	cfg, log := s.cfg, s.log
	var chains []server.Chain
	for i, cc := range cfg.Chains {
		client, acfg, closeChain, err := openChain(ctx, cc, cfg.DataDir, log)
		if ce := (*ConfigError)(nil); errors.As(err, &ce) {
			ce.Field = fmt.Sprintf("Chains[%d].%s", i, ce.Field)
		} else if err != nil && len(cfg.Chains) > 1 {
			err = fmt.Errorf("chain %d of %d: %w", i+1, len(cfg.Chains), err)
		}
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, closeChain)
		for _, c := range s.pipe.chains {
			if c.id() == acfg.ChainID {
				return nil, &ConfigError{fmt.Sprintf("Chains[%d]", i), fmt.Errorf("chain %d is configured twice", acfg.ChainID)}
			}
		}
		c := &chain{cfg: acfg, client: client}
		s.pipe.chains = append(s.pipe.chains, c)
		anc, err := s.pipe.newAnchorer(c) // the first term's, or stepped by hand (Anchorer)
		if err != nil {
			return nil, err
		}
		chains = append(chains, server.Chain{
			ID: anc.ChainID(), Anchorer: anc.Address(), Sink: anc.Sink(),
			Confirmations: anc.Confirmations(), Reader: redact.Chain(client), // its errors reach verify results
			FirstBatch: acfg.FirstBatch, Evidence: anc.CollectsEvidence(),
		})
	}
	return chains, nil
}

// listen opens the API listener (TLS when configured) and the HTTP server.
func (s *Service) listen() error {
	cfg := s.cfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("API listen: %w", err)
	}
	s.hs = s.srv.HTTPServer(cfg.Listen)
	s.url = "http://" + ln.Addr().String()
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			ln.Close()
			return err
		}
		s.hs.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
		s.url = "https://" + ln.Addr().String()
	}
	s.ln = ln
	s.closers = append(s.closers, func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	if cfg.PprofListen != "" {
		pl, err := listenPprof(cfg.PprofListen)
		if err != nil {
			return err
		}
		s.pprof = pl
		s.closers = append(s.closers, func() error {
			if err := pl.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
	}
	return nil
}

// ready is the service's readiness: not ready without a working store,
// degraded while sealing, the keys file or a chain is failing.
func (s *Service) ready(ctx context.Context, keysFile *apikeys.File) (notReady, degraded []string) {
	if _, _, err := s.st.PendingStats(ctx); err != nil {
		notReady = append(notReady, "store: unavailable ("+storeCause(err)+")")
	} else if err := storeHealth(ctx, s.st); err != nil {
		// Reads succeed on a full disk: readiness needs the writes.
		notReady = append(notReady, "store: writes are failing ("+storeCause(err)+"; see the logs and attestd_store_up)")
	}
	if err := s.pipe.sealErr(); errors.Is(err, store.ErrUnavailable) {
		notReady = append(notReady, "sealing: the store cannot commit batches ("+storeCause(err)+"; see attestd_seal_failures_total)")
	} else if err != nil {
		degraded = append(degraded, "sealing is failing (see the logs and attestd_seal_failures_total)")
	}
	if keysFile != nil {
		if _, err := keysFile.Health(); err != nil {
			degraded = append(degraded, "api keys: the keys file cannot be read; the keys loaded before stay in force, revoked ones included")
		}
	}
	for _, c := range s.pipe.chains {
		if err := s.pipe.anchorErr(c); err != nil {
			degraded = append(degraded, fmt.Sprintf("chain %d: anchoring is failing (see logs and attestd_anchor_failed_total)", c.id()))
		}
	}
	if s.cfg.Ready != nil {
		nr, dg := s.cfg.Ready(ctx)
		notReady, degraded = append(notReady, nr...), append(degraded, dg...)
	}
	return notReady, degraded
}

// URL is where the API is served: http:// or https:// and the listener's
// address (its port, when Listen asked for port 0).
func (s *Service) URL() string { return s.url }

// Server is the HTTP API.
func (s *Service) Server() *server.Server { return s.srv }

// Sealer is the batch sealer (Run runs it while this replica leads).
func (s *Service) Sealer() *batch.Sealer { return s.pipe.sealer }

// Metrics are the service's metrics.
func (s *Service) Metrics() *metrics.Metrics { return s.m }

// Anchorer is the anchorer of the configured chain chainID — the running
// term's, or in a Service that is not running one to step by hand (tests)
// — or nil for a chain not configured.
func (s *Service) Anchorer(chainID uint64) *anchor.Anchorer {
	for _, c := range s.pipe.chains {
		if c.id() == chainID {
			return c.cur.Load() // New made the first
		}
	}
	return nil
}

// Run serves until ctx is cancelled, then shuts down in order: stop HTTP,
// seal what is pending, give each anchorer one last step to sign and
// broadcast, close everything. Anchoring state is persisted throughout, so
// a restart resumes it. Run closes the Service; call it once.
func (s *Service) Run(ctx context.Context) (err error) {
	defer func() { err = redact.Error(errors.Join(err, s.Close())) }()
	log, cfg := s.log, s.cfg
	attrs := []any{"url", s.url, "config", cfg}
	for _, c := range s.pipe.chains {
		attrs = append(attrs, slog.Group(fmt.Sprintf("chain%d", c.id()), "anchorer", crypto.PubkeyToAddress(c.cfg.Key.PublicKey).Hex()))
	}
	log.Info("attestd serving", attrs...)

	runCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.pipe.run(runCtx) })
	if s.backups != nil {
		bm := s.m.RegisterBackups(cmp.Or(cfg.Backup.Every, backup.DefaultEvery))
		wg.Go(func() { backup.Run(runCtx, cfg.Backup, s.backups, bm, log) })
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- s.hs.Serve(s.ln) }()
	if s.pprof != nil {
		go servePprof(s.pprof, log)
	}

	select {
	case <-ctx.Done():
	case err := <-httpErr:
		stopLoops()
		wg.Wait()
		return fmt.Errorf("API server: %w", err)
	}

	log.Info("shutting down: stopping HTTP")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("HTTP shutdown", "err", err)
	}
	stopLoops()
	wg.Wait()
	s.pipe.flush(sctx)
	log.Info("shut down")
	return nil
}

// Close releases what New opened, in reverse order: the listener, the
// chains, the keys file watcher, the store. Run calls it; call it for a
// Service that is never run. Later calls return the first one's result.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closeErr = errors.Join(s.closeErr, s.closers[i]())
		}
	})
	return s.closeErr
}
