package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/attestd/attestd/internal/redistest"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/storetest"
)

// startCluster starts a one-node Redis Cluster holding all slots, and
// returns its redis+cluster URL. In cluster mode Redis refuses scripts
// that touch keys of several slots, which is what this checks.
func startCluster(t *testing.T) string {
	t.Helper()
	srv := redistest.Start(t, redistest.WithArgs("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"))
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer c.Close()
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok: %v %s", err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "redis+cluster://" + srv.Addr()
}

func TestCluster(t *testing.T) {
	url := startCluster(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openLeader(t, url)
		if _, ok := s.rdb.(*goredis.ClusterClient); !ok {
			t.Fatalf("client is %T, want a cluster client", s.rdb)
		}
		s.stageAbove = 256
		if !s.Durability().Durable() {
			t.Errorf("Durability = %+v", s.Durability())
		}
		return s
	})
	storetest.RunFencing(t, func(t *testing.T, n int) []storetest.Replica {
		prefix := newPrefix()
		rs := make([]storetest.Replica, n)
		for i := range rs {
			rs[i] = open(t, Config{URL: url, Prefix: prefix})
		}
		return rs
	})
}
