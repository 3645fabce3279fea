// Package app assembles attestd's service from its parts: store, sealer,
// anchorers, receipts and the HTTP API. cmd/attestd turns flags into a
// Config; tests build one directly.
package app

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/backup"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/redact"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
	redisstore "github.com/attestd/attestd/internal/store/redis"
)

// Defaults.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultDataDir         = "./attestd-data"
	DefaultShutdownTimeout = 15 * time.Second
	DevAPIKeyFile          = "dev-api-key"
	DevInstitution         = "dev"
	StoreFile              = "attestd.db"
	ReceiptKeyFile         = "receipt-key.pem"
	KeysReloadInterval     = 2 * time.Second
	DefaultLeaseTTL        = 10 * time.Second
)

// Config is the whole service configuration.
type Config struct {
	DataDir string // store, receipt key and (with Dev) the dev chain live here
	Listen  string // API address

	// Dev runs the embedded go-ethereum dev chain in-process and, without
	// APIKeysFile, creates a dev API key in DataDir/dev-api-key.
	Dev            bool
	DevChainListen string // the dev chain's JSON-RPC address

	ChainRPC     string // JSON-RPC endpoint of the anchoring chain (without Dev)
	ChainKeyFile string // hex private key of the anchoring account (without Dev), or…
	// ChainKeystore is an encrypted go-ethereum keystore file (V3 JSON) of the
	// anchoring account, unlocked with ChainPassword.
	ChainKeystore string
	ChainPassword string // never logged
	Anchor        anchor.Config

	Batch batch.Config
	HTTP  server.Config

	// Backup, with the embedded store: a consistent copy into Backup.Dir
	// every Backup.Every, the newest Backup.Keep kept. Off without a Dir.
	Backup backup.Config

	// Store selects the backend: "" for the embedded store in DataDir, or a
	// Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://;
	// see docs/redis.md) shared by several replicas.
	Store         string
	RedisPassword string        // overrides the URL's password; never logged
	ReplicaID     string        // this replica's name in the lease; "" = hostname-pid
	LeaseTTL      time.Duration // leader lease; a dead leader is replaced within 2×; 0 = DefaultLeaseTTL

	APIKeysFile     string // "institution sha256:<hash>" lines (see internal/apikeys)
	TLSCert, TLSKey string // serve HTTPS with this certificate and key
	ClientCA        string // with TLS: PEM CAs whose client certificates authenticate institutions (CommonName)
	ReceiptKeyFile  string // Ed25519 receipt key (PEM); created if absent; "" = DataDir/receipt-key.pem
	ShutdownTimeout time.Duration

	Log *slog.Logger
	// Listening, if set, is told the API's URL once it accepts connections.
	Listening func(url string)
	// DevKey, if set, is told the generated dev API key (serve prints it).
	DevKey func(key, path string)
}

// LogValue keeps secrets (the anchoring key, credentials in the endpoint
// URLs) out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("data_dir", c.DataDir), slog.String("listen", c.Listen), slog.Bool("dev", c.Dev),
		slog.String("chain_rpc", RedactURL(c.ChainRPC)), slog.String("store", RedactURL(c.Store)),
		slog.Duration("batch_interval", c.Batch.Interval),
		slog.Int("max_batch_size", c.Batch.MaxSize), slog.Uint64("confirmations", c.Anchor.Confirmations),
		slog.String("backup_dir", c.Backup.Dir),
	)
}

// RedactURL shows an endpoint URL without what may be a credential: the
// user info, the path and the query (RPC providers put API keys in the
// path). "https://u:p@rpc.example/v3/KEY" is logged as
// "https://rpc.example/…". See redact.URL.
func RedactURL(raw string) string { return redact.URL(raw) }

// Run serves until ctx is cancelled, then shuts down in order: stop HTTP,
// seal what is pending, give the anchorer one last step to sign and
// broadcast, close everything. Anchoring state is persisted throughout, so
// a restart resumes it.
func Run(ctx context.Context, cfg Config) (err error) {
	defer func() { err = redact.Error(err) }() // cmd/attestd prints it: no endpoint credential in it
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = slog.New(redacting(log.Handler(), cfg.ChainRPC, cfg.Store))
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.ReplicaID == "" {
		host, _ := os.Hostname()
		cfg.ReplicaID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.Backup.Dir != "" && cfg.Store != "" && cfg.Store != "bolt" {
		return errors.New("--backup-dir is for the embedded store; back Redis up with its own persistence (docs/redis.md)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data dir: %w", err)
	}
	closers := []func() error{}
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i]())
		}
	}()

	m := metrics.New(cfg.HTTP.Version)
	st, err := openStore(ctx, cfg, m, log)
	if err != nil {
		return err
	}
	closers = append(closers, st.Close)
	var backups backup.Store
	if cfg.Backup.Dir != "" {
		var ok bool
		if backups, ok = st.(backup.Store); !ok {
			return fmt.Errorf("--backup-dir: the store %T cannot be backed up", st)
		}
		if err := backup.Check(cfg.Backup, cfg.DataDir, log); err != nil {
			return err
		}
	}

	keysDone := make(chan struct{})
	defer close(keysDone)
	keys, keysFile, err := loadKeys(cfg, log, keysDone)
	if err != nil {
		return err
	}
	if keysFile != nil {
		m.RegisterKeysFile(keysFile.Health)
	}
	rkPath := cfg.ReceiptKeyFile
	if rkPath == "" {
		rkPath = filepath.Join(cfg.DataDir, ReceiptKeyFile)
	}
	rk, err := receipt.LoadOrCreateKey(rkPath)
	if err != nil {
		return err
	}
	signer := receipt.NewSigner(rk)

	client, key, devChainID, closeChain, err := openChain(cfg, log)
	if err != nil {
		return err
	}
	closers = append(closers, closeChain)

	m.RegisterStoreUp(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return storeHealth(ctx, st)
	})
	if u, ok := st.(interface{ Unindexed() int }); ok {
		m.RegisterUnindexed(u.Unindexed)
	}
	m.RegisterPending(func() (int, float64) {
		n, oldest, err := st.PendingStats(context.Background())
		if err != nil || n == 0 {
			return n, 0
		}
		return n, time.Since(oldest).Seconds()
	})

	acfg := cfg.Anchor
	acfg.Key = key
	if acfg.AnchorWithin == 0 {
		acfg.AnchorWithin = cmp.Or(cfg.Batch.AnchorWithin, batch.DefaultAnchorWithin)
	}
	if devChainID != 0 {
		acfg.ChainID = devChainID
	}
	anc, err := anchor.New(ctx, acfg, client, st, m, log) // settles the chain ID; the pipeline runs its own
	if err != nil {
		return err
	}
	acfg.ChainID = anc.ChainID()
	pipe := &pipeline{
		newAnchorer: func() (*anchor.Anchorer, error) { return anchor.New(ctx, acfg, client, st, m, log) },
		replicaID:   cfg.ReplicaID,
		ttl:         cfg.LeaseTTL,
		log:         log,
	}
	if el, ok := st.(store.Elector); ok {
		pipe.elector = el
	}
	sealer := batch.New(cfg.Batch, st, m, log, func(store.Batch) { pipe.wake() })
	pipe.sealer = sealer

	srv := server.New(cfg.HTTP, server.Deps{
		Store: st, Keys: keys, Signer: signer, Sealer: sealer, Metrics: m, Log: log,
		Chains: []server.Chain{{
			ID: anc.ChainID(), Anchorer: anc.Address(), Sink: anc.Sink(),
			Confirmations: anc.Confirmations(), Reader: redact.Chain(client), // its errors reach verify results
		}},
		Ready: func(ctx context.Context) (notReady, degraded []string) {
			if _, _, err := st.PendingStats(ctx); err != nil {
				notReady = append(notReady, "store: unavailable ("+storeCause(err)+")")
			} else if err := storeHealth(ctx, st); err != nil {
				// Reads succeed on a full disk: readiness needs the writes.
				notReady = append(notReady, "store: writes are failing ("+storeCause(err)+"; see the logs and attestd_store_up)")
			}
			if err := pipe.sealErr(); errors.Is(err, store.ErrUnavailable) {
				notReady = append(notReady, "sealing: the store cannot commit batches ("+storeCause(err)+"; see attestd_seal_failures_total)")
			} else if err != nil {
				degraded = append(degraded, "sealing is failing (see the logs and attestd_seal_failures_total)")
			}
			if keysFile != nil {
				if _, err := keysFile.Health(); err != nil {
					degraded = append(degraded, "api keys: the keys file cannot be read; the keys loaded before stay in force, revoked ones included")
				}
			}
			if err := pipe.anchorErr(); err != nil {
				degraded = append(degraded, fmt.Sprintf("chain %d: anchoring is failing (see logs and attestd_anchor_failed_total)", anc.ChainID()))
			}
			return notReady, degraded
		},
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("API listen: %w", err)
	}
	hs := srv.HTTPServer(cfg.Listen)
	url := "http://" + ln.Addr().String()
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			ln.Close()
			return err
		}
		hs.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
		url = "https://" + ln.Addr().String()
	}
	log.Info("attestd serving", "url", url, "config", cfg, "chain", anc.ChainID(), "anchorer", anc.Address().Hex())

	runCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { pipe.run(runCtx) })
	if backups != nil {
		bm := m.RegisterBackups(cmp.Or(cfg.Backup.Every, backup.DefaultEvery))
		wg.Go(func() { backup.Run(runCtx, cfg.Backup, backups, bm, log) })
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()
	if cfg.Listening != nil {
		cfg.Listening(url)
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
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("HTTP shutdown", "err", err)
	}
	stopLoops()
	wg.Wait()
	pipe.flush(sctx)
	log.Info("shut down")
	return nil
}

// openStore opens the embedded store in the data dir, or Redis.
func openStore(ctx context.Context, cfg Config, m *metrics.Metrics, log *slog.Logger) (store.Store, error) {
	if cfg.Store == "" || cfg.Store == "bolt" {
		return bolt.Open(bolt.Config{Path: filepath.Join(cfg.DataDir, StoreFile), Log: log})
	}
	if !strings.HasPrefix(cfg.Store, "redis") && !strings.HasPrefix(cfg.Store, "unix://") {
		return nil, fmt.Errorf("--store: want a redis:// (rediss://, redis+sentinel://, redis+cluster://) URL or nothing for the embedded store")
	}
	rc := redisstore.Config{URL: cfg.Store, Password: cfg.RedisPassword, Metrics: redisstore.NewMetrics(m.Registry)}
	st, err := redisstore.Open(ctx, rc)
	if err != nil {
		return nil, fmt.Errorf("opening the Redis store: %w", err)
	}
	d := st.Durability()
	if w := d.Warning(); w != "" {
		log.Warn("Redis persistence is weaker than \"202 means durable\" needs", "redis", rc, "detail", w)
	} else {
		log.Info("Redis store", "redis", rc, "durability", d)
	}
	return st, nil
}

// tlsConfig loads the server certificate and, if configured, the client
// CA pool for mTLS (client certificates optional: API keys still work).
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.ClientCA != "" {
		pem, err := os.ReadFile(cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("reading the client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", cfg.ClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// openChain connects to the anchoring chain: the embedded dev chain with
// its funded key, or ChainRPC with the key from ChainKeyFile.
func openChain(cfg Config, log *slog.Logger) (client *ethclient.Client, key *ecdsa.PrivateKey, devChainID uint64, closeFn func() error, err error) {
	if cfg.Dev {
		ch, err := devchain.Start(devchain.Config{DataDir: cfg.DataDir, Listen: cfg.DevChainListen, Logger: log})
		if err != nil {
			return nil, nil, 0, nil, fmt.Errorf("starting the dev chain: %w", err)
		}
		log.Info("embedded dev chain running", "rpc", ch.RPCURL(), "chain_id", ch.ChainID(), "funded", ch.Address().Hex())
		return ch.Client(), ch.Key(), ch.ChainID().Uint64(), ch.Close, nil
	}
	if cfg.ChainRPC == "" {
		return nil, nil, 0, nil, errors.New("no chain: pass --dev for the embedded dev chain, or --chain-rpc and --chain-key-file")
	}
	switch {
	case cfg.ChainKeystore != "":
		key, err = LoadKeystore(cfg.ChainKeystore, cfg.ChainPassword)
	case cfg.ChainKeyFile != "":
		key, err = LoadHexKey(cfg.ChainKeyFile)
	default:
		err = errors.New("--chain-rpc needs the anchoring key: --chain-keystore (encrypted) or --chain-key-file (hex)")
	}
	if err != nil {
		return nil, nil, 0, nil, err
	}
	if client, err = ethclient.Dial(cfg.ChainRPC); err != nil {
		return nil, nil, 0, nil, fmt.Errorf("dialing the chain endpoint: %w", err)
	}
	return client, key, 0, func() error { client.Close(); return nil }, nil
}

// LoadHexKey reads a secp256k1 private key stored as hex (optional 0x,
// surrounding whitespace ignored). Errors never include the file's content.
func LoadHexKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the chain key: %w", err)
	}
	s := strings.TrimPrefix(strings.TrimSpace(string(data)), "0x")
	key, err := crypto.HexToECDSA(s)
	if err != nil {
		return nil, fmt.Errorf("chain key %s: not a hex secp256k1 private key", path)
	}
	return key, nil
}

// LoadKeystore decrypts a go-ethereum keystore file (V3) with password.
// Errors never include the password or key material.
func LoadKeystore(path, password string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the chain keystore: %w", err)
	}
	k, err := keystore.DecryptKey(data, password)
	if err != nil {
		return nil, fmt.Errorf("chain keystore %s: %w", path, err)
	}
	return k.PrivateKey, nil
}

// loadKeys opens the API keys file (reloaded while running, so keys can
// be added and revoked without a restart; also returned, for its health),
// or in dev mode without one, loads or creates the dev API key.
func loadKeys(cfg Config, log *slog.Logger, done <-chan struct{}) (server.Keys, *apikeys.File, error) {
	if cfg.APIKeysFile != "" {
		f, err := apikeys.OpenFile(cfg.APIKeysFile, log)
		if err != nil {
			return nil, nil, fmt.Errorf("API keys: %w", err)
		}
		if f.Set().Len() == 0 {
			log.Warn("the API keys file holds no key: nobody can submit", "path", cfg.APIKeysFile)
		}
		log.Info("API keys loaded", "path", cfg.APIKeysFile, "keys", f.Set().Len())
		go f.Watch(done, KeysReloadInterval)
		return f, f, nil
	}
	if !cfg.Dev {
		return nil, nil, errors.New("no API keys: pass --api-keys-file (create keys with `attestd keys add INSTITUTION`)")
	}
	path := filepath.Join(cfg.DataDir, DevAPIKeyFile)
	data, err := os.ReadFile(path)
	key := strings.TrimSpace(string(data))
	if errors.Is(err, os.ErrNotExist) {
		if key, err = apikeys.Generate(); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("writing the dev API key: %w", err)
		}
	} else if err != nil {
		return nil, nil, fmt.Errorf("reading the dev API key: %w", err)
	}
	if cfg.DevKey != nil {
		cfg.DevKey(key, path)
	}
	set, err := apikeys.Parse([]byte(DevInstitution + " " + key))
	if err != nil {
		return nil, nil, fmt.Errorf("the dev API key in %s: %w", path, err)
	}
	return set, nil, nil
}

// storeHealth is the store's write health (store.HealthChecker), or nil
// for a store that does not report it.
func storeHealth(ctx context.Context, st store.Store) error {
	if hc, ok := st.(store.HealthChecker); ok {
		return hc.Health(ctx)
	}
	return nil
}

// storeCause names the cause of a store failure for /readyz, which is
// public: an OS error (such as "no space left on device") or the kind of a
// Redis failure, never a file path or an address (those are in the logs).
func storeCause(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	if kind := redisstore.ErrorKind(err); kind != "" && kind != "other" {
		return "redis: " + kind
	}
	return "see the logs"
}
