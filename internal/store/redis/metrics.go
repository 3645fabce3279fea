package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/attestd/attestd/internal/store"
)

// Metrics are the Redis store's instruments. One Metrics may serve several
// Stores of a process (their leader gauges then share one series).
type Metrics struct {
	// Leader is 1 while the store holds the lease as far as it knows.
	Leader prometheus.Gauge
	// LeaseChanges counts lease events by event: acquired, lost, resigned.
	LeaseChanges *prometheus.CounterVec
	// Errors counts failed Redis calls by kind (see ErrorKind).
	Errors *prometheus.CounterVec
}

// NewMetrics creates the instruments and registers them on reg (attestd's
// private registry): attestd_store_leader,
// attestd_store_lease_changes_total{event} and
// attestd_store_redis_errors_total{kind}.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attestd_store_leader",
			Help: "1 while this replica holds the Redis leader lease (it seals and anchors), else 0.",
		}),
		LeaseChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_store_lease_changes_total",
			Help: "Leader lease changes of this replica: acquired, lost (expired or taken over; writes were fenced), resigned.",
		}, []string{"event"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_store_redis_errors_total",
			Help: "Failed Redis calls by kind: timeout, connection, readonly, loading, oom, auth, busy, cluster, server, other.",
		}, []string{"kind"}),
	}
	for _, e := range []string{EventAcquired, EventLost, EventResigned} {
		m.LeaseChanges.WithLabelValues(e)
	}
	reg.MustRegister(m.Leader, m.LeaseChanges, m.Errors)
	return m
}

func (m *Metrics) leaseChange(event string, leader bool) {
	if m == nil {
		return
	}
	if leader {
		m.Leader.Set(1)
	} else {
		m.Leader.Set(0)
	}
	if event != "" {
		m.LeaseChanges.WithLabelValues(event).Inc()
	}
}

// redisError counts err if it is a failure of Redis or of the connection
// to it (not a store outcome such as ErrNotFound, nor the caller's
// cancellation).
func (m *Metrics) redisError(err error) {
	if m == nil {
		return
	}
	if kind := ErrorKind(err); kind != "" {
		m.Errors.WithLabelValues(kind).Inc()
	}
}

// ErrorKind classifies an error of a Redis call into a bounded set of
// kinds for metrics and logs: timeout, connection, readonly (a replica,
// e.g. during failover), loading (the server is loading its data), oom,
// auth, busy (a script is running too long), cluster (CLUSTERDOWN,
// TRYAGAIN, MASTERDOWN, a redirection that was not followed), server (any
// other error reply) or other. It returns "" for nil, for the store's own
// outcomes (ErrNotFound, ErrConflict, ErrFenced, ErrClosed) and for the
// caller's context errors.
func ErrorKind(err error) string {
	var netErr net.Error
	var opErr *net.OpError
	var redisErr goredis.Error
	switch {
	case err == nil,
		errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrFenced), errors.Is(err, store.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ""
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, goredis.ErrPoolTimeout):
		return "timeout"
	case goredis.IsReadOnlyError(err):
		return "readonly"
	case goredis.IsLoadingError(err):
		return "loading"
	case goredis.IsOOMError(err):
		return "oom"
	case goredis.IsAuthError(err), goredis.IsPermissionError(err):
		return "auth"
	case goredis.HasErrorPrefix(err, "BUSY"):
		return "busy"
	case goredis.IsClusterDownError(err), goredis.IsTryAgainError(err), goredis.IsMasterDownError(err),
		goredis.HasErrorPrefix(err, "MOVED"), goredis.HasErrorPrefix(err, "ASK"), goredis.HasErrorPrefix(err, "CROSSSLOT"):
		return "cluster"
	case errors.As(err, &redisErr):
		return "server"
	case errors.As(err, &opErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, net.ErrClosed):
		return "connection"
	}
	return "other"
}

// unavailable wraps err with store.ErrUnavailable when its kind says Redis
// cannot serve now but may later: unreachable, timing out, loading, read
// only (a failover), out of memory, busy with a script, a cluster without
// a master, refused credentials (a rotation under way), or an error reply
// saying it cannot persist (MISCONF: an RDB/AOF write failed, e.g. a full
// disk) or lacks the replicas it needs (NOREPLICAS). Other errors come back
// as they are.
func unavailable(err error) error {
	switch ErrorKind(err) {
	case "", "other":
		return err
	case "server":
		if !goredis.HasErrorPrefix(err, "MISCONF") && !goredis.HasErrorPrefix(err, "NOREPLICAS") {
			return err
		}
	}
	return store.Unavailable(err)
}

// healthProbeEvery bounds how often Health writes to Redis.
const healthProbeEvery = time.Second

// Health implements store.HealthChecker with a write that changes nothing
// (the version key set to its value, only if it exists): it fails while
// Redis cannot be reached or cannot take writes (read only, MISCONF, OOM,
// loading), where a read would succeed. The outcome is kept for
// healthProbeEvery.
func (s *Store) Health(ctx context.Context) error {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	if !s.probedAt.IsZero() && time.Since(s.probedAt) < healthProbeEvery {
		return s.probedErr
	}
	err := s.do(ctx, func() error {
		err := s.rdb.SetXX(ctx, s.k.version, formatVersion, 0).Err()
		if err != nil {
			return fmt.Errorf("redis: writing: %w", err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrClosed) && ctx.Err() == nil {
		err = store.Unavailable(err)
	}
	if ctx.Err() == nil {
		s.probedAt, s.probedErr = time.Now(), err
	}
	return err
}
