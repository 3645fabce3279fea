package app

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/evidence"
)

// openChain connects to one anchoring chain — the injected Client, the
// embedded dev chain with its funded key, or RPC with the key from
// KeyFile or Keystore — and settles its anchor config: the key and the
// chain ID (asked of the endpoint once when not configured).
func openChain(ctx context.Context, cc ChainConfig, dataDir string, log *slog.Logger) (client ChainClient, acfg anchor.Config, closeFn func() error, err error) {
	acfg = cc.Anchor
	closeFn = func() error { return nil }
	switch {
	case cc.Client != nil:
		client = cc.Client
	case cc.Dev:
		ch, err := devchain.Start(devchain.Config{DataDir: DevChainDir(dataDir, acfg.ChainID), Listen: cc.DevListen, ChainID: acfg.ChainID, Logger: log})
		if err != nil {
			return nil, acfg, nil, fmt.Errorf("starting the dev chain: %w", err)
		}
		log.Info("embedded dev chain running", "rpc", ch.RPCURL(), "chain_id", ch.ChainID(), "funded", ch.Address().Hex())
		client, closeFn = ch.Client(), ch.Close
		if acfg.Key == nil {
			acfg.Key = ch.Key()
		}
		acfg.ChainID = ch.ChainID().Uint64()
	case cc.RPC == "":
		return nil, acfg, nil, &ConfigError{"RPC", errors.New("no endpoint: set Client, Dev or RPC")}
	}
	if acfg.Key == nil {
		switch {
		case cc.Keystore != "":
			acfg.Key, err = LoadKeystore(cc.Keystore, cc.Password)
		case cc.KeyFile != "":
			acfg.Key, err = LoadHexKey(cc.KeyFile)
		default:
			err = &ConfigError{"KeyFile", errors.New("no anchoring key: set Keystore (encrypted), KeyFile (hex) or Anchor.Key")}
		}
		if err != nil {
			return nil, acfg, nil, errors.Join(err, closeFn())
		}
	}
	if client == nil {
		ec, err := ethclient.Dial(cc.RPC)
		if err != nil {
			return nil, acfg, nil, fmt.Errorf("dialing the chain endpoint: %w", err)
		}
		client, closeFn = ec, func() error { ec.Close(); return nil }
	}
	if acfg.ChainID == 0 {
		id, err := client.ChainID(ctx)
		if err != nil {
			return nil, acfg, nil, errors.Join(fmt.Errorf("asking the endpoint for its chain ID (set the chain ID to start while it is down): %w", err), closeFn())
		}
		acfg.ChainID = id.Uint64()
	}
	if acfg.Evidence == nil {
		acfg.Evidence = evidenceClient(ctx, client, log.With("chain", acfg.ChainID))
	}
	return client, acfg, closeFn, nil
}

// headerCheckTimeout bounds evidence.CheckHeaderHash at start.
const headerCheckTimeout = 10 * time.Second

// evidenceClient decides whether the chain evidence of confirmed anchors
// is collected on a chain, and returns the client it is read with (nil:
// none is collected). It is collected when the client can read it
// (evidence.Client: the go-ethereum client and the simulated backend's
// can) and go-ethereum reproduces the chain's block hashes from the
// headers its endpoint returns, which evidence.CheckHeaderHash checks on
// the endpoint's raw JSON-RPC when the client exposes it (Client() of
// *ethclient.Client). When the check cannot be made (no raw JSON-RPC, the
// endpoint down at start) evidence stays on: evidence.Collect compares
// every block hash itself, so such a chain's collections fail and are
// counted instead of storing evidence that does not check.
func evidenceClient(ctx context.Context, client any, log *slog.Logger) evidence.Client {
	ec, ok := client.(evidence.Client)
	if !ok {
		log.Warn("the chain client cannot read chain evidence (it lacks BlockByHash or BlockReceipts); proofs on this chain go without it")
		return nil
	}
	raw, ok := client.(interface{ Client() *rpc.Client })
	if !ok {
		return ec
	}
	ctx, cancel := context.WithTimeout(ctx, headerCheckTimeout)
	defer cancel()
	switch err := evidence.CheckHeaderHash(ctx, raw.Client()); {
	case errors.Is(err, evidence.ErrHeaderHash):
		log.Warn("go-ethereum does not reproduce this chain's block hashes; its anchors are served without chain evidence", "err", err)
		return nil
	case err != nil:
		log.Warn("could not check whether go-ethereum reproduces this chain's block hashes; collecting chain evidence, which checks every block hash itself", "err", err)
	}
	return ec
}

// DevChainDir is where the embedded dev chain chainID keeps its data and
// funded key under the service's dataDir: dataDir itself for the first
// (DevChainID, or 0), as it always was, and dataDir/devchain-<id> for the
// others (serve --dev-chains).
func DevChainDir(dataDir string, chainID uint64) string {
	if chainID == 0 || chainID == devchain.DevChainID {
		return dataDir
	}
	return filepath.Join(dataDir, "devchain-"+strconv.FormatUint(chainID, 10))
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
