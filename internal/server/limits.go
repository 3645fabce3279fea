package server

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited: the institution sent requests faster than its limit
// (429 with Retry-After).
var ErrRateLimited = fmt.Errorf("rate limited")

// retryAfter attaches the Retry-After delay to an error.
type retryAfter struct {
	err   error
	after time.Duration
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

// seconds renders the delay for the Retry-After header: whole seconds,
// at least 1.
func (r *retryAfter) seconds() string {
	return strconv.Itoa(max(1, int(math.Ceil(r.after.Seconds()))))
}

// limiters holds one token bucket per institution.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond <= 0 {
		return nil
	}
	return &limiters{rate: rate.Limit(perSecond), burst: max(burst, 1), m: map[string]*rate.Limiter{}}
}

// allow takes one token for inst, or says how long to wait for one.
func (l *limiters) allow(inst string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	lim, ok := l.m[inst]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[inst] = lim
	}
	l.mu.Unlock()
	r := lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return &retryAfter{err: fmt.Errorf("%w: institution %s exceeds %.4g requests/s", ErrRateLimited, inst, float64(l.rate)), after: d}
	}
	return nil
}
