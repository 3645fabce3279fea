package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/redistest"
	"github.com/attestd/attestd/internal/store"
)

// TestUnavailable: Redis down, and Redis refusing writes while it still
// serves reads (NOREPLICAS, as with min-replicas-to-write and no replica;
// MISCONF and READONLY behave alike), answer store.ErrUnavailable, and
// Health reports it — a read would not notice the second — until Redis
// takes writes again.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := open(t, Config{URL: srv.URL(), Prefix: newPrefix()})
	sub := []store.Submission{{Fingerprint: fingerprint.Sum([]byte("health")), Institution: "i"}}
	if _, _, err := s.Submit(ctx, sub, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	waitHealth := func(want func(error) bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for err := s.Health(ctx); !want(err); err = s.Health(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("Health = %v, want %s", err, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	unavailable := func(err error) bool { return errors.Is(err, store.ErrUnavailable) }
	waitHealth(unavailable, "ErrUnavailable while writes are refused")
	if _, _, err := s.Submit(ctx, []store.Submission{{Fingerprint: fingerprint.Sum([]byte("refused")), Institution: "i"}}, 0); !unavailable(err) {
		t.Fatalf("Submit while writes are refused: %v, want ErrUnavailable", err)
	}
	if _, err := s.Entry(ctx, sub[0].Fingerprint); err != nil {
		t.Fatalf("a read while writes are refused: %v", err)
	}
	if err := admin.ConfigSet(ctx, "min-replicas-to-write", "0").Err(); err != nil {
		t.Fatal(err)
	}
	waitHealth(func(err error) bool { return err == nil }, "nil once writes work")

	srv.Kill()
	if _, _, err := s.Submit(ctx, sub, 0); !unavailable(err) {
		t.Fatalf("Submit with Redis down: %v, want ErrUnavailable", err)
	}
	if _, err := s.Entry(ctx, sub[0].Fingerprint); !unavailable(err) {
		t.Fatalf("Entry with Redis down: %v, want ErrUnavailable", err)
	}
	waitHealth(unavailable, "ErrUnavailable with Redis down")
	srv.Restart()
	waitHealth(func(err error) bool { return err == nil }, "nil once Redis is back")
	if e, err := s.Entry(ctx, sub[0].Fingerprint); err != nil || e.Institution != "i" {
		t.Fatalf("after the restart: %+v, %v", e, err)
	}
}
