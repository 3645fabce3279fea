package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/store"
)

// DefaultStatusRefresh is how long GET /v1/status serves the status file
// it made before making a new one (Config.StatusRefresh).
const DefaultStatusRefresh = time.Minute

// statusPage is how many statements one store read of the status file
// takes.
const statusPage = 1000

// MakeStatement implements POST /v1/statements: the calling institution
// supersedes or withdraws a record it first submitted. The statement's
// fingerprint is submitted like any other (durable, then batched and
// anchored) and then the statement recorded; the 202 carries the
// statement's canonical text and the receipt of its fingerprint.
func (s *Server) MakeStatement(c *gin.Context) {
	var req api.StatementRequest
	if err := decode(c, &req); err != nil {
		s.problem(c, err)
		return
	}
	inst := c.GetString(institutionKey)
	if err := s.limits.allow(inst); err != nil {
		s.problem(c, err)
		return
	}
	st, err := statementOf(req)
	if err != nil {
		s.problem(c, err)
		return
	}
	text, err := st.Encode()
	if err != nil {
		s.problem(c, err)
		return
	}
	ctx := c.Request.Context()
	if err := s.mayState(ctx, st, inst); err != nil {
		s.problem(c, err)
		return
	}
	fp := statement.Fingerprint(text)
	now := s.cfg.Now().UTC()
	recs, pending, err := s.Store.Submit(ctx, []store.Submission{{Fingerprint: fp, Institution: inst, ReceivedAt: now}}, s.cfg.MaxPending)
	if err != nil {
		s.problem(c, err)
		return
	}
	// Only now is the statement recorded: a recorded statement is one whose
	// fingerprint is durable, and so will be anchored.
	if _, err := s.Store.AddStatement(ctx, store.Statement{Fingerprint: fp, Subject: st.Subject, Text: text}); err != nil {
		s.problem(c, err)
		return
	}
	rs, err := s.Signer.Sign(receipt.Facts{Fingerprint: fp, Institution: s.Keys.DisplayName(inst), ReceivedAt: recs[0].ReceivedAt, Deadline: s.Sealer.Deadline(recs[0].ReceivedAt)})
	if err != nil {
		s.problem(c, err)
		return
	}
	if recs[0].New {
		s.Metrics.Received.WithLabelValues("new").Inc()
		s.Metrics.Statements.WithLabelValues(string(st.Type)).Inc()
	} else {
		s.Metrics.Received.WithLabelValues("duplicate").Inc()
	}
	s.Sealer.Poke(pending)
	c.JSON(http.StatusAccepted, api.StatementResponse{Statement: string(text), Fingerprint: fp.String(), Receipt: rs[0]})
}

// statementOf builds the statement a request asks for (errors are 400s).
func statementOf(req api.StatementRequest) (statement.Statement, error) {
	st := statement.Statement{Version: statement.Version, Type: statement.Type(req.Type)}
	var err error
	if st.Subject, err = fingerprint.Parse(req.Subject); err != nil {
		return st, fmt.Errorf("subject: %w", err)
	}
	if st.Nonce, err = fingerprint.ParseNonce(req.Nonce); err != nil {
		return st, fmt.Errorf("%w: nonce: %w", ErrBadRequest, err)
	}
	if req.Replacement != nil {
		r, err := fingerprint.Parse(*req.Replacement)
		if err != nil {
			return st, fmt.Errorf("replacement: %w", err)
		}
		st.Replacement = &r
	}
	if req.Reason != nil {
		st.Reason = statement.Reason(*req.Reason)
	}
	return st, st.Check()
}

// mayState refuses a statement inst may not make: about a fingerprint it
// did not submit first (403; unknown: 404), about a statement, or naming
// a replacement it did not submit or that is a statement (400).
//
// The first submitter is the record's issuer. Any institution that knows
// a fingerprint can submit it too (submission is idempotent, each gets a
// receipt of its own), so having submitted it proves nothing more.
func (s *Server) mayState(ctx context.Context, st statement.Statement, inst string) error {
	e, err := s.Store.Entry(ctx, st.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("fingerprint %s: %w", st.Subject, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if e.Institution != inst {
		return fmt.Errorf("%w: fingerprint %s was first submitted by another institution: only it may supersede or withdraw the record", ErrForbidden, st.Subject)
	}
	if err := s.notStatement(ctx, st.Subject, "fingerprint"); err != nil {
		return err
	}
	if st.Type != statement.Supersede {
		return nil
	}
	r := *st.Replacement
	if _, _, err := s.Store.Submission(ctx, r, inst); errors.Is(err, store.ErrNotFound) {
		// The same answer whether nobody or only another institution
		// submitted it.
		return fmt.Errorf("%w: replacement %s is not a fingerprint this institution submitted: stamp the new version first", ErrBadRequest, r)
	} else if err != nil {
		return err
	}
	return s.notStatement(ctx, r, "replacement")
}

// notStatement refuses fp when it is a statement's own fingerprint.
func (s *Server) notStatement(ctx context.Context, fp fingerprint.Fingerprint, what string) error {
	_, err := s.Store.Statement(ctx, fp)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s %s is itself a statement: statements cannot be superseded or withdrawn, nor replace a record", ErrBadRequest, what, fp)
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return err
}

// addStatements lists sts (the statements about st's fingerprint, from
// its Proof) in st's superseded_by and withdrawn, each with its own status
// and, once anchored, its proof. A stored statement that does not parse
// or whose fingerprint is unknown is a server error, never left out.
func (s *Server) addStatements(ctx context.Context, st *api.FingerprintStatus, sts []store.Statement) error {
	for _, x := range sts {
		parsed, err := statement.Parse(x.Text)
		if err != nil || statement.Fingerprint(x.Text) != x.Fingerprint {
			return fmt.Errorf("the stored statement %s about %s does not parse or has another fingerprint: %v", x.Fingerprint, x.Subject, err)
		}
		p, err := s.Store.Proof(ctx, x.Fingerprint)
		if err != nil {
			return fmt.Errorf("the statement %s about %s: %v", x.Fingerprint, x.Subject, err) // not %w: ErrNotFound would be a 404 of the subject
		}
		rs := api.RecordStatement{Fingerprint: x.Fingerprint.String(), Statement: string(x.Text), Status: api.Status(store.StatusPending)}
		if !p.Entry.Pending() {
			rs.Status, rs.Proof = api.Status(p.Batch.Status(s.chainsFor(nil, p.Batch.ID))), s.bundle(p)
		}
		switch parsed.Type {
		case statement.Supersede:
			r := parsed.Replacement.String()
			rs.Replacement = &r
			st.SupersededBy = append(st.SupersededBy, rs)
		case statement.Withdraw:
			r := api.WithdrawReason(parsed.Reason)
			rs.Reason = &r
			st.Withdrawn = append(st.Withdrawn, rs)
		}
	}
	return nil
}

// GetStatusFile implements GET /v1/status: the signed list of every
// statement, made at most every Config.StatusRefresh.
func (s *Server) GetStatusFile(c *gin.Context) {
	body, err := s.statusFile(c.Request.Context())
	if err != nil {
		s.problem(c, err)
		return
	}
	c.Header("Content-Length", strconv.Itoa(len(body)))
	c.Data(http.StatusOK, "application/json", body)
}

// statusFile returns the status file made within Config.StatusRefresh, or
// makes one: every statement in the order recorded, each with the time it
// was attested once its batch is confirmed on every chain, signed with
// the receipt key valid now. One is made at a time.
func (s *Server) statusFile(ctx context.Context) ([]byte, error) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	now := s.cfg.Now().UTC()
	if s.statusBody != nil && now.Sub(s.statusAt) < s.cfg.StatusRefresh && !now.Before(s.statusAt) {
		return s.statusBody, nil
	}
	entries := []statement.Entry{}
	for after := uint64(0); ; {
		page, err := s.Store.Statements(ctx, after, statusPage)
		if err != nil {
			return nil, err
		}
		for _, x := range page {
			if len(entries) == statement.MaxStatusStatements {
				return nil, fmt.Errorf("more than %d statements: more than one status file holds", statement.MaxStatusStatements)
			}
			e := statement.Entry{Fingerprint: x.Fingerprint, Statement: string(x.Text)}
			p, err := s.Store.Proof(ctx, x.Fingerprint)
			if err != nil {
				return nil, fmt.Errorf("the statement %s: %v", x.Fingerprint, err)
			}
			if at, ok := s.attestedAt(p); ok {
				e.AttestedAt = &statement.Instant{Time: at}
			}
			entries = append(entries, e)
			after = x.Seq
		}
		if len(page) < statusPage {
			break
		}
	}
	key, ok := s.Signer.Keyring().At(now)
	if !ok {
		return nil, fmt.Errorf("no receipt key is valid at %s to sign the status file", now.Format(time.RFC3339))
	}
	f, err := statement.Sign(now, entries, key.Private)
	if err != nil {
		return nil, err
	}
	body, err := f.Marshal()
	if err != nil {
		return nil, err
	}
	s.statusBody, s.statusAt = body, now
	return body, nil
}

// attestedAt is the time p's fingerprint was attested, as a verifier of
// its proof would find it on this service's chains: the earliest block
// time of its batch's anchors, once the batch is confirmed on every chain
// that anchors it.
func (s *Server) attestedAt(p store.Proof) (time.Time, bool) {
	if p.Entry.Pending() {
		return time.Time{}, false
	}
	chains := s.chainsFor(nil, p.Batch.ID)
	if p.Batch.Status(chains) != store.StatusConfirmed {
		return time.Time{}, false
	}
	var at time.Time
	for _, id := range chains {
		a, _ := p.Batch.Anchor(id)
		if at.IsZero() || a.BlockTime.Before(at) {
			at = a.BlockTime
		}
	}
	return at.UTC(), !at.IsZero()
}
