package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/statement"
)

// A record's status: once a document's own proof checks out, the verifier
// asks whether its institution has since superseded or withdrawn it
// (docs/statements.md). The answer comes from a status source: the
// issuer's server, whose statements each carry their own proof, checked
// here against the chain exactly as the document's was (so a server
// cannot invent a withdrawal the chain does not hold); or a status file,
// whose statements the issuer vouched for with its signature and date
// (checked by the caller against the trust list). What a server leaves out
// cannot be seen: "current" means "no statement this source gave".

// The record-status verdicts: the document is attested (every check of
// its proof passed), and a statement of its institution, which checks
// out too, says it was since superseded or withdrawn. Valid is false.
const (
	VerdictSuperseded Verdict = "superseded"
	VerdictWithdrawn  Verdict = "withdrawn"
)

// CheckRecordStatus is the name of the record-status check.
const CheckRecordStatus = "record_status"

// RecordState is what the statements about a record say.
type RecordState string

const (
	RecordCurrent    RecordState = "current"     // no statement supersedes or withdraws it
	RecordSuperseded RecordState = "superseded"  // a corrected version replaces it
	RecordWithdrawn  RecordState = "withdrawn"   // its institution withdrew it
	RecordUnknown    RecordState = "unknown"     // could not be learned: the check is undecided
	RecordNotChecked RecordState = "not_checked" // the verifier chose not to ask (SkipRecordStatus)
)

// RecordStatus is what the verifier learned of a record's status.
type RecordStatus struct {
	State RecordState `json:"state"`
	// Source is where it was learned, for people.
	Source string `json:"source"`
	// AsOf is the status file's date (issued_at); zero online (now).
	AsOf time.Time `json:"as_of,omitzero"`
	// At is when the deciding statement was attested (superseded,
	// withdrawn).
	At time.Time `json:"at,omitzero"`
	// Statement is the deciding statement's fingerprint.
	Statement *fingerprint.Fingerprint `json:"statement,omitempty"`
	// Replacement is the corrected version's fingerprint (superseded).
	Replacement *fingerprint.Fingerprint `json:"replacement,omitempty"`
	// Reason is why it was withdrawn (withdrawn).
	Reason statement.Reason `json:"reason,omitempty"`
}

// StatusSource is a status source's answer about one record: the
// statements it gives about it.
type StatusSource struct {
	// Name says where the answer comes from, for people: "the issuer's
	// server http://…", "the status file issued … (signed by …)".
	Name string
	// Signed: the answer is a status file, checked by the caller (its
	// signature by the issuer's key of its time, its date). Its statements'
	// AttestedAt are the issuer's signed word; there is no chain check.
	// Otherwise each statement's Proof is checked against the chain.
	Signed bool
	// AsOf is the status file's issued_at (Signed).
	AsOf time.Time
	// Issuer is the trust list issuer whose key signed the status file
	// (Signed, with a trust list; "" with a pinned receipt key): it must
	// be the issuer that attested the record.
	Issuer     string
	Statements []SourceStatement
}

// SourceStatement is one statement about the record, as the source gave
// it.
type SourceStatement struct {
	Fingerprint fingerprint.Fingerprint
	Text        []byte
	Proof       *proof.Bundle // online: the statement's proof; nil while not anchored
	AttestedAt  time.Time     // Signed: when it was attested; zero while not yet
}

// SkipRecordStatus records that the verifier chose not to learn the
// record's status (why: the flag, e.g. "--no-status"): no check is added,
// the verdict is unchanged, and Result.RecordStatus says so.
func SkipRecordStatus(r *Result, why string) {
	r.RecordStatus = &RecordStatus{State: RecordNotChecked, Source: why}
}

// RecordUnavailable adds the record-status check as undecided: the
// source could not be asked or did not answer (why, in plain words, with
// what to do). The verdict cannot be VALID.
func RecordUnavailable(r *Result, source, why string) {
	r.RecordStatus = &RecordStatus{State: RecordUnknown, Source: source}
	r.Checks = append(r.Checks, Check{Name: CheckRecordStatus, State: StateUndecided, Unavailable: true,
		Detail: "could not learn whether this record was corrected or withdrawn since: " + why})
	r.settle()
}

// checked is one statement about the record and what checking it gave.
type checked struct {
	st  statement.Statement
	fp  fingerprint.Fingerprint
	at  time.Time // when it was attested, if ok
	ok  bool      // it checks out
	why string    // why not, in plain words
}

// CheckRecord adds the record-status check to r, the valid result of the
// document whose fingerprint is doc, from src's statements about it; p
// and chains are the document's policy and endpoints, against which each
// statement's own proof is checked (online). r must be valid: otherwise
// nothing is done.
//
// The status: withdrawn if a withdrawal checks out (the first attested
// decides the date and reason); else undecided if a withdrawal could not
// be checked; else superseded if a supersede checks out (the latest
// attested names the current version); else undecided if one could not be
// checked; else current. A statement that is malformed, is listed under
// another fingerprint, or is about another record makes the source's
// answer unusable: undecided. So a statement never turns VALID into
// WITHDRAWN unchecked, and is never left out unsaid.
func CheckRecord(ctx context.Context, r *Result, doc fingerprint.Fingerprint, src StatusSource, chains map[uint64]Chain, p Policy) {
	if r.Verdict != VerdictValid {
		return
	}
	rs := &RecordStatus{State: RecordUnknown, Source: src.Name}
	if src.Signed {
		rs.AsOf = src.AsOf
	}
	undecided := func(format string, args ...any) {
		r.RecordStatus = rs
		r.Checks = append(r.Checks, Check{Name: CheckRecordStatus, State: StateUndecided, Detail: fmt.Sprintf(format, args...)})
		r.settle()
	}
	if src.Signed && p.Issuers != nil && src.Issuer != r.Issuer {
		undecided("the status file is signed by %q, but this record was attested by %q: it says nothing about this record. Get %q's status file", src.Issuer, r.Issuer, r.Issuer)
		return
	}
	var all []checked
	for _, s := range src.Statements {
		st, err := statement.Parse(s.Text)
		switch {
		case err != nil:
			undecided("%s gave a statement about this record that is malformed (%v): its answer cannot be relied on", src.Name, err)
			return
		case statement.Fingerprint(s.Text) != s.Fingerprint:
			undecided("%s listed a statement under fingerprint %s, which is not that statement's: its answer cannot be relied on", src.Name, s.Fingerprint)
			return
		case st.Subject != doc:
			undecided("%s gave a statement about another record (%s) as one about this record: its answer cannot be relied on", src.Name, st.Subject)
			return
		}
		c := checked{st: st, fp: s.Fingerprint}
		if src.Signed {
			c.at, c.ok = s.AttestedAt, !s.AttestedAt.IsZero()
			if !c.ok {
				c.why = "it was not yet attested when the status file was made"
			}
		} else {
			c.at, c.ok, c.why = checkStatementProof(ctx, s, r.Issuer, chains, p)
		}
		all = append(all, c)
	}

	// Withdrawn from the first withdrawal that checks out, whatever else.
	var first, latest *checked
	var pendingWithdraw, pendingSupersede []checked
	for i := range all {
		c := &all[i]
		switch {
		case c.st.Type == statement.Withdraw && c.ok:
			if first == nil || c.at.Before(first.at) {
				first = c
			}
		case c.st.Type == statement.Withdraw:
			pendingWithdraw = append(pendingWithdraw, *c)
		case c.ok:
			if latest == nil || !c.at.Before(latest.at) {
				latest = c
			}
		default:
			pendingSupersede = append(pendingSupersede, *c)
		}
	}
	ok := func(c *checked, format string, args ...any) {
		rs.At = c.at
		fp := c.fp
		rs.Statement = &fp
		r.RecordStatus = rs
		r.Checks = append(r.Checks, Check{Name: CheckRecordStatus, State: StateOK, Detail: fmt.Sprintf(format, args...)})
		r.settle()
	}
	when := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }
	switch {
	case first != nil:
		rs.State, rs.Reason = RecordWithdrawn, first.st.Reason
		ok(first, "WITHDRAWN on %s (%s): the statement %s, %s", when(first.at), first.st.Reason, first.fp, vouched(src))
	case len(pendingWithdraw) > 0:
		undecided("%s gives a withdrawal of this record that could not be checked: %s. It is not known whether the record was withdrawn; try again later", src.Name, whyNot(pendingWithdraw))
	case latest != nil:
		rs.State = RecordSuperseded
		repl := *latest.st.Replacement
		rs.Replacement = &repl
		note := ""
		if len(pendingSupersede) > 0 {
			note = fmt.Sprintf("; a later correction could not be checked yet (%s), so a newer version may exist", whyNot(pendingSupersede))
		}
		ok(latest, "SUPERSEDED by %s on %s: the statement %s, %s%s", repl, when(latest.at), latest.fp, vouched(src), note)
	case len(pendingSupersede) > 0:
		undecided("%s gives a correction of this record that could not be checked: %s. It is not known whether the record was superseded; try again later", src.Name, whyNot(pendingSupersede))
	default:
		rs.State = RecordCurrent
		r.RecordStatus = rs
		detail := fmt.Sprintf("%s lists no correction or withdrawal of this record (a server can leave one out: see docs/statements.md)", src.Name)
		if src.Signed {
			detail = fmt.Sprintf("%s lists no correction or withdrawal of this record as of %s", src.Name, when(src.AsOf))
		}
		r.Checks = append(r.Checks, Check{Name: CheckRecordStatus, State: StateOK, Detail: detail})
		r.settle()
	}
}

// checkStatementProof checks a statement's own proof with the document's
// policy and endpoints: it must be valid, and (with a trust list) anchored
// by the issuer that attested the document.
func checkStatementProof(ctx context.Context, s SourceStatement, issuer string, chains map[uint64]Chain, p Policy) (time.Time, bool, string) {
	if s.Proof == nil {
		return time.Time{}, false, "it is not anchored yet"
	}
	if s.Proof.Fingerprint != s.Fingerprint {
		return time.Time{}, false, "its proof is for another fingerprint"
	}
	fp := s.Fingerprint
	res := Verify(ctx, s.Proof, &fp, chains, p)
	switch {
	case res.Verdict == VerdictValid && p.Issuers != nil && res.Issuer != issuer:
		return time.Time{}, false, fmt.Sprintf("it was anchored by %q, not by this record's issuer %q", res.Issuer, issuer)
	case res.Verdict == VerdictValid:
		return res.AttestedAt, true, ""
	}
	var bad []string
	for _, c := range res.Checks {
		if c.State != StateOK && !c.Optional {
			bad = append(bad, c.Name+": "+c.Detail)
		}
	}
	what := "its proof could not be checked"
	if res.Verdict == VerdictInvalid {
		what = "its proof is false"
	}
	return time.Time{}, false, what + " (" + strings.Join(bad, "; ") + ")"
}

// vouched says what backs a statement that checks out.
func vouched(src StatusSource) string {
	if src.Signed {
		return "listed as attested in " + src.Name
	}
	return "from " + src.Name + ", whose own proof checks out on the chain like this record's"
}

// whyNot lists why statements could not be checked.
func whyNot(cs []checked) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("statement %s: %s", c.fp, c.why))
	}
	return strings.Join(out, "; ")
}
