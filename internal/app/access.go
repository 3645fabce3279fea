package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/server"
)

// tlsConfig loads the server certificate and, if configured, the client
// CA pool for mTLS (client certificates optional: API keys still work).
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, &ConfigError{"TLSCert", errors.New("TLS needs both a certificate and its key (TLSCert, TLSKey)")}
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
		return nil, nil, &ConfigError{"APIKeysFile", errors.New("no API keys: name a keys file (see internal/apikeys), or run Dev")}
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
