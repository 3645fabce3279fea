// Package devchain runs the go-ethereum developer chain in-process: what
// `geth --dev --datadir` does, as a library. It backs `attestd serve --dev` and
// `attestd devchain`.
//
// The chain is a go-ethereum node with the eth service driven by the simulated
// beacon (post-merge, no consensus client), its JSON-RPC served over HTTP on a
// loopback address, and its data persisted under the data directory:
//
//	DataDir/
//	  dev-key       funded dev private key (hex, 0600), generated per data dir
//	  chain/        go-ethereum data dir (chain/geth/chaindata, ...), the same
//	                layout as `geth --dev --datadir DataDir/chain`
//
// A fresh data dir gets core.DeveloperGenesisBlock funding the dev key (and,
// when mining on demand, an empty block 1, see waitTxIndex); an existing chain
// is reopened as it is, with its blocks. Unlike geth --dev, a fresh chain
// stores state with the hash scheme in archive mode so that it survives a
// crash (see the comment in Start), and each new head is synced to disk.
package devchain

import (
	"cmp"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/rpc"
)

const (
	// DefaultListen is the default JSON-RPC HTTP address (geth's default port).
	DefaultListen = "127.0.0.1:8545"
	// DefaultGasLimit is the genesis (and target) block gas limit.
	DefaultGasLimit uint64 = 30_000_000
	// DevChainID is the chain id (and network id) of the dev chain, as in geth --dev.
	DevChainID = 1337

	// KeyFile and ChainDir are the names, under Config.DataDir, of the dev key
	// file and of go-ethereum's data directory.
	KeyFile  = "dev-key"
	ChainDir = "chain"

	// nodeName fixes go-ethereum's instance directory (ChainDir/geth). Left
	// empty, go-ethereum would name it after the running executable, so the
	// chain would move with the binary's name.
	nodeName = "geth"
)

// Config configures Start.
type Config struct {
	// DataDir is required: chain data lives under DataDir/chain and the funded
	// dev key in DataDir/dev-key. It is created with mode 0700 if absent.
	DataDir string
	// Listen is the JSON-RPC HTTP address, host:port. The host must be a
	// loopback address or "localhost" unless AllowNonLoopback is set; port 0
	// picks a free port (see Chain.RPCURL). Empty means DefaultListen.
	Listen string
	// AllowNonLoopback permits a Listen host that is not loopback. The RPC
	// endpoint is unauthenticated, so this exposes the chain to the network.
	AllowNonLoopback bool
	// ChainID is the chain id (and network id) of a fresh chain; 0 means
	// DevChainID. An existing chain keeps its own, and Start refuses to
	// open it as another.
	ChainID uint64
	// Period is the number of seconds between blocks; 0 (the default) mines a
	// block on demand as soon as a transaction arrives.
	Period uint64
	// GasLimit is the genesis gas limit of a fresh chain and the gas limit the
	// miner targets; 0 means DefaultGasLimit.
	GasLimit uint64
	// Logger receives go-ethereum's own logs at warn level and above, so the
	// service's log stays readable, plus a line when the chain starts. Nil
	// means slog.Default().
	//
	// go-ethereum logs through a process-wide root logger, so Start replaces it
	// (and Close restores it): with several chains in one process, the most
	// recently started one's Logger receives go-ethereum's logs.
	Logger *slog.Logger
}

// Chain is a running dev chain. Close it to stop it and release the data dir.
type Chain struct {
	stack   *node.Node
	backend *eth.Ethereum
	client  *ethclient.Client
	key     *ecdsa.PrivateKey
	addr    common.Address
	chainID *big.Int
	rpcURL  string

	restoreLog func()
	stopSync   func()
	closeOnce  sync.Once
	closeErr   error
}

// Start starts the dev chain described by cfg: it creates or reopens the chain
// under cfg.DataDir, serves JSON-RPC (eth, net, web3) on cfg.Listen and starts
// block production. It returns once the RPC endpoint accepts requests and
// receipts can be queried (see waitTxIndex). The data dir is locked while the
// chain runs: a second Start on it fails.
func Start(cfg Config) (*Chain, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("devchain: DataDir is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	host, port, err := parseListen(cfg.Listen, cfg.AllowNonLoopback)
	if err != nil {
		return nil, err
	}
	if cfg.GasLimit == 0 {
		cfg.GasLimit = DefaultGasLimit
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// Fail early and cleanly on a taken port: go-ethereum only binds in
	// stack.Start, after the chain is open, and does not unwind the eth service
	// when binding fails there.
	if port != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("devchain: listen %s: %w", cfg.Listen, err)
		}
		l.Close()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devchain: create data dir: %w", err)
	}

	gethLogger := newGethLogger(logger)
	c := &Chain{restoreLog: installRootLogger(gethLogger)}
	ok := false
	defer func() {
		if !ok {
			c.restoreLog()
		}
	}()

	vhosts := []string{"localhost"}
	if net.ParseIP(host) == nil && host != "localhost" {
		vhosts = append(vhosts, host)
	}
	nodeCfg := node.Config{
		Name:             nodeName,
		DataDir:          filepath.Join(cfg.DataDir, ChainDir),
		HTTPHost:         host,
		HTTPPort:         port,
		HTTPModules:      []string{"eth", "net", "web3"},
		HTTPVirtualHosts: vhosts,
		// Any origin may call it from a browser (geth --http.corsdomain '*'):
		// the web verifier, served by attestd at its own origin or opened
		// from disk (origin "null"), reads the chain from the user's
		// browser. The chain is a development chain on loopback whose
		// modules (eth, net, web3) hold no key: a page can read it, and send
		// it transactions someone signed, as any local program can.
		HTTPCors:             []string{"*"},
		HTTPTimeouts:         rpc.DefaultHTTPTimeouts,
		BatchRequestLimit:    node.DefaultConfig.BatchRequestLimit,
		BatchResponseMaxSize: node.DefaultConfig.BatchResponseMaxSize,
		HTTPBodyLimit:        node.DefaultConfig.HTTPBodyLimit,
		IPCPath:              "", // no IPC endpoint
		P2P: p2p.Config{ // no networking, as in geth --dev
			MaxPeers:    0,
			ListenAddr:  "",
			NoDial:      true,
			NoDiscovery: true,
		},
		Logger: gethLogger,
	}
	stack, err := node.New(&nodeCfg) // takes the data dir lock
	if err != nil {
		return nil, fmt.Errorf("devchain: create node: %w", err)
	}
	// How to unwind on failure depends on how far Start got.
	const (
		stageCreated = iota // node created: Close releases it
		stageEth            // eth service created: it only stops via a started node
		stageStarted        // stack.Start called: it closes the node itself on failure
	)
	stage := stageCreated
	defer func() {
		switch {
		case ok:
		case stage == stageCreated:
			stack.Close()
		case stage == stageEth:
			// eth.New already started goroutines on the database; a node
			// closed without being started would not stop them.
			if stack.Start() == nil {
				stack.Close()
			}
		}
	}()

	exists, err := checkExistingChain(stack)
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(cfg.DataDir, KeyFile)
	var key *ecdsa.PrivateKey
	created := false
	if exists {
		// The chain's funds belong to the key it was created with: never
		// generate a new (unfunded) one for an existing chain.
		if key, err = loadKey(keyPath); err != nil {
			return nil, fmt.Errorf("devchain: existing chain in %s needs its dev key: %w", nodeCfg.DataDir, err)
		}
	} else if key, created, err = LoadOrCreateKey(keyPath); err != nil {
		return nil, err
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)

	ethCfg := ethconfig.Defaults
	chainID := cmp.Or(cfg.ChainID, DevChainID)
	ethCfg.NetworkId = chainID
	ethCfg.SyncMode = ethconfig.FullSync
	if !exists {
		ethCfg.Genesis = core.DeveloperGenesisBlock(cfg.GasLimit, &addr)
		gc := *ethCfg.Genesis.Config
		gc.ChainID = new(big.Int).SetUint64(chainID)
		ethCfg.Genesis.Config = &gc
	} // else nil: reopen the stored chain as it is, whatever its genesis
	// Crash safety: with the default path scheme, go-ethereum keeps the
	// recent state in memory and journals it only on a clean shutdown; after
	// a crash the head state is missing, the node falls back to snap sync and
	// the simulated beacon can no longer build blocks (and a second crash
	// leaves the chain unopenable). The hash scheme in archive mode writes
	// every block's state to disk as it is imported, which costs nothing at
	// dev-chain sizes. An existing chain keeps the scheme it was created with.
	if !exists {
		ethCfg.StateScheme = rawdb.HashScheme
	}
	ethCfg.NoPruning = true
	ethCfg.SnapshotCache = 0 // no snapshot to journal or regenerate after a crash
	// No log index: loading it costs ~0.2 s on every reopen, and eth_getLogs
	// still works by scanning blocks, which is quick at dev-chain sizes.
	ethCfg.LogNoHistory = true
	// go-ethereum's defaults are sized for mainnet (GiBs); a dev chain holds a
	// handful of accounts.
	ethCfg.DatabaseCache = 64
	ethCfg.TrieCleanCache = 64
	ethCfg.TrieDirtyCache = 64
	ethCfg.Miner.PendingFeeRecipient = addr
	ethCfg.Miner.GasPrice = big.NewInt(1) // as geth --dev: accept any tip
	ethCfg.Miner.GasCeil = cfg.GasLimit
	backend, err := eth.New(stack, &ethCfg)
	if err != nil {
		return nil, fmt.Errorf("devchain: create eth service: %w", err)
	}
	stage = stageEth
	// Log filters (eth_getLogs, eth_newFilter, ...), as geth registers them.
	filterSystem := filters.NewFilterSystem(backend.APIBackend, filters.Config{
		LogCacheSize:  ethCfg.FilterLogCacheSize,
		LogQueryLimit: ethCfg.LogQueryLimit,
		RangeLimit:    ethCfg.RangeLimit,
	})
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filters.NewFilterAPI(filterSystem)}})

	beacon, err := catalyst.NewSimulatedBeacon(cfg.Period, addr, backend)
	if err != nil {
		return nil, fmt.Errorf("devchain: create simulated beacon: %w", err)
	}
	// Also starts, with Period 0, the loop that mines when a transaction arrives.
	catalyst.RegisterSimulatedBeaconAPIs(stack, beacon)
	stack.RegisterLifecycle(beacon)

	stage = stageStarted
	if err := stack.Start(); err != nil {
		return nil, fmt.Errorf("devchain: start node: %w", err)
	}
	if got := backend.BlockChain().Config().ChainID; got.Uint64() != chainID || !got.IsUint64() {
		stack.Close()
		return nil, fmt.Errorf("devchain: the chain in %s has chain id %s, not %d", nodeCfg.DataDir, got, chainID)
	}
	if exists {
		if err := checkFunded(backend, addr); err != nil {
			stack.Close()
			return nil, fmt.Errorf("%w (key file %s, chain in %s)", err, keyPath, nodeCfg.DataDir)
		}
	}
	c.stopSync = syncOnNewHead(backend, logger)
	waitTxIndex(backend, beacon, cfg.Period, logger)
	ok = true

	c.stack = stack
	c.backend = backend
	c.client = ethclient.NewClient(stack.Attach())
	c.key = key
	c.addr = addr
	c.chainID = new(big.Int).Set(backend.BlockChain().Config().ChainID)
	c.rpcURL = rpcURL(stack.HTTPEndpoint())
	logger.Info("dev chain started",
		"rpc", c.rpcURL, "chain_id", c.chainID, "address", addr,
		"block", backend.BlockChain().CurrentBlock().Number, "new_key", created, "data_dir", nodeCfg.DataDir)
	return c, nil
}

// checkExistingChain reports whether the node's data dir already holds a chain,
// and if so that it is one the simulated beacon can drive (merged at genesis),
// as geth --dev checks.
func checkExistingChain(stack *node.Node) (bool, error) {
	// Open read-only, like geth, so a foreign database isn't upgraded or
	// modified just by looking.
	if rawdb.PreexistingDatabase(stack.ResolvePath("chaindata")) == "" {
		return false, nil
	}
	db, err := stack.OpenDatabaseWithOptions("chaindata", node.DatabaseOptions{ReadOnly: true})
	if err != nil {
		return false, fmt.Errorf("devchain: open chain database: %w", err)
	}
	defer db.Close()
	if rawdb.ReadCanonicalHash(db, 0) == (common.Hash{}) {
		return false, nil
	}
	genesis, err := core.ReadGenesis(db)
	if err != nil {
		return true, fmt.Errorf("devchain: read genesis of existing chain: %w", err)
	}
	switch {
	case genesis.Config.TerminalTotalDifficulty == nil || genesis.Config.TerminalTotalDifficulty.Sign() != 0:
		return true, errors.New("devchain: existing chain is not a dev chain: terminalTotalDifficulty must be 0")
	case genesis.Difficulty == nil || genesis.Difficulty.Sign() != 0:
		return true, errors.New("devchain: existing chain is not a dev chain: genesis difficulty must be 0")
	}
	return true, nil
}

// txIndexTimeout bounds how long Start waits for the transaction indexer.
const txIndexTimeout = 10 * time.Second

// waitTxIndex waits until go-ethereum's transaction indexer has completed its
// first run. Until then eth_getTransactionReceipt answers a not-yet-mined
// transaction with an error ("transaction indexing is in progress") instead
// of null, which a receipt poller would take for a failure. The indexer only
// runs when the chain has a block beyond genesis, so on a fresh chain mined on
// demand an empty block 1 is sealed first (with a period, the beacon seals one
// as soon as it starts).
func waitTxIndex(backend *eth.Ethereum, beacon *catalyst.SimulatedBeacon, period uint64, logger *slog.Logger) {
	chain := backend.BlockChain()
	if chain.TxIndexDone() {
		return
	}
	if period == 0 && chain.CurrentBlock().Number.Sign() == 0 {
		// Commit is not serialised with the mine-on-demand loop; a
		// transaction arriving in this instant at worst makes the two seal
		// competing block 1s, and the loop re-mines whatever the losing one
		// held.
		beacon.Commit()
	}
	deadline := time.Now().Add(txIndexTimeout)
	for !chain.TxIndexDone() {
		if time.Now().After(deadline) {
			logger.Warn("dev chain: transaction indexing still in progress; receipt queries may fail until it completes", "waited", txIndexTimeout)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// syncOnNewHead makes each new head durable: go-ethereum writes the database
// without syncing, and its write-ahead log is buffered in-process, so a crash
// could otherwise lose blocks whose receipts clients have already seen. The
// returned function stops it.
func syncOnNewHead(backend *eth.Ethereum, logger *slog.Logger) (stop func()) {
	heads := make(chan core.ChainHeadEvent, 64) // the feed blocks block import when full
	sub := backend.BlockChain().SubscribeChainHeadEvent(heads)
	db := backend.ChainDb()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-heads:
				// One sync covers every write before it: coalesce.
				for len(heads) > 0 {
					<-heads
				}
				if err := db.SyncKeyValue(); err != nil {
					logger.Warn("dev chain: sync database", "err", err)
				}
			case <-sub.Err(): // closed by Unsubscribe
				return
			}
		}
	}()
	return func() {
		sub.Unsubscribe()
		<-done
	}
}

// checkFunded returns an error if addr has no funds at the head of the chain:
// the dev key of an existing chain must be the one its genesis funded.
func checkFunded(backend *eth.Ethereum, addr common.Address) error {
	st, err := backend.BlockChain().State()
	if err != nil {
		return fmt.Errorf("devchain: read head state: %w", err)
	}
	if st.GetBalance(addr).IsZero() {
		return fmt.Errorf("devchain: dev key %s has no funds on the existing chain (was the key file replaced?)", addr)
	}
	return nil
}

// parseListen splits listen into host and port and checks the host.
func parseListen(listen string, allowNonLoopback bool) (string, int, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("devchain: invalid listen address %q: %w", listen, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("devchain: invalid listen port in %q", listen)
	}
	if host == "" {
		// go-ethereum treats an empty host as "RPC disabled"; an explicit
		// 0.0.0.0 or :: is needed to listen everywhere.
		return "", 0, fmt.Errorf("devchain: listen address %q has no host", listen)
	}
	if !allowNonLoopback && !isLoopback(host) {
		return "", 0, fmt.Errorf("devchain: listen address %q is not loopback; the dev chain's RPC is unauthenticated", listen)
	}
	return host, int(port), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rpcURL turns the node's bound endpoint into a URL a local client can dial:
// a wildcard bind address is replaced by the loopback address.
func rpcURL(endpoint string) string {
	const scheme = "http://"
	hostport := endpoint[len(scheme):]
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return endpoint
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return scheme + net.JoinHostPort(host, port)
}

// RPCURL returns the URL of the JSON-RPC HTTP endpoint actually bound, such
// as "http://127.0.0.1:8545".
func (c *Chain) RPCURL() string { return c.rpcURL }

// Key returns the funded dev key.
func (c *Chain) Key() *ecdsa.PrivateKey { return c.key }

// Address returns the dev key's address, which is also the fee recipient.
func (c *Chain) Address() common.Address { return c.addr }

// ChainID returns the chain id (Config.ChainID, DevChainID by default).
func (c *Chain) ChainID() *big.Int { return new(big.Int).Set(c.chainID) }

// Client returns an in-process client of the chain (all of its RPC APIs, no
// HTTP). It is closed by Close.
func (c *Chain) Client() *ethclient.Client { return c.client }

// Close stops block production and the node, flushes the chain to disk and
// releases the data dir. It is idempotent; later calls return the first
// call's result.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() {
		c.client.Close()
		c.stopSync()
		// Stops the lifecycles in reverse order: the simulated beacon, then the
		// eth service (which persists the chain state), then closes databases.
		if err := c.stack.Close(); err != nil {
			c.closeErr = fmt.Errorf("devchain: close node: %w", err)
		}
		c.restoreLog()
	})
	return c.closeErr
}
