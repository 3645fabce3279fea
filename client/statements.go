package client

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/statement"
)

// Corrections and withdrawals (docs/statements.md). The institution that
// first submitted a record may later say it is superseded by a corrected
// version or withdrawn; each such statement is itself attested (batched,
// anchored, with a receipt) and names no institution.

// StatementRequest asks the server to record a statement about a record:
// Type supersede with Replacement, or withdraw with Reason; Nonce makes
// it unguessable in advance (see docs/statements.md).
type StatementRequest = api.StatementRequest

// StatementResponse is a recorded statement: its canonical text, its
// fingerprint and its receipt (keep it).
type StatementResponse = api.StatementResponse

// StatusFile is an issuer's signed list of its statements (GET
// /v1/status, attestd status-export), for verifying offline.
type StatusFile = statement.StatusFile

// Submitted reports whether this client's institution submitted fp (GET
// /v1/submissions/{fp}). The server answers alike for an unknown
// fingerprint and another institution's: false, nil for both.
func (c *Client) Submitted(ctx context.Context, fp Fingerprint) (bool, error) {
	resp, err := c.api.GetSubmissionWithResponse(ctx, fp.String())
	if err != nil {
		return false, fmt.Errorf("asking the server whether this institution submitted %s: %w", fp, err)
	}
	switch resp.StatusCode() {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, problem("asking the server whether this institution submitted "+fp.String(), resp.HTTPResponse, resp.Body)
}

// MakeStatement asks the server to record req and checks the answer: the
// statement says what was asked, under its own fingerprint, with a
// receipt of that fingerprint signed by a key the server publishes for
// its time. A refusal is a [*ProblemError]: 403 when this institution is
// not the record's first submitter, 404 for a record the server does not
// know, 400 for a statement it cannot make.
func (c *Client) MakeStatement(ctx context.Context, req StatementRequest) (*StatementResponse, error) {
	resp, err := c.api.MakeStatementWithResponse(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("recording the statement: %w", err)
	}
	if resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil {
		return nil, problem("recording the statement", resp.HTTPResponse, resp.Body)
	}
	out := resp.JSON202
	st, err := statement.Parse([]byte(out.Statement))
	if err != nil {
		return nil, fmt.Errorf("the server answered with a statement that does not parse: %w", err)
	}
	fp := statement.Fingerprint([]byte(out.Statement))
	if string(st.Type) != string(req.Type) || st.Subject.String() != req.Subject || st.Nonce.String() != req.Nonce ||
		req.Replacement != nil && (st.Replacement == nil || st.Replacement.String() != *req.Replacement) ||
		req.Reason != nil && string(st.Reason) != string(*req.Reason) {
		return nil, fmt.Errorf("the server recorded another statement than asked: %.300s", out.Statement)
	}
	if out.Fingerprint != fp.String() || out.Receipt.Fingerprint != fp {
		return nil, fmt.Errorf("the server's answer names fingerprint %s and a receipt for %s; the statement's is %s", out.Fingerprint, out.Receipt.Fingerprint, fp)
	}
	if err := c.checkReceipt(ctx, out.Receipt); err != nil {
		return nil, fmt.Errorf("the statement's receipt: %w", err)
	}
	return out, nil
}

// StatusFile fetches the server's signed status file (GET /v1/status) and
// checks it: it parses, and its signature verifies with the receipt key
// the server publishes, valid at the file's date. It returns the body as
// served (what a verifier is given) and the file.
func (c *Client) StatusFile(ctx context.Context) ([]byte, *StatusFile, error) {
	resp, err := c.api.GetStatusFileWithResponse(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching the status file: %w", err)
	}
	if resp.StatusCode() != http.StatusOK {
		return nil, nil, problem("fetching the status file", resp.HTTPResponse, resp.Body)
	}
	body := resp.Body
	f, err := statement.ParseStatusFile(body)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's status file: %w", err)
	}
	for refresh := range 2 {
		keys, err := c.receiptKeys(ctx, refresh == 1)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range keys {
			if k.KeyID != f.KeyID {
				continue
			}
			if err := f.Verify(k.PublicKey); err != nil {
				return nil, nil, fmt.Errorf("the server's status file: %w", err)
			}
			if !validAt(k, f.IssuedAt.Time) {
				return nil, nil, fmt.Errorf("the server's status file is dated %s, outside the period the server publishes for its key %s", f.IssuedAt.Time.Format(time.RFC3339), f.KeyID)
			}
			return body, f, nil
		}
	}
	return nil, nil, fmt.Errorf("the server's status file is signed by key %s, which the server does not publish", f.KeyID)
}
