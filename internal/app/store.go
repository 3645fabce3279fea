package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
	redisstore "github.com/attestd/attestd/internal/store/redis"
)

// registerStoreMetrics exports the store's health and backlog.
func registerStoreMetrics(m *metrics.Metrics, st store.Store) {
	m.RegisterStoreUp(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return storeHealth(ctx, st)
	})
	if u, ok := st.(store.Unindexer); ok {
		m.RegisterUnindexed(u.Unindexed)
		m.RegisterIndexRuns(u.IndexRuns)
	}
	m.RegisterPending(func() (int, float64) {
		n, oldest, err := st.PendingStats(context.Background())
		if err != nil || n == 0 {
			return n, 0
		}
		return n, time.Since(oldest).Seconds()
	})
}

// openStore opens the store: cfg.OpenStore's, the embedded store in the
// data dir, or Redis.
func openStore(ctx context.Context, cfg Config, m *metrics.Metrics, log *slog.Logger) (store.Store, error) {
	if cfg.OpenStore != nil {
		return cfg.OpenStore(ctx)
	}
	if cfg.Store == "" || cfg.Store == "bolt" {
		return bolt.Open(bolt.Config{Path: filepath.Join(cfg.DataDir, StoreFile), Log: log})
	}
	if !strings.HasPrefix(cfg.Store, "redis") && !strings.HasPrefix(cfg.Store, "unix://") {
		return nil, &ConfigError{"Store", errors.New("want a redis:// (rediss://, redis+sentinel://, redis+cluster://) URL or nothing for the embedded store")}
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
