package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/statement"
)

// nonce returns a statement nonce unique to the test and s.
func nonce(t testing.TB, s string) string {
	return fingerprint.Sum([]byte(t.Name() + "/nonce/" + s)).String()
}

func supersedeReq(subject, replacement, nonce string) api.StatementRequest {
	return api.StatementRequest{Type: api.StatementRequestTypeSupersede, Subject: subject, Replacement: &replacement, Nonce: nonce}
}

func withdrawReq(subject string, reason api.WithdrawReason, nonce string) api.StatementRequest {
	return api.StatementRequest{Type: api.StatementRequestTypeWithdraw, Subject: subject, Reason: &reason, Nonce: nonce}
}

// state posts a statement with key and returns the response.
func (f *fixture) state(key string, req api.StatementRequest) *api.MakeStatementResponse {
	f.t.Helper()
	resp, err := f.client.MakeStatementWithResponse(context.Background(), req, bearer(key))
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// stated posts a statement and requires a 202 whose statement says what
// was asked, under its own fingerprint, with a receipt of that fingerprint
// signed by the service's key and naming inst.
func (f *fixture) stated(key, inst string, req api.StatementRequest) *api.StatementResponse {
	f.t.Helper()
	resp := f.state(key, req)
	if resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil {
		f.t.Fatalf("statement %s about %s: %d %s", req.Type, req.Subject, resp.StatusCode(), resp.Body)
	}
	out := resp.JSON202
	st, err := statement.Parse([]byte(out.Statement))
	if err != nil {
		f.t.Fatalf("the 202's statement does not parse: %v", err)
	}
	if fp := statement.Fingerprint([]byte(out.Statement)); fp.String() != out.Fingerprint || out.Receipt.Fingerprint != fp {
		f.t.Fatalf("statement fingerprint %s, answered %s, receipt for %s", fp, out.Fingerprint, out.Receipt.Fingerprint)
	}
	if string(st.Type) != string(req.Type) || st.Subject.String() != req.Subject || st.Nonce.String() != req.Nonce ||
		(req.Replacement != nil) != (st.Replacement != nil) || req.Replacement != nil && *req.Replacement != st.Replacement.String() ||
		req.Reason != nil && string(*req.Reason) != string(st.Reason) {
		f.t.Fatalf("the statement %s is not the one asked for: %+v", out.Statement, req)
	}
	k, ok := f.signer.Keyring().At(out.Receipt.ReceivedAt)
	if !ok || receipt.Verify(out.Receipt, k.Public()) != nil || out.Receipt.Institution != inst {
		f.t.Fatalf("the statement's receipt does not verify with the service's key, or names %q, not %q", out.Receipt.Institution, inst)
	}
	return out
}

// TestStatements: the owner supersedes and withdraws (202, idempotent
// retries, history kept), another institution is refused (403, also after
// submitting the same fingerprint), and every refusal is a problem that
// says what is wrong; GET lists the statements with their status, then
// their proofs, which verify.
func TestStatements(t *testing.T) {
	f := newFixture(t, server.Config{})
	docA, docA2, docA3, docB := fp(t, "A"), fp(t, "A v2"), fp(t, "A v3"), fp(t, "B")
	f.submit(keyA, docA, docA2, docA3)
	f.submit(keyB, docB, docA) // B submits A's record too: that makes B no issuer of it

	sup := f.stated(keyA, instA, supersedeReq(docA, docA2, nonce(t, "sup")))
	// A retry (the same nonce) is the same statement, with the same receipt.
	again := f.stated(keyA, instA, supersedeReq(docA, docA2, nonce(t, "sup")))
	if again.Fingerprint != sup.Fingerprint || !again.Receipt.ReceivedAt.Equal(sup.Receipt.ReceivedAt) {
		t.Errorf("a retried statement got %s received %s, the first %s received %s", again.Fingerprint, again.Receipt.ReceivedAt, sup.Fingerprint, sup.Receipt.ReceivedAt)
	}
	st, body := f.status(docA)
	if len(st.SupersededBy) != 1 || len(st.Withdrawn) != 0 {
		t.Fatalf("after a supersede and its retry: superseded_by %d, withdrawn %d: %s", len(st.SupersededBy), len(st.Withdrawn), body)
	}
	if rs := st.SupersededBy[0]; rs.Fingerprint != sup.Fingerprint || rs.Statement != sup.Statement || rs.Status != api.StatusPending || rs.Proof != nil || rs.Replacement == nil || *rs.Replacement != docA2 {
		t.Errorf("the listed statement %+v is not the pending one made", rs)
	}
	// The statement's own fingerprint is an ordinary, known one.
	if s2, _ := f.status(sup.Fingerprint); s2.Status != api.StatusPending || len(s2.SupersededBy)+len(s2.Withdrawn) != 0 {
		t.Errorf("GET of the statement's own fingerprint: %+v", s2)
	}

	// Refusals.
	for _, c := range []struct {
		name   string
		key    string
		body   string
		status int
		detail string
	}{
		{"another institution", keyB, mustJSON(t, withdrawReq(docA, "other", nonce(t, "b1"))), 403, "first submitted by another institution"},
		{"another's, superseding", keyB, mustJSON(t, supersedeReq(docA, docB, nonce(t, "b2"))), 403, "first submitted by another institution"},
		{"no key", "", mustJSON(t, withdrawReq(docA, "other", nonce(t, "n"))), 401, "Bearer"},
		{"unknown subject", keyA, mustJSON(t, withdrawReq(fp(t, "nobody"), "other", nonce(t, "u"))), 404, "not found"},
		{"a replacement of another's", keyA, mustJSON(t, supersedeReq(docA, docB, nonce(t, "r1"))), 400, "is not a fingerprint this institution submitted"},
		{"an unknown replacement", keyA, mustJSON(t, supersedeReq(docA, fp(t, "nobody"), nonce(t, "r2"))), 400, "is not a fingerprint this institution submitted"},
		{"superseding itself", keyA, mustJSON(t, supersedeReq(docA, docA, nonce(t, "r3"))), 400, "cannot supersede itself"},
		{"about a statement", keyA, mustJSON(t, withdrawReq(sup.Fingerprint, "other", nonce(t, "s1"))), 400, "is itself a statement"},
		{"a statement as replacement", keyA, mustJSON(t, supersedeReq(docA, sup.Fingerprint, nonce(t, "s2"))), 400, "is itself a statement"},
		{"an unknown reason", keyA, strings.Replace(mustJSON(t, withdrawReq(docA, "other", nonce(t, "x1"))), `"other"`, `"mistake"`, 1), 400, "reason"},
		{"a withdrawal without a reason", keyA, `{"type":"withdraw","subject":"` + docA + `","nonce":"` + nonce(t, "x2") + `"}`, 400, "reason"},
		{"a withdrawal with a replacement", keyA, `{"type":"withdraw","subject":"` + docA + `","reason":"other","replacement":"` + docA2 + `","nonce":"` + nonce(t, "x3") + `"}`, 400, "replacement"},
		{"a supersede without a replacement", keyA, `{"type":"supersede","subject":"` + docA + `","nonce":"` + nonce(t, "x4") + `"}`, 400, "replacement"},
		{"an unknown type", keyA, `{"type":"retract","subject":"` + docA + `","reason":"other","nonce":"` + nonce(t, "x5") + `"}`, 400, "type"},
		{"an upper-case nonce", keyA, `{"type":"withdraw","subject":"` + docA + `","reason":"other","nonce":"` + strings.ToUpper(nonce(t, "x6")) + `"}`, 400, "nonce"},
		{"a zero nonce", keyA, `{"type":"withdraw","subject":"` + docA + `","reason":"other","nonce":"` + strings.Repeat("0", 64) + `"}`, 400, "nonce"},
		{"no nonce", keyA, `{"type":"withdraw","subject":"` + docA + `","reason":"other"}`, 400, "nonce"},
		{"an unknown member", keyA, `{"type":"withdraw","subject":"` + docA + `","reason":"other","nonce":"` + nonce(t, "x7") + `","institution":"x"}`, 400, "unknown field"},
		{"a member twice", keyA, `{"type":"withdraw","type":"supersede","subject":"` + docA + `","reason":"other","nonce":"` + nonce(t, "x8") + `"}`, 400, "duplicate"},
		{"a malformed subject", keyA, `{"type":"withdraw","subject":"` + docA[:63] + `","reason":"other","nonce":"` + nonce(t, "x9") + `"}`, 400, "subject"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hdr := http.Header{"Content-Type": {"application/json"}}
			if c.key != "" {
				hdr.Set("Authorization", "Bearer "+c.key)
			}
			resp, body := f.do("POST", "/v1/statements", hdr, strings.NewReader(c.body))
			detail := checkProblem(t, resp, body, c.status, "/v1/statements")
			if !strings.Contains(detail, c.detail) {
				t.Errorf("detail %q does not say %q", detail, c.detail)
			}
			noInstitution(t, c.name, body)
		})
	}

	// History is kept: a withdrawal after the supersede, and a second
	// supersede, are listed beside the first, in the order made.
	wd := f.stated(keyA, instA, withdrawReq(docA, api.WithdrawReasonEnteredInError, nonce(t, "wd")))
	sup2 := f.stated(keyA, instA, supersedeReq(docA, docA3, nonce(t, "sup2")))
	check := func(stage string, want api.Status) {
		t.Helper()
		st, body := f.status(docA)
		if len(st.SupersededBy) != 2 || len(st.Withdrawn) != 1 {
			t.Fatalf("%s: superseded_by %d, withdrawn %d, want 2 and 1: %s", stage, len(st.SupersededBy), len(st.Withdrawn), body)
		}
		if st.SupersededBy[0].Fingerprint != sup.Fingerprint || st.SupersededBy[1].Fingerprint != sup2.Fingerprint || st.Withdrawn[0].Fingerprint != wd.Fingerprint {
			t.Errorf("%s: not the statements made, in order: %s", stage, body)
		}
		if r := st.Withdrawn[0].Reason; r == nil || *r != api.WithdrawReasonEnteredInError {
			t.Errorf("%s: the withdrawal's reason is %v", stage, r)
		}
		for _, rs := range append(st.SupersededBy, st.Withdrawn...) {
			if rs.Status != want {
				t.Errorf("%s: statement %s is %s, want %s", stage, rs.Fingerprint, rs.Status, want)
			}
			if want == api.StatusConfirmed {
				// Its proof is a proof of the statement's fingerprint, which
				// the service's own verifier finds valid.
				if rs.Proof == nil || rs.Proof.Fingerprint.String() != rs.Fingerprint {
					t.Fatalf("%s: statement %s has proof %+v", stage, rs.Fingerprint, rs.Proof)
				}
				res, _ := f.verify(api.VerifyRequest{Bundle: *rs.Proof, Fingerprint: &rs.Fingerprint})
				if res.Verdict != api.VerifyResultVerdictValid {
					t.Errorf("%s: the statement's proof is %s", stage, res.Verdict)
				}
			}
		}
		noInstitution(t, stage, body)
	}
	check("pending", api.StatusPending)
	f.seal()
	check("sealed", api.StatusSealed)
	f.confirm()
	check("confirmed", api.StatusConfirmed)
	// docB was never stated about by anyone.
	if st, _ := f.status(docB); len(st.SupersededBy)+len(st.Withdrawn) != 0 {
		t.Errorf("B's record lists statements: %+v", st)
	}
	if got := testutil.ToFloat64(f.m.Statements.WithLabelValues("supersede")); got != 2 {
		t.Errorf("attestd_statements_total{type=supersede} = %v, want 2 (the retry is not counted)", got)
	}
	if got := testutil.ToFloat64(f.m.Statements.WithLabelValues("withdraw")); got != 1 {
		t.Errorf("attestd_statements_total{type=withdraw} = %v, want 1", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// getStatusFile is GET /v1/status; it requires a 200 and a status file
// signed by the service's key of its time, naming no institution.
func (f *fixture) getStatusFile() (*statement.StatusFile, []byte) {
	f.t.Helper()
	resp, body := f.do("GET", "/v1/status", nil, nil)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET /v1/status: %d %s", resp.StatusCode, body)
	}
	sf, err := statement.ParseStatusFile(body)
	if err != nil {
		f.t.Fatalf("GET /v1/status: %v\n%s", err, body)
	}
	k, ok := f.signer.Keyring().At(sf.IssuedAt.Time)
	if !ok {
		f.t.Fatalf("no receipt key at the status file's time %s", sf.IssuedAt.Time)
	}
	if err := sf.Verify(k.Public()); err != nil {
		f.t.Fatalf("the status file does not verify with the key of its time: %v", err)
	}
	if c, _ := json.Marshal(sf); !bytes.Equal(c, body) {
		f.t.Errorf("the status file is not served compact:\n%s", body)
	}
	noInstitution(f.t.(*testing.T), "GET /v1/status", body)
	return sf, body
}

// TestStatusFile: GET /v1/status lists every statement in the order made,
// pending ones without a time and confirmed ones with their anchor's block
// time, signed with the receipt key of its time; it is made again only
// after StatusRefresh.
func TestStatusFile(t *testing.T) {
	clk := newClock()
	f := newFixture(t, server.Config{Now: clk.Now})
	sf, _ := f.getStatusFile()
	if len(sf.Statements) != 0 || !sf.IssuedAt.Time.Equal(clk.Now()) {
		t.Fatalf("an empty service's status file: %+v", sf)
	}
	docs := fps(t, 3)
	f.submit(keyA, docs...)
	f.submit(keyB, fp(t, "B"))
	a := f.stated(keyA, instA, withdrawReq(docs[0], api.WithdrawReasonOther, nonce(t, "a")))
	b := f.stated(keyA, instA, supersedeReq(docs[1], docs[2], nonce(t, "b")))
	f.stated(keyB, instB, withdrawReq(fp(t, "B"), api.WithdrawReasonSuperseded, nonce(t, "c")))
	// Within StatusRefresh the file made before is served as it was.
	clk.Advance(server.DefaultStatusRefresh - time.Nanosecond)
	if again, _ := f.getStatusFile(); len(again.Statements) != 0 || !again.IssuedAt.Time.Equal(sf.IssuedAt.Time) {
		t.Fatalf("within the refresh period: a new file (%d statements, issued %s)", len(again.Statements), again.IssuedAt.Time)
	}
	clk.Advance(time.Nanosecond)
	sf, _ = f.getStatusFile()
	if len(sf.Statements) != 3 || !sf.IssuedAt.Time.Equal(clk.Now()) {
		t.Fatalf("after the refresh period: %d statements issued %s, want 3 issued now", len(sf.Statements), sf.IssuedAt.Time)
	}
	if sf.Statements[0].Fingerprint.String() != a.Fingerprint || sf.Statements[1].Fingerprint.String() != b.Fingerprint {
		t.Errorf("not in the order made: %+v", sf.Statements)
	}
	for _, e := range sf.Statements {
		if e.AttestedAt != nil {
			t.Errorf("a pending statement with attested_at %s", e.AttestedAt.Time)
		}
	}
	f.seal()
	f.confirm()
	clk.Advance(server.DefaultStatusRefresh)
	sf, _ = f.getStatusFile()
	st, _ := f.status(a.Fingerprint)
	if st.Proof == nil {
		t.Fatal("the statement is not anchored")
	}
	bt, err := f.sim.Client().HeaderByNumber(context.Background(), bigInt(st.Proof.Anchors[0].BlockNumber))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sf.Statements {
		if e.AttestedAt == nil || e.AttestedAt.Time.Unix() != int64(bt.Time) {
			t.Errorf("confirmed statement %s: attested_at %v, want its anchor block's time %d", e.Fingerprint, e.AttestedAt, bt.Time)
		}
	}
	// Signed with the key valid at issued_at: the same key id receipts of
	// that time carry.
	if k, _ := f.signer.Keyring().At(sf.IssuedAt.Time); sf.KeyID != statement.KeyID(k.Public()) {
		t.Errorf("signed by %s", sf.KeyID)
	}
}

// TestStatusFileRefreshNegative: StatusRefresh < 0 makes the file anew
// for every request.
func TestStatusFileRefreshNegative(t *testing.T) {
	f := newFixture(t, server.Config{StatusRefresh: -1})
	f.getStatusFile()
	doc := fp(t, "a")
	f.submit(keyA, doc)
	f.stated(keyA, instA, withdrawReq(doc, api.WithdrawReasonOther, nonce(t, "a")))
	if sf, _ := f.getStatusFile(); len(sf.Statements) != 1 {
		t.Fatalf("the next request's file has %d statements, want 1", len(sf.Statements))
	}
}

func bigInt(n uint64) *big.Int { return new(big.Int).SetUint64(n) }
