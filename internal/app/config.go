package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/backup"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/redact"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/verify"
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
	DataDir string // store, receipt key and (with a Dev chain) the dev chain live here
	Listen  string // API address

	// PprofListen, when set, serves Go's profiles (net/http/pprof: CPU,
	// heap, allocations, goroutines) on this address, apart from the API
	// and without authentication: it must be a loopback address.
	PprofListen string

	// Dev, without APIKeysFile, creates a dev API key in DataDir/dev-api-key.
	// (serve --dev sets it and makes its one chain the embedded dev chain.)
	Dev bool

	// Chains are the chains every sealed batch is anchored on: at least one.
	Chains []ChainConfig

	Batch batch.Config
	// HTTP configures the API. Its submission limits take the server's
	// defaults when zero — RatePerSecond DefaultRatePerSecond, RateBurst
	// DefaultRateBurst, MaxPending DefaultMaxPending — and a negative
	// RatePerSecond or MaxPending asks for no limit.
	HTTP server.Config

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
	// OpenStore, if set, opens the store instead of Store (tests and
	// embedders that build one otherwise). The Service closes what it
	// returns.
	OpenStore func(ctx context.Context) (store.Store, error)

	APIKeysFile     string // "institution sha256:<hash>" lines (see internal/apikeys)
	TLSCert, TLSKey string // serve HTTPS with this certificate and key
	ClientCA        string // with TLS: PEM CAs whose client certificates authenticate institutions (CommonName)
	ReceiptKeyFile  string // Ed25519 receipt keys (PEM keyring, internal/receipt); created if absent; "" = DataDir/receipt-key.pem
	// VerifyRPC are more JSON-RPC endpoints for POST /v1/verify: each is
	// asked its chain id at start, and that chain's reads are cross-checked
	// across it and the anchoring endpoint (internal/verify.CrossChecked).
	VerifyRPC       []string
	ShutdownTimeout time.Duration

	Log *slog.Logger
	// DevKey, if set, is told the generated dev API key (serve prints it).
	DevKey func(key, path string)
	// Ready, if set, adds an embedder's own readiness reasons to the
	// service's in /readyz (notReady: 503; degraded: 200).
	Ready func(ctx context.Context) (notReady, degraded []string)
}

// ChainConfig is one anchoring chain: where its endpoint is, the
// anchoring key, and how its anchorer works. The endpoint is, in this
// order of precedence, Client, the embedded dev chain (Dev) or RPC.
type ChainConfig struct {
	Name string // what the operator calls the chain, in logs and /readyz ("" = its id)

	// Dev runs the embedded go-ethereum dev chain in-process under
	// DevChainDir(DataDir, Anchor.ChainID), anchoring with its funded key;
	// Anchor.ChainID (0: devchain.DevChainID) is the chain id it is created
	// with. Several chains can be Dev, each with its own id and DevListen.
	Dev       bool
	DevListen string // the dev chain's JSON-RPC address

	RPC     string // JSON-RPC endpoint of the chain
	KeyFile string // hex private key of the anchoring account, or…
	// Keystore is an encrypted go-ethereum keystore file (V3 JSON) of the
	// anchoring account, unlocked with Password.
	Keystore string
	Password string // never logged

	// Client, if set, is the chain endpoint (a simulated backend in tests,
	// an embedder's own client); the Service does not close it.
	Client ChainClient

	// Anchor configures the chain's anchorer. Anchor.ChainID 0 asks the
	// endpoint once, in New; Anchor.Key, if set, is the anchoring key
	// (instead of KeyFile or Keystore); Anchor.AnchorWithin 0 takes
	// Batch.AnchorWithin; Anchor.Evidence nil is decided in New: the
	// endpoint's client when it can read chain evidence and go-ethereum
	// reproduces the chain's block hashes (evidence.CheckHeaderHash), else
	// none (Service.Anchorer(id).CollectsEvidence says which).
	Anchor anchor.Config
}

// withDefaults fills in what c leaves zero: the service's own settings
// and the defaults that the parts leave unlimited on their own (a
// negative limit stays, meaning unlimited). The parts apply the rest of
// their Default* constants themselves.
func (c Config) withDefaults() Config {
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	if c.ReplicaID == "" {
		host, _ := os.Hostname()
		c.ReplicaID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	c.HTTP.RatePerSecond = cmp.Or(c.HTTP.RatePerSecond, server.DefaultRatePerSecond)
	c.HTTP.RateBurst = cmp.Or(c.HTTP.RateBurst, server.DefaultRateBurst)
	c.HTTP.MaxPending = cmp.Or(c.HTTP.MaxPending, server.DefaultMaxPending)
	c.Chains = slices.Clone(c.Chains)
	for i := range c.Chains {
		a := &c.Chains[i].Anchor
		a.AnchorWithin = cmp.Or(a.AnchorWithin, c.Batch.AnchorWithin, batch.DefaultAnchorWithin)
		a.ReceiptDeadline = cmp.Or(a.ReceiptDeadline, c.Batch.Promise())
	}
	return c
}

// A ConfigError is a Config that cannot work. Field names the Config
// field at fault as Go spells it ("Store", "Chains[0].KeyFile");
// cmd/attestd says which of its flags sets it.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ChainClient is what the service needs of a chain endpoint: the
// anchorer's calls and the verifier's reads. *ethclient.Client and the
// simulated backend's client satisfy it.
type ChainClient interface {
	anchor.Client
	verify.Chain
}

// LogValue keeps secrets (the anchoring key, credentials in the endpoint
// URLs) out of logs.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("data_dir", c.DataDir), slog.String("listen", c.Listen), slog.Bool("dev", c.Dev),
		slog.String("store", RedactURL(c.Store)),
		slog.Duration("batch_interval", c.Batch.Interval), slog.Int("max_batch_size", c.Batch.MaxSize),
		slog.String("backup_dir", c.Backup.Dir),
	}
	for i, ch := range c.Chains {
		attrs = append(attrs, slog.Attr{Key: "chain" + strconv.Itoa(i), Value: ch.LogValue()})
	}
	return slog.GroupValue(attrs...)
}

// LogValue shows the chain's endpoint without credentials and never its
// key or password.
func (c ChainConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name), slog.Bool("dev", c.Dev), slog.String("rpc", RedactURL(c.RPC)),
		slog.Uint64("chain_id", c.Anchor.ChainID), slog.Uint64("confirmations", c.Anchor.Confirmations),
		slog.String("sink", c.Anchor.Sink.Hex()),
	)
}

// RedactURL shows an endpoint URL without what may be a credential: the
// user info, the path and the query (RPC providers put API keys in the
// path). "https://u:p@rpc.example/v3/KEY" is logged as
// "https://rpc.example/…". See redact.URL.
func RedactURL(raw string) string { return redact.URL(raw) }
