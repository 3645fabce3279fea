// Package redis is attestd's Redis store, for several replicas sharing one
// Redis (standalone, Sentinel or Cluster). It implements store.Store with
// Redis's own primitives and store.Elector with a lease and a fencing
// token; docs/redis.md describes the key layout, the scripts and the lease
// protocol.
//
//   - Every write is one Lua script, so it is atomic on the server and, with
//     the AOF, all of it or none of it survives a crash (Redis appends a
//     script's effects as one MULTI/EXEC block). Scripts check all their
//     preconditions before their first write: Redis does not roll a script
//     back.
//   - Submit is one script call for any number of fingerprints: a new
//     fingerprint gets the next sequence number, an entry (HSETNX) and a
//     place at the tail of the pending list.
//   - CommitBatch checks that the caller still holds the lease (fencing)
//     and that the fingerprints are the head of the pending list, then
//     makes them the next batch. Entries are not rewritten: a batch covers
//     a range of sequence numbers, so a commit writes O(levels) keys. A
//     large tree's levels are staged first under private keys (with a TTL)
//     and renamed into place by the script, so a crash never leaves half a
//     batch visible.
//   - Proof reads are one pipelined round trip of GETRANGEs of 32
//     bytes, one per level.
//
// The store needs the lease for CommitBatch and PutAnchor: a Store that has
// not won a Campaign (or whose lease has expired or passed to another
// replica) gets store.ErrFenced and writes nothing. Submissions and reads
// need no lease.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/attestd/attestd/internal/store"
)

// DefaultPrefix is the default Config.Prefix.
const DefaultPrefix = "attestd:"

// HashTag is the Redis Cluster hash tag inside every key, so that all of a
// store's keys are in one slot and one script may touch any of them.
const HashTag = "{attestd}"

// DefaultReadTimeout is the socket read timeout used when the URL sets
// none (go-redis's own default is 3s). A commit of a large batch runs as
// one script on the server, so it must fit in it; the timeout does not
// change correctness (a commit that timed out on the client but succeeded
// on the server is recognised when retried), only how soon a dead
// connection is noticed.
const DefaultReadTimeout = 30 * time.Second

// Config configures Open. Secrets are never logged: Config implements
// slog.LogValuer and redacts them.
type Config struct {
	// URL selects the server(s); see docs/redis.md:
	//
	//	redis://[user:password@]host:port[/db][?option=value…]      standalone
	//	rediss://…                                                  standalone over TLS
	//	unix://[user:password@]/path/to/redis.sock[?db=N]           standalone over a Unix socket
	//	redis+sentinel://[user:password@]host:port[,host:port…]/master[/db][?option=value…]
	//	redis+cluster://[user:password@]host:port[,host:port…][?option=value…]
	//
	// (rediss+sentinel and rediss+cluster for TLS). The options are
	// go-redis's URL options (dial_timeout, read_timeout, pool_size, …). In
	// the Sentinel form the user and password are the data nodes'; the
	// Sentinels' own password is SentinelPassword.
	URL string
	// Prefix starts every key; "" means DefaultPrefix. Several attestd
	// deployments may share a Redis with different prefixes.
	Prefix string
	// TLS, if set, is used for the connections (whatever the scheme). With
	// rediss:// and no TLS, the system roots verify the server's name.
	TLS *tls.Config
	// Password, if set, replaces the URL's password.
	Password string
	// SentinelPassword authenticates to the Sentinels (Sentinel form only).
	SentinelPassword string
	// Metrics receives leader status, lease changes and Redis errors; nil
	// records nothing.
	Metrics *Metrics
}

// LogValue implements slog.LogValuer: the URL with its password (and any
// password option) replaced by "xxxxx", and whether passwords are set.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.String("prefix", c.prefix()),
		slog.Bool("tls", c.TLS != nil || strings.HasPrefix(c.URL, "rediss")),
		slog.Bool("password_set", c.Password != ""),
		slog.Bool("sentinel_password_set", c.SentinelPassword != ""),
	)
}

// String returns the redacted form, so that printing a Config with %v does
// not show a secret either.
func (c Config) String() string { return c.LogValue().String() }

func (c Config) prefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

// formatVersion is the layout version stored under the version key.
const formatVersion = "1"

// Store is the Redis store. It is safe for concurrent use.
type Store struct {
	// mu is held for reading by every operation and for writing by Close,
	// so Close waits for operations in flight and later ones see closed.
	mu     sync.RWMutex
	closed bool

	rdb        goredis.UniversalClient
	k          keys
	metrics    *Metrics
	durability Durability
	// stageAbove is the tree size in bytes above which CommitBatch stages
	// the levels before its script instead of passing them as arguments.
	stageAbove int

	leaseMu sync.Mutex
	lease   string // "replicaID/token" of the lease this store holds; "" if none
	token   uint64

	healthMu  sync.Mutex
	probedAt  time.Time // last Health probe
	probedErr error     // its outcome
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.Elector       = (*Store)(nil)
	_ store.HealthChecker = (*Store)(nil)
)

// defaultStageAbove: trees up to 1 MiB (about 16k leaves) go to the commit
// script as arguments.
const defaultStageAbove = 1 << 20

// Open connects to the server(s) named by cfg.URL, checks the layout
// version under cfg.Prefix (setting it on a new store) and reads the
// server's persistence settings (see Durability). It fails if the server
// cannot be reached.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("redis: prefix %q must not contain braces (every key already has the hash tag %s)", cfg.Prefix, HashTag)
	}
	rdb, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	s := &Store{
		rdb:        rdb,
		k:          newKeys(cfg.prefix()),
		metrics:    cfg.Metrics,
		stageAbove: defaultStageAbove,
	}
	if err := s.init(ctx); err != nil {
		s.metrics.redisError(err)
		rdb.Close()
		return nil, fmt.Errorf("redis: open %s: %w", redactURL(cfg.URL), err)
	}
	s.durability = checkDurability(ctx, rdb)
	return s, nil
}

// init pings the server, checks (or sets) the format version and loads
// the scripts.
func (s *Store) init(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	if err := s.rdb.SetNX(ctx, s.k.version, formatVersion, 0).Err(); err != nil {
		return err
	}
	v, err := s.rdb.Get(ctx, s.k.version).Result()
	if err != nil {
		return err
	}
	if v != formatVersion {
		return fmt.Errorf("unsupported store format version %q under %q (want %s)", v, s.k.version, formatVersion)
	}
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("loading scripts: %w", err)
		}
	}
	return nil
}

// Durability returns the persistence settings read at Open.
func (s *Store) Durability() Durability { return s.durability }

// Close closes the connections after the operations in flight have
// finished. If this store holds the lease it resigns it first (best
// effort, within a second), so that another replica takes over at once.
// Later calls of any method return store.ErrClosed; Close itself may be
// called again and then returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if lease := s.heldLease(); lease != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.run(ctx, resignScript, []string{s.k.lease}, lease).Err()
		cancel()
		s.metrics.redisError(err)
		s.setLease("", 0, EventResigned)
	}
	return s.rdb.Close()
}

// do runs fn with the store open and ctx not yet cancelled, and counts the
// Redis errors it returns.
func (s *Store) do(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	err := fn()
	s.metrics.redisError(err)
	return unavailable(err)
}

// clientOptions holds the go-redis options of one of the three kinds of
// client; exactly one field is set.
type clientOptions struct {
	simple   *goredis.Options
	cluster  *goredis.ClusterOptions
	failover *goredis.FailoverOptions
}

// newClient builds the go-redis client for cfg.
func newClient(cfg Config) (goredis.UniversalClient, error) {
	o, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	switch {
	case o.cluster != nil:
		return goredis.NewClusterClient(o.cluster), nil
	case o.failover != nil:
		return goredis.NewFailoverClient(o.failover), nil
	}
	return goredis.NewClient(o.simple), nil
}

// parseConfig turns cfg's URL, TLS and passwords into client options.
func parseConfig(cfg Config) (clientOptions, error) {
	if cfg.URL == "" {
		return clientOptions{}, errors.New("empty URL")
	}
	scheme, _, ok := strings.Cut(cfg.URL, "://")
	if !ok {
		return clientOptions{}, fmt.Errorf("URL %s has no scheme", redactURL(cfg.URL))
	}
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := goredis.ParseURL(cfg.URL)
		if err != nil {
			return clientOptions{}, fmt.Errorf("URL %s: %w", redactURL(cfg.URL), parseErr(err))
		}
		if cfg.TLS != nil {
			o.TLSConfig = cfg.TLS
		}
		if cfg.Password != "" {
			o.Password = cfg.Password
		}
		if u, err := url.Parse(cfg.URL); err == nil && !u.Query().Has("read_timeout") {
			o.ReadTimeout = DefaultReadTimeout
		}
		return clientOptions{simple: o}, nil

	case "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster":
		base, mode, _ := strings.Cut(scheme, "+")
		defPort := "6379"
		if mode == "sentinel" {
			defPort = "26379"
		}
		u, hosts, err := splitHosts(cfg.URL, defPort)
		if err != nil {
			return clientOptions{}, err
		}
		user, pass := "", ""
		if u.User != nil {
			user = u.User.Username()
			pass, _ = u.User.Password()
		}
		if cfg.Password != "" {
			pass = cfg.Password
		}
		q := u.Query()
		for _, h := range hosts[1:] {
			q.Add("addr", h)
		}
		if mode == "cluster" {
			if u.Path != "" && u.Path != "/" {
				return clientOptions{}, fmt.Errorf("URL %s: a cluster URL has no path (Cluster has only database 0)", redactURL(cfg.URL))
			}
			// ParseClusterURL takes the first address as the host, the
			// others as addr options; the credentials are set below.
			o, err := goredis.ParseClusterURL((&url.URL{Scheme: base, Host: hosts[0], RawQuery: q.Encode()}).String())
			if err != nil {
				return clientOptions{}, fmt.Errorf("URL %s: %w", redactURL(cfg.URL), parseErr(err))
			}
			o.Username, o.Password = user, pass
			if cfg.TLS != nil {
				o.TLSConfig = cfg.TLS
			}
			if !q.Has("read_timeout") {
				o.ReadTimeout = DefaultReadTimeout
			}
			return clientOptions{cluster: o}, nil
		}
		// Sentinel: the path is /master[/db].
		parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
		if len(parts) == 0 || len(parts) > 2 {
			return clientOptions{}, fmt.Errorf("URL %s: a sentinel URL's path is /master-name[/db]", redactURL(cfg.URL))
		}
		q.Set("master_name", parts[0])
		path := ""
		if len(parts) == 2 {
			path = "/" + parts[1]
		}
		o, err := goredis.ParseFailoverURL((&url.URL{Scheme: base, Host: hosts[0], Path: path, RawQuery: q.Encode()}).String())
		if err != nil {
			return clientOptions{}, fmt.Errorf("URL %s: %w", redactURL(cfg.URL), parseErr(err))
		}
		o.Username, o.Password = user, pass
		o.SentinelPassword = cfg.SentinelPassword
		if cfg.TLS != nil {
			o.TLSConfig = cfg.TLS
		}
		if !q.Has("read_timeout") {
			o.ReadTimeout = DefaultReadTimeout
		}
		return clientOptions{failover: o}, nil
	}
	return clientOptions{}, fmt.Errorf("URL %s: unknown scheme %q (want redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster)", redactURL(cfg.URL), scheme)
}

// hostsPlaceholder stands for the host list while net/url parses the rest
// of a URL (it cannot parse a comma-separated host list with IPv6
// literals).
const hostsPlaceholder = "hosts.invalid"

// splitHosts parses a URL whose host part is a comma-separated list of
// host[:port], giving each host without a port defPort. It returns the URL
// with the list replaced by hostsPlaceholder, and the hosts.
func splitHosts(raw, defPort string) (*url.URL, []string, error) {
	u, hosts, err := cutHosts(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("URL %s: %w", redactURL(raw), parseErr(err))
	}
	for i, h := range hosts {
		if h == "" {
			return nil, nil, fmt.Errorf("URL %s: empty host in the host list", redactURL(raw))
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			hosts[i] = net.JoinHostPort(strings.Trim(h, "[]"), defPort)
		}
	}
	return u, hosts, nil
}

// cutHosts splits raw into a URL with hostsPlaceholder for its host list,
// and the list.
func cutHosts(raw string) (*url.URL, []string, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	authEnd := strings.IndexAny(rest, "/?#")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	auth, tail := rest[:authEnd], rest[authEnd:]
	userinfo, hostlist := "", auth
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		userinfo, hostlist = auth[:i+1], auth[i+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + hostsPlaceholder + tail)
	if err != nil {
		return nil, nil, err
	}
	return u, strings.Split(hostlist, ","), nil
}

// parseErr drops the URL that net/url quotes in its errors (it would show
// the password) and keeps what is wrong with it.
func parseErr(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// redactURL returns raw with the password of its userinfo and the values
// of options whose name contains "password" replaced by "xxxxx". A URL it
// cannot parse comes back as a placeholder, never verbatim.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return "(unparsable URL)"
	}
	var u *url.URL
	var hosts []string
	var err error
	if strings.Contains(scheme, "+") {
		u, hosts, err = cutHosts(raw)
	} else {
		u, err = url.Parse(raw)
	}
	if err != nil {
		return "(unparsable URL)"
	}
	if q := u.Query(); len(q) > 0 {
		changed := false
		for name := range q {
			if strings.Contains(strings.ToLower(name), "password") {
				q.Set(name, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	out := u.Redacted()
	if hosts != nil {
		out = strings.Replace(out, hostsPlaceholder, strings.Join(hosts, ","), 1)
	}
	return out
}
