package server

import (
	"errors"
	"fmt"
	"testing"
)

// TestClientLimitersBounded: the per-address table never holds more than
// its size, whatever the number of addresses; IPv6 addresses of one /64
// share a bucket; IPv4 addresses do not.
func TestClientLimitersBounded(t *testing.T) {
	l := newClientLimiters(0.001, 1, 4)
	for i := range 1000 {
		if err := l.allow(fmt.Sprintf("10.0.%d.%d:4242", i/256, i%256)); err != nil {
			t.Fatalf("address %d: first request refused: %v", i, err)
		}
		if n := l.lru.Len(); n > 4 {
			t.Fatalf("%d addresses in a table of 4", n)
		}
	}
	if err := l.allow("10.0.3.231:1"); !errors.Is(err, ErrRateLimited) { // the last one, still in the table
		t.Errorf("second request of a remembered address: %v", err)
	}
	if err := l.allow("[2001:db8:1:2::1]:443"); err != nil {
		t.Fatal(err)
	}
	if err := l.allow("[2001:db8:1:2:ffff::9]:443"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("another address of the same /64: %v", err)
	}
	if err := l.allow("[2001:db8:1:3::1]:443"); err != nil {
		t.Errorf("another /64: %v", err)
	}
	if err := l.allow("[::ffff:192.0.2.1]:80"); err != nil {
		t.Fatal(err)
	}
	if err := l.allow("192.0.2.1:81"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("an IPv4-mapped address and its IPv4 form are one client: %v", err)
	}
	if newClientLimiters(-1, 1, 4).allow("10.0.0.1:1") != nil {
		t.Error("a negative rate is unlimited")
	}
}
