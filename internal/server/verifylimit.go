package server

import (
	"container/list"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// clientLimiters holds one token bucket per client address for the public
// POST /v1/verify, in a table of at most max entries: when it is full the
// address seen least recently loses its bucket (it starts again with a
// full one, which costs an attacker as many addresses as the table holds).
type clientLimiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	max   int
	lru   *list.List // of *clientEntry, most recent first
	m     map[netip.Prefix]*list.Element
}

type clientEntry struct {
	key netip.Prefix
	lim *rate.Limiter
}

// newClientLimiters returns nil (no limit) for perSecond < 0.
func newClientLimiters(perSecond float64, burst, maxClients int) *clientLimiters {
	if perSecond < 0 {
		return nil
	}
	return &clientLimiters{rate: rate.Limit(perSecond), burst: max(burst, 1), max: max(maxClients, 1),
		lru: list.New(), m: map[netip.Prefix]*list.Element{}}
}

// clientKey is the bucket of a request's remote address: the address
// itself for IPv4, its /64 for IPv6 (one host commonly holds a whole /64).
// The address is the TCP peer's, never a header's: X-Forwarded-For is the
// client's to write.
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{} // one shared bucket for whatever this is
	}
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.WithZone("").Prefix(64)
	return p
}

// allow takes one token for the client at remoteAddr, or says how long to
// wait for one.
func (l *clientLimiters) allow(remoteAddr string) error {
	if l == nil {
		return nil
	}
	key := clientKey(remoteAddr)
	l.mu.Lock()
	var lim *rate.Limiter
	if e, ok := l.m[key]; ok {
		l.lru.MoveToFront(e)
		lim = e.Value.(*clientEntry).lim
	} else {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[key] = l.lru.PushFront(&clientEntry{key: key, lim: lim})
		for l.lru.Len() > l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.m, old.Value.(*clientEntry).key)
		}
	}
	l.mu.Unlock()
	r := lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return &retryAfter{err: fmt.Errorf("%w: this address exceeds %.4g verify requests/s", ErrRateLimited, float64(l.rate)), after: d}
	}
	return nil
}
