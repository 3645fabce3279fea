package main

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/backup"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/server"
)

func newServeCmd() *cobra.Command {
	cmd, _ := newServeCmdOpts()
	return cmd
}

// serveOpts are the settings serve's flags write into (tests read them).
type serveOpts struct {
	cfg        *app.Config
	chain      *app.ChainConfig
	chains     *chainFlag
	nDevChains *int
}

func newServeCmdOpts() (*cobra.Command, serveOpts) {
	var (
		cfg                 app.Config
		chain               app.ChainConfig // the one chain the flags configure
		sink                string
		maxFeeGwei          float64
		chainPasswordFile   string
		redisPasswordFile   string
		logFormat, logLevel string
		configFile          string
		chains              chainFlag
		nDevChains          int
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the attestation service",
		Long: `Run the attestation service.

With --dev it needs nothing else: an embedded store and an embedded
go-ethereum dev chain under --data-dir, and a dev API key written to
<data-dir>/dev-api-key. Without --dev give --chain-rpc, --chain-key-file
and --api-keys-file.

--config FILE reads settings from a YAML file that maps flag names to
values (batch-interval: 1m); flags on the command line win over it.

Several chains: every sealed batch is anchored on each, independently
(its own key, nonce, fees, confirmations and retries; one chain down or
stuck delays no other). Give --chain once per chain,
  --chain id=1,rpc=URL,key-file=F[,confirmations=N][,max-fee=GWEI][,sink=ADDR][,name=NAME]
(keystore=F,password-file=F instead of key-file=F for an encrypted key;
rpc-file=F instead of rpc=URL reads the URL from a file, e.g. a mounted
Secret), or a chains: list in the --config file whose entries take the same keys:
  chains:
    - {id: 1, rpc: "https://…", keystore: /keys/a.json, password-file: /keys/a.pw}
    - {id: 137, rpc: "https://…", key-file: /keys/b.hex, confirmations: 64}
The single-chain flags (--chain-rpc, --chain-key-file, …) are the
shorthand for one chain and cannot be mixed with --chain. A chain added to
a service that holds batches takes from-batch=N (the next batch id): it
anchors batch N and later only, and the older batches are not held back
by it; without from-batch it anchors every batch it has not confirmed. With --dev, --dev-chains N runs N embedded dev
chains: chain ids 1337, 1338, … on --chain-listen's port, port+1, ….

Secrets never belong on the command line, where every user of the machine
sees them (ps): the Redis password goes in ATTESTD_REDIS_PASSWORD or
--redis-password-file, the keystore password in ATTESTD_CHAIN_PASSWORD or
--chain-password-file, and an endpoint URL that carries a key (in its path,
query or user info) in ATTESTD_CHAIN_RPC / ATTESTD_STORE, a --config
file or a chain's rpc-file. serve warns when it finds one on the command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			onCommandLine := map[string]bool{} // before --config sets flags too
			cmd.Flags().Visit(func(f *pflag.Flag) { onCommandLine[f.Name] = true })
			if configFile != "" {
				if err := applyConfigFile(cmd.Flags(), configFile); err != nil {
					return err
				}
			}
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.Log = log
			if onCommandLine["store"] && urlHoldsSecret(cfg.Store) {
				log.Warn("the --store URL on the command line carries credentials, visible to other users of this machine (ps): use ATTESTD_STORE, ATTESTD_REDIS_PASSWORD, --redis-password-file or --config")
			}
			if onCommandLine["chain-rpc"] && urlHoldsSecret(chain.RPC) {
				log.Warn("the --chain-rpc URL on the command line may carry a provider key (path, query or user info), visible to other users of this machine (ps): use ATTESTD_CHAIN_RPC or --config")
			}
			if onCommandLine["verify-rpc"] {
				for _, u := range cfg.VerifyRPC {
					if urlHoldsSecret(u) {
						log.Warn("a --verify-rpc URL on the command line may carry a provider key (path, query or user info), visible to other users of this machine (ps): use ATTESTD_VERIFY_RPC or --config")
						break
					}
				}
			}
			if len(cfg.VerifyRPC) == 0 {
				for u := range strings.SplitSeq(os.Getenv("ATTESTD_VERIFY_RPC"), ",") {
					if u = strings.TrimSpace(u); u != "" {
						cfg.VerifyRPC = append(cfg.VerifyRPC, u)
					}
				}
			}
			for _, spec := range chains.specs {
				if spec.cmdLine && chainFlagHoldsSecret(spec.raw) {
					log.Warn("the rpc URL of " + spec.from + " on the command line may carry a provider key (path, query or user info), visible to other users of this machine (ps): put the chain in a --config file's chains: list")
				}
			}
			// Secrets from files or Kubernetes Secrets often end in a newline.
			cfg.RedisPassword = strings.TrimRight(os.Getenv("ATTESTD_REDIS_PASSWORD"), "\r\n")
			chain.Password = strings.TrimRight(os.Getenv("ATTESTD_CHAIN_PASSWORD"), "\r\n")
			if redisPasswordFile != "" {
				if cfg.RedisPassword, err = readSecretFile("redis-password-file", redisPasswordFile); err != nil {
					return err
				}
			}
			// From the environment, a credential in an endpoint URL stays
			// out of the command line (ps, /proc/PID/cmdline) and out of
			// --help, which would show a flag default.
			if chain.RPC == "" && len(chains.specs) == 0 {
				chain.RPC = strings.TrimSpace(os.Getenv("ATTESTD_CHAIN_RPC"))
			}
			if cfg.Store == "" {
				cfg.Store = strings.TrimSpace(os.Getenv("ATTESTD_STORE"))
			}
			if chainPasswordFile != "" {
				pw, err := readSmallFile(chainPasswordFile)
				if err != nil {
					return fmt.Errorf("--chain-password-file: %w", err)
				}
				chain.Password = strings.TrimRight(string(pw), "\r\n")
			}
			cfg.HTTP.Version = version
			if cfg.Dev && !cmd.Flags().Changed("confirmations") {
				chain.Anchor.Confirmations = 1 // the dev chain mines on demand: no blocks come on top by themselves
			}
			if sink != "" {
				if !common.IsHexAddress(sink) {
					return fmt.Errorf("--sink: %q is not an address", sink)
				}
				chain.Anchor.Sink = common.HexToAddress(sink)
			}
			if maxFeeGwei > 0 {
				chain.Anchor.MaxFeePerGas = gweiToWei(maxFeeGwei)
			}
			cfg.DevKey = func(key, path string) {
				fmt.Fprintf(cmd.OutOrStdout(), "dev API key (also in %s):\n  export ATTESTD_API_KEY=%s\n", path, key)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The flags say 0 for no limit; app.Config says a negative value.
			if cfg.HTTP.RatePerSecond == 0 {
				cfg.HTTP.RatePerSecond = -1
			}
			if cfg.HTTP.MaxPending == 0 {
				cfg.HTTP.MaxPending = -1
			}
			if cfg.Chains, err = serveChains(cmd.Flags(), cfg.Dev, chain, &chains, nDevChains); err != nil {
				return err
			}
			svc, err := app.New(ctx, cfg)
			if err != nil {
				return flagError(err)
			}
			return svc.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file of settings: flag names (without --) to values; the command line wins")
	f.StringVar(&cfg.Store, "store", "", "a Redis URL (redis://…, rediss://…, redis+sentinel://…, redis+cluster://…) shared by replicas (env ATTESTD_STORE); default: the embedded store in --data-dir")
	f.StringVar(&redisPasswordFile, "redis-password-file", "", "file holding the Redis password (or env ATTESTD_REDIS_PASSWORD); overrides the URL's")
	f.StringVar(&cfg.ReplicaID, "replica-id", "", "this replica's name in the leader lease (default hostname-pid)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", app.DefaultLeaseTTL, "leader lease with a shared store; a dead leader is replaced within two of these")
	f.StringVar(&cfg.DataDir, "data-dir", app.DefaultDataDir, "directory for the store, keys and (with --dev) the dev chain")
	f.StringVar(&cfg.Listen, "listen", app.DefaultListen, "API address")
	f.StringVar(&cfg.PprofListen, "pprof-listen", "", "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060; off when empty")
	f.BoolVar(&cfg.Dev, "dev", false, "embedded dev chain and dev API key: runs with no other setup")
	f.Var(&chains, "chain", "an anchoring chain: id=ID,rpc=URL,key-file=F[,confirmations=N][,max-fee=GWEI][,sink=ADDR][,name=NAME][,from-batch=N] (keystore=F,password-file=F for an encrypted key; rpc-file=F for the URL from a file); repeat for several; not with the single-chain flags")
	f.IntVar(&nDevChains, "dev-chains", 1, "with --dev: run this many embedded dev chains (chain ids 1337, 1338, …; JSON-RPC on --chain-listen's port, port+1, …)")
	f.StringVar(&chain.DevListen, "chain-listen", devchain.DefaultListen, "JSON-RPC address of the embedded dev chain (with --dev)")
	f.StringVar(&chain.RPC, "chain-rpc", "", "JSON-RPC URL of the anchoring chain (without --dev); when it holds a credential, set ATTESTD_CHAIN_RPC instead, which ps does not show")
	f.StringVar(&chain.KeyFile, "chain-key-file", "", "file holding the anchoring account's hex private key (without --dev)")
	f.StringVar(&chain.Keystore, "chain-keystore", "", "encrypted go-ethereum keystore file of the anchoring account (password: --chain-password-file or ATTESTD_CHAIN_PASSWORD)")
	f.StringVar(&chainPasswordFile, "chain-password-file", "", "file holding the --chain-keystore password")
	f.Uint64Var(&chain.Anchor.ChainID, "chain-id", 0, "the anchoring chain's ID; set it to start while the endpoint is down (default: ask the endpoint)")
	f.StringVar(&sink, "sink", "", "address anchor transactions are sent to (default: the anchoring account itself)")
	f.Uint64Var(&chain.Anchor.Confirmations, "confirmations", anchor.DefaultConfirmations, "blocks (including the anchor's) before a batch is confirmed; 1 with --dev unless set")
	f.Float64Var(&maxFeeGwei, "max-fee", defaultMaxFeeGwei(), "cap on the fee per gas, in gwei")
	f.DurationVar(&chain.Anchor.PollInterval, "chain-poll", anchor.DefaultPollInterval, "how often the anchorer looks at the chain")
	f.DurationVar(&cfg.Batch.Interval, "batch-interval", batch.DefaultInterval, "seal a batch at least this often")
	f.DurationVar(&cfg.Batch.AnchorWithin, "anchor-within", batch.DefaultAnchorWithin, "promise anchoring within this long after sealing; receipts' deadline is received + batch interval + this")
	f.IntVar(&cfg.Batch.MaxSize, "max-batch-size", batch.DefaultMaxSize, "seal as soon as this many fingerprints are pending")
	f.StringVar(&cfg.APIKeysFile, "api-keys-file", "", "API keys file (see `attestd keys`); reloaded while running")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (with --tls-key)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "the PEM private key of --tls-cert")
	f.StringVar(&cfg.ClientCA, "client-ca", "", "with TLS: CA certificates (PEM) whose client certificates authenticate institutions by CommonName")
	f.Float64Var(&cfg.HTTP.RatePerSecond, "rate-limit", server.DefaultRatePerSecond, "submissions per second per institution (0: unlimited)")
	f.IntVar(&cfg.HTTP.RateBurst, "rate-burst", server.DefaultRateBurst, "burst of --rate-limit")
	f.Float64Var(&cfg.HTTP.VerifyRate, "verify-rate", server.DefaultVerifyRate, "POST /v1/verify requests per second per client address (IPv6: per /64); 429 beyond; negative: unlimited")
	f.IntVar(&cfg.HTTP.VerifyBurst, "verify-burst", server.DefaultVerifyBurst, "burst of --verify-rate")
	f.DurationVar(&cfg.HTTP.StatusRefresh, "status-refresh", server.DefaultStatusRefresh, "GET /v1/status (the signed status file) is made anew at most this often and served from memory in between (negative: for every request)")
	f.IntVar(&cfg.HTTP.MaxPending, "max-pending", server.DefaultMaxPending, "refuse with 503 a submission whose new fingerprints would take the number waiting to be sealed past this (0: unlimited)")
	f.Int64Var(&cfg.HTTP.MaxBodyBytes, "max-body", server.DefaultMaxBodyBytes, "request body limit in bytes")
	f.StringVar(&cfg.Backup.Dir, "backup-dir", "", "embedded store: write a consistent copy of the store here every --backup-every (best on another volume; off when empty)")
	f.DurationVar(&cfg.Backup.Every, "backup-every", backup.DefaultEvery, "time between backups (with --backup-dir)")
	f.IntVar(&cfg.Backup.Keep, "backup-keep", backup.DefaultKeep, "backups kept, the newest (with --backup-dir)")
	f.StringSliceVar(&cfg.VerifyRPC, "verify-rpc", nil, "more JSON-RPC endpoints for POST /v1/verify, repeatable or comma-separated (env ATTESTD_VERIFY_RPC): each is asked its chain id at start, and that chain's reads are cross-checked with the anchoring endpoint (a disagreement is undecided)")
	f.StringVar(&cfg.ReceiptKeyFile, "receipt-key-file", "", "Ed25519 receipt signing keys (PEM keyring; created if absent; re-read while running; rotate with attestd receipt-keys; default <data-dir>/receipt-key.pem)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", app.DefaultShutdownTimeout, "bound on the graceful shutdown")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd, serveOpts{&cfg, &chain, &chains, &nDevChains}
}

// defaultMaxFeeGwei is anchor.DefaultMaxFeePerGas in gwei, the unit of
// --max-fee.
func defaultMaxFeeGwei() float64 {
	gwei, _ := new(big.Float).Quo(new(big.Float).SetInt(anchor.DefaultMaxFeePerGas), big.NewFloat(1e9)).Float64()
	return gwei
}

// flagError says an app.ConfigError in the words of serve's flags.
func flagError(err error) error {
	var ce *app.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Field {
	case "Chains", "Chains[0].RPC":
		return errors.New("no chain: pass --dev for the embedded dev chain, or --chain-rpc and --chain-key-file")
	case "Chains[0].KeyFile":
		return errors.New("--chain-rpc needs the anchoring key: --chain-keystore (encrypted) or --chain-key-file (hex)")
	case "APIKeysFile":
		return errors.New("no API keys: pass --api-keys-file (create keys with `attestd keys add INSTITUTION`)")
	case "TLSCert", "TLSKey":
		return errors.New("TLS needs both --tls-cert and --tls-key")
	}
	if flag, ok := configFlags[ce.Field]; ok {
		return fmt.Errorf("%s: %w", flag, ce.Err)
	}
	return err
}

// configFlags maps app.Config fields to the serve flags that set them.
var configFlags = map[string]string{
	"Store":      "--store",
	"Backup.Dir": "--backup-dir",
	"Backup":     "--backup-dir, --backup-every, --backup-keep",
}

func newDevchainCmd() *cobra.Command {
	var (
		cfg       devchain.Config
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "devchain",
		Short: "Run the embedded go-ethereum dev chain alone",
		Long: `Run the embedded go-ethereum dev chain alone, for replicas and demos.
Its funded key is written (hex) to <data-dir>/dev-key; point
serve --chain-rpc at it with --chain-key-file <data-dir>/dev-key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, "info")
			if err != nil {
				return err
			}
			cfg.Logger = log
			ch, err := devchain.Start(cfg)
			if err != nil {
				return err
			}
			defer ch.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "dev chain %s on %s\nfunded account %s (key in %s/%s)\n",
				ch.ChainID(), ch.RPCURL(), ch.Address().Hex(), cfg.DataDir, devchain.KeyFile)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "./attestd-devchain", "chain data and the funded dev key")
	f.StringVar(&cfg.Listen, "listen", devchain.DefaultListen, "JSON-RPC address (loopback)")
	f.Uint64Var(&cfg.Period, "period", 0, "seconds between blocks; 0 mines when a transaction arrives")
	f.Uint64Var(&cfg.ChainID, "chain-id", devchain.DevChainID, "chain id of a new chain (an existing one keeps its own, and must match)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

// serveChains builds the chains serve anchors on from its flags: the
// --chain values (or a --config file's chains: list), the embedded dev
// chains of --dev (--dev-chains of them), or the one chain of the
// single-chain flags. It refuses the single-chain flags beside --chain.
func serveChains(fs *pflag.FlagSet, dev bool, chain app.ChainConfig, chains *chainFlag, nDevChains int) ([]app.ChainConfig, error) {
	if fs.Changed("dev-chains") && !dev {
		return nil, errors.New("--dev-chains is for --dev")
	}
	switch {
	case len(chains.specs) > 0:
		if dev {
			return nil, errors.New("--dev runs embedded dev chains: use --dev-chains N, not --chain")
		}
		for _, name := range singleChainFlags {
			if fs.Changed(name) {
				return nil, fmt.Errorf("--%s is the single-chain shorthand: with --chain (or a chains: list) give the chain's settings in its entry", name)
			}
		}
		var out []app.ChainConfig
		for _, spec := range chains.specs {
			cc, err := spec.chainConfig(chain.Password)
			if err != nil {
				return nil, err
			}
			cc.Anchor.PollInterval = chain.Anchor.PollInterval
			out = append(out, cc)
		}
		return out, nil
	case dev:
		out, err := devChains(nDevChains, chain.DevListen)
		if err != nil {
			return nil, err
		}
		for i := range out {
			a := &out[i].Anchor
			a.Confirmations, a.PollInterval, a.Sink, a.MaxFeePerGas = chain.Anchor.Confirmations, chain.Anchor.PollInterval, chain.Anchor.Sink, chain.Anchor.MaxFeePerGas
		}
		return out, nil
	default:
		return []app.ChainConfig{chain}, nil
	}
}
