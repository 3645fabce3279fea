package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/trust"
)

// receiptKeys opens the receipt keyring (created on first start) and
// returns a signer over it. A file that cannot be read or parsed, or that
// has no key valid now, is refused.
// now is the clock that stamps received times.
func receiptKeys(path string, log *slog.Logger, now func() time.Time) (*receipt.Signer, error) {
	ring, err := receipt.LoadOrCreateKeyring(path, now())
	if err != nil {
		return nil, err
	}
	if _, ok := ring.At(now()); !ok {
		return nil, &ConfigError{"ReceiptKeyFile", fmt.Errorf("%s: no receipt key is valid now (the first starts %s)", path, ring.Keys()[0].ValidFrom.Format(time.RFC3339))}
	}
	logKeys(log, "receipt keys loaded", path, ring)
	return receipt.NewKeyringSigner(ring), nil
}

// watchReceiptKeys re-reads the keyring file every interval until done,
// so a rotation (`attestd receipt-keys rotate`) reaches a running service
// and every replica sharing the file; onReload, if set, is told of each
// new keyring. While running, a file that cannot be read or parsed, or
// has no key valid now, keeps the keys loaded last, and says why once.
func watchReceiptKeys(s *receipt.Signer, path string, log *slog.Logger, done <-chan struct{}, interval time.Duration, onReload func(*receipt.Keyring)) {
	last, _ := os.ReadFile(path)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		var lastErr string
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			data, err := os.ReadFile(path)
			if err == nil && bytes.Equal(data, last) {
				continue
			}
			var ring *receipt.Keyring
			if err == nil {
				ring, err = receipt.ParseKeyring(data)
			}
			if err == nil {
				if _, ok := ring.At(time.Now()); !ok {
					err = fmt.Errorf("no receipt key is valid now")
				}
			}
			if err != nil {
				if err.Error() != lastErr {
					log.Warn("receipt keys file unreadable: keeping the keys loaded last", "path", path, "err", err)
					lastErr = err.Error()
				}
				continue
			}
			s.SetKeyring(ring)
			last, lastErr = data, ""
			logKeys(log, "receipt keys reloaded", path, ring)
			if onReload != nil {
				onReload(ring)
			}
		}
	}()
}

// logKeys logs the keys' ids and periods (never a private part).
func logKeys(log *slog.Logger, msg, path string, ring *receipt.Keyring) {
	var periods []string
	for _, k := range ring.Keys() {
		from, until := k.Bounds()
		periods = append(periods, k.ID()+" from "+from+" until "+until)
	}
	log.Info(msg, "path", path, "keys", periods)
}

// devTrustKeys are the dev trust list's receipt keys: the keyring's, each
// with its period. A key file written before rotation existed has no
// Valid-From; its key is listed from the file's modification time (when
// serve --dev made it).
func devTrustKeys(ring *receipt.Keyring, path string) ([]trust.Key, error) {
	var out []trust.Key
	for _, k := range ring.Keys() {
		tk := trust.Key{PublicKey: k.Public(), ValidFrom: k.ValidFrom}
		if k.ValidFrom.IsZero() {
			fi, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("dev trust list: %w", err)
			}
			tk.ValidFrom = fi.ModTime().UTC().Truncate(time.Second)
		}
		if !k.ValidUntil.IsZero() {
			u := k.ValidUntil
			tk.ValidUntil = &u
		}
		out = append(out, tk)
	}
	return out, nil
}

// receiptKeyPath is the receipt key file in use.
func receiptKeyPath(cfg Config) string {
	if cfg.ReceiptKeyFile != "" {
		return cfg.ReceiptKeyFile
	}
	return filepath.Join(cfg.DataDir, ReceiptKeyFile)
}
