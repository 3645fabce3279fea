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

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/devchain"
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
	return client, acfg, closeFn, nil
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
