package verify

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/store"
)

// sealFPs submits fps and seals them as the next batch, anchored and
// confirmed (the env confirms at depth 1).
func (e *chainEnv) sealFPs(fps ...fingerprint.Fingerprint) error {
	ctx := context.Background()
	subs := make([]store.Submission, len(fps))
	for i, f := range fps {
		subs[i] = store.Submission{Fingerprint: f, Institution: "lab", ReceivedAt: fixtureTime}
	}
	if _, _, err := e.store.Submit(ctx, subs, 0); err != nil {
		return err
	}
	pending, err := e.store.Pending(ctx, len(fps))
	if err != nil {
		return err
	}
	tree, err := merkle.Build(pending)
	if err != nil {
		return err
	}
	if _, err := e.store.CommitBatch(ctx, pending, tree, fixtureTime); err != nil {
		return err
	}
	return e.anchor()
}

// makeStatement is a statement about subject: a supersede by replacement,
// or (replacement zero) a withdrawal for reason.
func makeStatement(t *testing.T, subject, replacement fingerprint.Fingerprint, reason statement.Reason, n string) ([]byte, fingerprint.Fingerprint) {
	t.Helper()
	s := statement.Statement{Version: statement.Version, Subject: subject, Nonce: fingerprint.Nonce(fingerprint.Sum([]byte(n)))}
	if replacement.IsZero() {
		s.Type, s.Reason = statement.Withdraw, reason
	} else {
		s.Type, s.Replacement = statement.Supersede, &replacement
	}
	text, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return text, statement.Fingerprint(text)
}

// TestRecordStatus: online, each statement's own proof is checked against
// the chain with the document's policy, and only statements that check
// out decide SUPERSEDED or WITHDRAWN; anything that cannot be checked, or
// an answer that cannot be relied on, is UNDECIDED, never VALID nor
// WITHDRAWN. A status file's statements are taken on the issuer's signed
// word (checked by the caller), as of its date.
func TestRecordStatus(t *testing.T) {
	e, err := newChainEnv(1)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	ctx := context.Background()
	doc := fingerprint.Sum([]byte("the record"))
	repl := fingerprint.Sum([]byte("the corrected record"))
	repl2 := fingerprint.Sum([]byte("corrected again"))
	other := fingerprint.Sum([]byte("another record"))
	supText, supFP := makeStatement(t, doc, repl, "", "sup")
	sup2Text, sup2FP := makeStatement(t, doc, repl2, "", "sup2")
	wdText, wdFP := makeStatement(t, doc, fingerprint.Fingerprint{}, statement.EnteredInError, "wd")
	otherText, otherFP := makeStatement(t, other, fingerprint.Fingerprint{}, statement.Other, "other")
	if err := e.sealFPs(doc, repl, other); err != nil {
		t.Fatal(err)
	}
	if err := e.sealFPs(supFP, otherFP); err != nil {
		t.Fatal(err)
	}
	if err := e.sealFPs(wdFP); err != nil {
		t.Fatal(err)
	}
	bundle := func(fp fingerprint.Fingerprint) *proof.Bundle {
		b, err := e.bundle(fp)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	blockTime := func(b *proof.Bundle) time.Time {
		h, err := e.client().HeaderByNumber(ctx, new(big.Int).SetUint64(b.Anchors[0].BlockNumber))
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(int64(h.Time), 0).UTC()
	}
	docB, supB, wdB := bundle(doc), bundle(supFP), bundle(wdFP)
	p := Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}
	chains := e.chains()
	base := func() Result {
		r := Verify(ctx, docB, &doc, chains, p)
		if r.Verdict != VerdictValid {
			t.Fatalf("the record's own proof: %+v", r.Checks)
		}
		return r
	}
	sup := SourceStatement{Fingerprint: supFP, Text: supText, Proof: supB}
	wd := SourceStatement{Fingerprint: wdFP, Text: wdText, Proof: wdB}
	tampered := cloneBundle(wdB)
	tampered.Root[0] ^= 1
	forgedWd := SourceStatement{Fingerprint: wdFP, Text: wdText, Proof: tampered}
	const server = "the issuer's server http://127.0.0.1:8080"
	online := func(sts ...SourceStatement) StatusSource { return StatusSource{Name: server, Statements: sts} }

	for _, c := range []struct {
		name    string
		src     StatusSource
		verdict Verdict
		state   RecordState
		at      time.Time
		detail  string
	}{
		{"no statement", online(), VerdictValid, RecordCurrent, time.Time{}, "lists no correction or withdrawal"},
		{"superseded", online(sup), VerdictSuperseded, RecordSuperseded, blockTime(supB), "SUPERSEDED by " + repl.String()},
		{"superseded, then withdrawn", online(sup, wd), VerdictWithdrawn, RecordWithdrawn, blockTime(wdB), "WITHDRAWN on "},
		{"withdrawn, listed first", online(wd, sup), VerdictWithdrawn, RecordWithdrawn, blockTime(wdB), "(entered-in-error)"},
		{"a withdrawal not anchored yet", online(SourceStatement{Fingerprint: wdFP, Text: wdText}), VerdictUndecided, RecordUnknown, time.Time{}, "not anchored yet"},
		{"superseded, a withdrawal not anchored yet", online(sup, SourceStatement{Fingerprint: wdFP, Text: wdText}), VerdictUndecided, RecordUnknown, time.Time{}, "could not be checked"},
		{"a withdrawal whose proof is false", online(forgedWd), VerdictUndecided, RecordUnknown, time.Time{}, "its proof is false"},
		{"a withdrawal whose proof is another's", online(SourceStatement{Fingerprint: wdFP, Text: wdText, Proof: supB}), VerdictUndecided, RecordUnknown, time.Time{}, "proof is for another fingerprint"},
		{"a second correction not anchored yet", online(sup, SourceStatement{Fingerprint: sup2FP, Text: sup2Text}), VerdictSuperseded, RecordSuperseded, blockTime(supB), "a newer version may exist"},
		{"a correction not anchored yet", online(SourceStatement{Fingerprint: sup2FP, Text: sup2Text}), VerdictUndecided, RecordUnknown, time.Time{}, "not known whether the record was superseded"},
		{"a statement about another record", online(SourceStatement{Fingerprint: otherFP, Text: otherText, Proof: bundle(otherFP)}), VerdictUndecided, RecordUnknown, time.Time{}, "about another record"},
		{"a statement under another fingerprint", online(SourceStatement{Fingerprint: wdFP, Text: supText, Proof: supB}), VerdictUndecided, RecordUnknown, time.Time{}, "not that statement's"},
		{"a malformed statement", online(SourceStatement{Fingerprint: statement.Fingerprint([]byte("{}")), Text: []byte("{}")}), VerdictUndecided, RecordUnknown, time.Time{}, "malformed"},
		// A status file: the issuer's signed word, as of its date.
		{"status file: current", StatusSource{Name: "the status file", Signed: true, AsOf: fixtureTime}, VerdictValid, RecordCurrent, time.Time{}, "as of 2025-01-02 03:04:05 UTC"},
		{"status file: withdrawn", StatusSource{Name: "the status file", Signed: true, AsOf: fixtureTime, Statements: []SourceStatement{
			{Fingerprint: supFP, Text: supText, AttestedAt: fixtureTime.Add(-2 * time.Hour)},
			{Fingerprint: wdFP, Text: wdText, AttestedAt: fixtureTime.Add(-time.Hour)}}}, VerdictWithdrawn, RecordWithdrawn, fixtureTime.Add(-time.Hour), "listed as attested in the status file"},
		{"status file: a withdrawal not yet attested", StatusSource{Name: "the status file", Signed: true, AsOf: fixtureTime, Statements: []SourceStatement{
			{Fingerprint: wdFP, Text: wdText}}}, VerdictUndecided, RecordUnknown, time.Time{}, "not yet attested when the status file was made"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			attested := r.AttestedAt
			CheckRecord(ctx, &r, doc, c.src, chains, p)
			last := r.Checks[len(r.Checks)-1]
			if r.Verdict != c.verdict || r.RecordStatus == nil || r.RecordStatus.State != c.state || last.Name != CheckRecordStatus {
				t.Fatalf("verdict %s, status %+v, last check %+v; want %s, %s", r.Verdict, r.RecordStatus, last, c.verdict, c.state)
			}
			if !strings.Contains(last.Detail, c.detail) {
				t.Errorf("the detail %q does not say %q", last.Detail, c.detail)
			}
			if r.Valid != (c.verdict == VerdictValid) {
				t.Errorf("valid %v with verdict %s", r.Valid, r.Verdict)
			}
			if c.verdict == VerdictUndecided {
				if last.State != StateUndecided || !r.AttestedAt.IsZero() {
					t.Errorf("undecided, with the check %s and attested at %v", last.State, r.AttestedAt)
				}
				return
			}
			if last.State != StateOK || !r.AttestedAt.Equal(attested) {
				t.Errorf("the check is %s; the record's attested time %v, want it kept (%v)", last.State, r.AttestedAt, attested)
			}
			if !r.RecordStatus.At.Equal(c.at) {
				t.Errorf("the statement's time %v, want %v", r.RecordStatus.At, c.at)
			}
			switch c.state {
			case RecordSuperseded:
				if r.RecordStatus.Replacement == nil || *r.RecordStatus.Replacement != repl || *r.RecordStatus.Statement != supFP {
					t.Errorf("superseded: %+v", r.RecordStatus)
				}
			case RecordWithdrawn:
				if r.RecordStatus.Reason != statement.EnteredInError || *r.RecordStatus.Statement != wdFP {
					t.Errorf("withdrawn: %+v", r.RecordStatus)
				}
			}
		})
	}

	t.Run("a statement anchored by another issuer", func(t *testing.T) {
		// The same statement batch anchored by another account, which
		// the trust list names as another issuer: all its chain checks
		// pass, but it is not this record's issuer's word.
		sb, err := e.store.Batch(ctx, wdB.BatchID)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := e.sendTx(otherKey, &otherAddr, proof.Payload{BatchID: sb.ID, Size: sb.Size, Root: sb.Root}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.settleSent(); err != nil {
			t.Fatal(err)
		}
		if err := e.commit(); err != nil {
			t.Fatal(err)
		}
		byOther, err := e.withTx(wdB, tx, otherAddr)
		if err != nil {
			t.Fatal(err)
		}
		list := issuerMap{simChainID: {anchorAddr: {"Taipei Attest", anchorAddr}, otherAddr: {"Elsewhere Attest", otherAddr}}}
		tp := Policy{Issuers: list}
		r := Verify(ctx, docB, &doc, chains, tp)
		if r.Verdict != VerdictValid || r.Issuer != "Taipei Attest" {
			t.Fatalf("the record with the trust list: %s %q", r.Verdict, r.Issuer)
		}
		CheckRecord(ctx, &r, doc, online(SourceStatement{Fingerprint: wdFP, Text: wdText, Proof: byOther}), chains, tp)
		if last := r.Checks[len(r.Checks)-1]; r.Verdict != VerdictUndecided || !strings.Contains(last.Detail, `anchored by "Elsewhere Attest"`) {
			t.Errorf("%s: %s", r.Verdict, last.Detail)
		}
		// The issuer's own anchor of it decides.
		r = Verify(ctx, docB, &doc, chains, tp)
		CheckRecord(ctx, &r, doc, online(wd), chains, tp)
		if r.Verdict != VerdictWithdrawn || r.Issuer != "Taipei Attest" {
			t.Errorf("the issuer's own withdrawal: %s %q", r.Verdict, r.Issuer)
		}
		// A status file signed by another issuer says nothing of it.
		r = Verify(ctx, docB, &doc, chains, tp)
		CheckRecord(ctx, &r, doc, StatusSource{Name: "the status file", Signed: true, Issuer: "Elsewhere Attest", AsOf: fixtureTime}, chains, tp)
		if last := r.Checks[len(r.Checks)-1]; r.Verdict != VerdictUndecided || !strings.Contains(last.Detail, "says nothing about this record") {
			t.Errorf("another issuer's status file: %s: %s", r.Verdict, last.Detail)
		}
	})

	t.Run("not valid: nothing is added", func(t *testing.T) {
		wrong := fingerprint.Sum([]byte("another document"))
		r := Verify(ctx, docB, &wrong, chains, p)
		n := len(r.Checks)
		CheckRecord(ctx, &r, doc, online(wd), chains, p)
		if r.Verdict != VerdictInvalid || len(r.Checks) != n || r.RecordStatus != nil {
			t.Errorf("an invalid result got %s, %d checks, status %+v", r.Verdict, len(r.Checks), r.RecordStatus)
		}
	})
	t.Run("unavailable and skipped", func(t *testing.T) {
		r := base()
		RecordUnavailable(&r, server, "it did not answer")
		if last := r.Checks[len(r.Checks)-1]; r.Verdict != VerdictUndecided || !last.Unavailable || last.State != StateUndecided || r.RecordStatus.State != RecordUnknown {
			t.Errorf("unavailable: %s %+v", r.Verdict, last)
		}
		r = base()
		n := len(r.Checks)
		SkipRecordStatus(&r, "--no-status")
		if r.Verdict != VerdictValid || len(r.Checks) != n || r.RecordStatus.State != RecordNotChecked {
			t.Errorf("skipped: %s %+v", r.Verdict, r.RecordStatus)
		}
	})
}
