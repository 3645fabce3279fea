package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/proof"
)

// Status is where a fingerprint is on its way to a proof (GET
// /v1/fingerprints/{fp}): Status is pending, sealed, anchored or confirmed
// (the slowest chain's), Chains each chain's own when the server anchors
// on several, and Proof the proof bundle once the batch is anchored.
type Status = api.FingerprintStatus

const (
	// DefaultPoll is how often [Client.Upgrade] asks while it waits.
	DefaultPoll = time.Second
	// DefaultEvidenceGrace is how long [Client.Upgrade] waits, once a
	// batch is confirmed, for its chain evidence. The server collects it
	// right after the confirmation; one whose chain endpoint cannot give it
	// never will, and its proof then verifies against chain endpoints only.
	DefaultEvidenceGrace = 2 * time.Minute
)

// Status asks the server where fp is. A proof in the answer has been
// checked: well-formed, and for fp. A fingerprint the server does not know
// is an error wrapping [ErrUnknownFingerprint].
func (c *Client) Status(ctx context.Context, fp Fingerprint) (*Status, error) {
	resp, err := c.api.GetFingerprintWithResponse(ctx, fp.String())
	if err != nil {
		return nil, fmt.Errorf("fetching the proof: %w", err)
	}
	switch {
	case resp.StatusCode() == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %w", ErrUnknownFingerprint, problem("fetching the proof", resp.HTTPResponse, resp.Body))
	case resp.StatusCode() != http.StatusOK || resp.JSON200 == nil:
		return nil, problem("fetching the proof", resp.HTTPResponse, resp.Body)
	}
	st := resp.JSON200
	if b := st.Proof; b != nil {
		// Decoded as a proof.Bundle once the doer refused duplicate or
		// case-variant names; Check is the rest of proof.Parse.
		if err := b.Check(); err != nil {
			return nil, fmt.Errorf("the server's proof: %w", err)
		}
		if b.Fingerprint != fp {
			return nil, errors.New("the server returned a proof for another fingerprint")
		}
	}
	return st, nil
}

// UpgradeOptions says how long [Client.Upgrade] waits.
type UpgradeOptions struct {
	// Wait polls until the proof is final: the batch confirmed on every
	// chain the server anchors on, each anchor with its chain evidence (so
	// that the proof verifies offline), or ctx is done. Without it Upgrade
	// asks once.
	Wait bool
	// AnyChain, with Wait, is satisfied by one chain's confirmed anchor
	// with its evidence (upgrade again later for the others).
	AnyChain bool
	// Poll is how often to ask while waiting; 0 means DefaultPoll.
	Poll time.Duration
	// EvidenceGrace is how long to wait, after the confirmation, for chain
	// evidence that has not come; 0 means DefaultEvidenceGrace.
	EvidenceGrace time.Duration
}

// Upgrade fetches the proof of f's fingerprint and stores it in f (write f
// back with [WriteAttest]): the proof bundle, once the batch is anchored,
// and with each anchor's chain evidence once it is confirmed. It returns
// the last status the server gave.
//
// Without opts.Wait it asks once: f holds a proof when the batch was
// anchored (Status.Proof != nil), and none yet otherwise — not an error;
// ask again later, until [Final] says there is nothing more to come. With opts.Wait it asks every opts.Poll until the proof
// is final (see [UpgradeOptions]) and returns an error wrapping ctx's if ctx
// ends first (f then holds the newest proof there was). Give ctx a deadline:
// a batch is anchored within the receipt's Deadline.
//
// A fingerprint the server does not know is an error wrapping
// [ErrUnknownFingerprint]; if f holds this server's receipt, the server
// lost it (restored from an older backup) and [Client.Resubmit] submits it
// again.
func (c *Client) Upgrade(ctx context.Context, f *Attest, opts UpgradeOptions) (*Status, error) {
	poll := opts.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	grace := opts.EvidenceGrace
	if grace <= 0 {
		grace = DefaultEvidenceGrace
	}
	var confirmedAt time.Time
	for {
		st, err := c.Status(ctx, f.Fingerprint)
		if err != nil {
			return nil, err
		}
		if st.Proof != nil {
			f.Proof = st.Proof
		}
		if !opts.Wait {
			return st, nil
		}
		done := Final(st, opts.AnyChain)
		if !done && st.Status == api.StatusConfirmed {
			// Confirmed, but some chain evidence has not come: an issuer
			// whose endpoint cannot give it never will.
			if confirmedAt.IsZero() {
				confirmedAt = time.Now()
			}
			done = time.Since(confirmedAt) > grace
		}
		if done {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("waiting for the proof of %s (%s): %w", f.Fingerprint, st.Status, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Final reports whether the proof of st is as complete as it will get:
// confirmed on every chain the server anchors on (with anyChain, on one),
// with the chain evidence of each confirmed anchor, or none to come (a
// chain whose evidence the server cannot collect, proof format 1). It is
// what [Client.Upgrade] waits for; a program that upgrades on a schedule
// without waiting stops asking once it holds.
func Final(st *Status, anyChain bool) bool {
	if st.Proof == nil {
		return false
	}
	withEvidence := func(c api.ChainProgress) bool {
		return c.Status == api.StatusConfirmed && evidenceIn(st.Proof, uint64(c.ChainID))
	}
	if anyChain && slices.ContainsFunc(st.Chains, withEvidence) {
		return true
	}
	if st.Status != api.StatusConfirmed {
		return false
	}
	if len(st.Chains) == 0 { // one chain: the status says it
		return !slices.ContainsFunc(st.Proof.Anchors, func(a proof.Anchor) bool { return a.NoEvidence == proof.NoEvidencePending })
	}
	return !slices.ContainsFunc(st.Chains, func(c api.ChainProgress) bool { return !withEvidence(c) })
}

// evidenceIn reports whether b's anchor on chainID is final as to chain
// evidence: it carries its evidence, or the chain cannot have any, or b is
// of a server that issues proof format 1 (no evidence at all).
func evidenceIn(b *proof.Bundle, chainID uint64) bool {
	a, ok := b.Anchor(chainID)
	return ok && (b.Version == proof.VersionV1 || len(a.Evidence) > 0 || a.NoEvidence == proof.NoEvidenceUnsupported)
}
