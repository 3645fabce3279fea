package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Durability is what Open learned of the server's persistence settings.
// attestd acknowledges a fingerprint (202) once Redis has replied to the
// Submit script; that reply means "on disk" only with appendonly yes and
// appendfsync always (see docs/redis.md). The caller logs a warning at
// start-up unless Durable.
type Durability struct {
	// Known is false when the settings could not be read (CONFIG is
	// disabled or renamed, as on many managed services, or the server did
	// not answer); Err says why.
	Known bool
	// AppendOnly and AppendFsync are the values of CONFIG GET appendonly
	// and appendfsync; on a Cluster, those of the weakest master.
	AppendOnly  string
	AppendFsync string
	// Node is the address the values came from (Cluster: the weakest
	// master), if the client knows it.
	Node string
	Err  string
}

// Durable reports whether the settings make an acknowledged submission
// durable on the server: appendonly yes and appendfsync always.
func (d Durability) Durable() bool {
	return d.Known && d.AppendOnly == "yes" && d.AppendFsync == "always"
}

// Warning returns the start-up warning to log, or "" when Durable.
func (d Durability) Warning() string {
	switch {
	case d.Durable():
		return ""
	case !d.Known:
		return "cannot read the Redis persistence settings (" + d.Err + "); a 202 is durable only with appendonly yes and appendfsync always"
	case d.AppendOnly != "yes":
		return "Redis runs without the AOF (appendonly " + d.AppendOnly + "): acknowledged fingerprints are lost when it restarts; set appendonly yes and appendfsync always"
	default:
		return "Redis fsyncs its AOF with appendfsync " + d.AppendFsync + ", not always: a crash loses the last acknowledged fingerprints; set appendfsync always"
	}
}

// LogValue implements slog.LogValuer.
func (d Durability) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("durable", d.Durable()), slog.Bool("known", d.Known)}
	if d.Known {
		attrs = append(attrs, slog.String("appendonly", d.AppendOnly), slog.String("appendfsync", d.AppendFsync))
	}
	if d.Node != "" {
		attrs = append(attrs, slog.String("node", d.Node))
	}
	if d.Err != "" {
		attrs = append(attrs, slog.String("error", d.Err))
	}
	return slog.GroupValue(attrs...)
}

// strength orders settings from weakest (0) to durable.
func (d Durability) strength() int {
	switch {
	case !d.Known:
		return 0
	case d.AppendOnly != "yes":
		return 1
	case d.AppendFsync == "no":
		return 2
	case d.AppendFsync == "everysec":
		return 3
	case d.AppendFsync == "always":
		return 4
	}
	return 0
}

// checkDurability reads appendonly and appendfsync from the server (on a
// Cluster from every master, reporting the weakest).
func checkDurability(ctx context.Context, rdb goredis.UniversalClient) Durability {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c, ok := rdb.(*goredis.ClusterClient); ok {
		var mu sync.Mutex
		var weakest *Durability
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			d := readDurability(ctx, node)
			d.Node = node.Options().Addr
			mu.Lock()
			defer mu.Unlock()
			if weakest == nil || d.strength() < weakest.strength() {
				weakest = &d
			}
			return nil
		})
		if err != nil {
			return Durability{Err: err.Error()}
		}
		if weakest == nil {
			return Durability{Err: "the cluster has no masters"}
		}
		return *weakest
	}
	d := readDurability(ctx, rdb)
	if c, ok := rdb.(*goredis.Client); ok {
		d.Node = c.Options().Addr
	}
	return d
}

func readDurability(ctx context.Context, c goredis.Cmdable) Durability {
	var d Durability
	for _, p := range []struct {
		name string
		dst  *string
	}{{"appendonly", &d.AppendOnly}, {"appendfsync", &d.AppendFsync}} {
		m, err := c.ConfigGet(ctx, p.name).Result()
		if err != nil {
			return Durability{Err: fmt.Sprintf("CONFIG GET %s: %v", p.name, err)}
		}
		v, ok := m[p.name]
		if !ok {
			return Durability{Err: fmt.Sprintf("CONFIG GET %s: no such setting", p.name)}
		}
		*p.dst = v
	}
	d.Known = true
	return d
}
