package redis

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lease events, the values of the event label of
// attestd_store_lease_changes_total.
const (
	EventAcquired = "acquired" // this store won the lease (a new fencing token)
	EventLost     = "lost"     // its lease expired or passed to another replica
	EventResigned = "resigned" // it gave the lease up
)

// Campaign implements store.Elector. The lease is the key lease holding
// "replicaID/token" with a TTL of ttl (on the server's clock); the token
// comes from INCR of the key fence, so it grows with every new lease.
// Campaign renews the lease if it is still the one this Store holds,
// acquires a new one if there is none, and otherwise reports another
// replica as leader (token 0). One script does it all, atomically.
//
// The Store remembers the lease value it won; CommitBatch and PutAnchor
// send it to their scripts, which refuse (store.ErrFenced) unless the
// lease key holds exactly that value. So once the lease has expired — even
// before this replica notices — its writes cannot commit. Every replica
// must use its own replicaID; a restarted replica waits like the others
// for its previous lease to expire (its predecessor gives it up by closing its Store).
//
// Campaign at least every ttl/3: a renewal must reach the server before
// the TTL runs out, and the replicas that are not leading take over within
// ttl plus one campaign interval of the leader's death.
func (s *Store) Campaign(ctx context.Context, replicaID string, ttl time.Duration) (leader bool, token uint64, err error) {
	if replicaID == "" {
		return false, 0, errors.New("redis: campaign: empty replica ID")
	}
	if ttl < time.Millisecond {
		return false, 0, fmt.Errorf("redis: campaign: lease TTL %s is below 1ms", ttl)
	}
	err = s.do(ctx, func() error {
		s.leaseMu.Lock()
		defer s.leaseMu.Unlock()
		held, heldToken := s.lease, s.token
		// The value this replica holds, if it was won under this ID.
		mine := ""
		if held != "" && held == fmt.Sprintf("%s/%d", replicaID, heldToken) {
			mine = held
		}
		res, err := s.run(ctx, campaignScript, []string{s.k.lease, s.k.fence}, mine, replicaID, ttl.Milliseconds()).Slice()
		if err != nil {
			return fmt.Errorf("redis: campaign: %w", err)
		}
		code, _ := res[0].(int64)
		switch code {
		case 1:
			leader, token = true, heldToken
		case 2:
			value, _ := res[1].(string)
			tok, _ := res[2].(int64)
			leader, token = true, uint64(tok)
			s.setLeaseLocked(value, token, EventAcquired)
		case 0:
			if held != "" {
				s.setLeaseLocked("", 0, EventLost)
			}
		default:
			return fmt.Errorf("redis: campaign: unexpected script reply %v", res)
		}
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	return leader, token, nil
}

// heldLease returns the lease value to send with a write ("" for none).
func (s *Store) heldLease() string {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	return s.lease
}

// lostLease forgets the lease value after a write was fenced with it,
// unless a Campaign has replaced it since.
func (s *Store) lostLease(value string) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if value != "" && s.lease == value {
		s.setLeaseLocked("", 0, EventLost)
	}
}

// setLease sets the held lease, with s.leaseMu not held.
func (s *Store) setLease(value string, token uint64, event string) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	s.setLeaseLocked(value, token, event)
}

// setLeaseLocked sets the held lease and the leader gauge, and counts the
// event (unless it is "").
func (s *Store) setLeaseLocked(value string, token uint64, event string) {
	s.lease, s.token = value, token
	s.metrics.leaseChange(event, value != "")
}
