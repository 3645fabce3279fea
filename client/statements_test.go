package client_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/attestd/attestd/client"
	"github.com/attestd/attestd/client/api"
)

// TestStatements, against the real attestd of TestMain: Submitted tells
// this institution's records from others; MakeStatement returns a
// withdrawal only with its statement, fingerprint and receipt checked, and
// a statement about a record the server does not know is a 404
// ProblemError; StatusFile comes back verified against the published key.
func TestStatements(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		t.Fatal(err)
	}
	rec := fps("a record to withdraw", 1)[0]
	if _, err := c.Submit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Submitted(ctx, rec); err != nil || !ok {
		t.Fatalf("Submitted of this institution's record: %v, %v", ok, err)
	}
	unknown := fps("never submitted, never withdrawn", 1)[0]
	if ok, err := c.Submitted(ctx, unknown); err != nil || ok {
		t.Fatalf("Submitted of an unknown record: %v, %v", ok, err)
	}

	withdraw := func(subject client.Fingerprint) (*client.StatementResponse, error) {
		n, err := client.NewNonce()
		if err != nil {
			t.Fatal(err)
		}
		reason := api.WithdrawReasonEnteredInError
		return c.MakeStatement(ctx, client.StatementRequest{Type: api.StatementRequestTypeWithdraw, Subject: subject.String(), Reason: &reason, Nonce: n.String()})
	}
	resp, err := withdraw(rec)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Receipt.Fingerprint.String() != resp.Fingerprint || len(resp.Receipt.Signature) == 0 {
		t.Fatalf("the statement's receipt: %+v", resp.Receipt)
	}
	st, err := c.Status(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Withdrawn) != 1 || st.Withdrawn[0].Fingerprint != resp.Fingerprint {
		t.Fatalf("the record's status lists %+v, want the withdrawal %s", st.Withdrawn, resp.Fingerprint)
	}
	var pe *client.ProblemError
	if _, err := withdraw(unknown); !errors.As(err, &pe) || pe.StatusCode != http.StatusNotFound {
		t.Fatalf("withdrawing an unknown record: %v", err)
	}

	body, f, err := c.StatusFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) == 0 || f.KeyID == "" {
		t.Fatalf("status file of %d bytes, key %q", len(body), f.KeyID)
	}
}
