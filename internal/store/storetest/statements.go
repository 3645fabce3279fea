package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// statementOf is a statement about subject with a text unique to the
// test and parts; its fingerprint is submitted first, as the contract asks.
func statementOf(t *testing.T, s store.Store, subject fingerprint.Fingerprint, parts ...any) store.Statement {
	t.Helper()
	text := fmt.Appendf(nil, `{"statement":%q,"subject":"%s"}`, fmt.Sprint(t.Name(), parts), subject)
	st := store.Statement{Fingerprint: fingerprint.Sum(text), Subject: subject, Text: text}
	mustSubmit(t, s, store.Submission{Fingerprint: st.Fingerprint, Institution: "owner", ReceivedAt: at(100)})
	return st
}

func mustAddStatement(t *testing.T, s store.Store, st store.Statement) store.Statement {
	t.Helper()
	got, err := s.AddStatement(context.Background(), st)
	if err != nil {
		t.Fatalf("AddStatement(%v about %v): %v", st.Fingerprint, st.Subject, err)
	}
	return got
}

func statementEqual(a, b store.Statement) bool {
	return a.Fingerprint == b.Fingerprint && a.Subject == b.Subject && bytes.Equal(a.Text, b.Text) && a.Seq == b.Seq
}

// checkStatementsAbout checks that Proof(subject) lists want, in order.
func checkStatementsAbout(t *testing.T, s store.Store, subject fingerprint.Fingerprint, want ...store.Statement) {
	t.Helper()
	p, err := s.Proof(context.Background(), subject)
	if err != nil {
		t.Fatalf("Proof(%v): %v", subject, err)
	}
	if !slices.EqualFunc(p.Statements, want, statementEqual) {
		t.Errorf("Proof(%v).Statements = %+v, want %+v", subject, p.Statements, want)
	}
}

// testStatements: statements are recorded with dense sequence numbers,
// found by their own fingerprint, listed in order page by page, and
// listed with the proof of their subject (pending or sealed); history is
// kept: a second supersede and a withdrawal after it are all there.
func testStatements(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := fp(t, "a"), fp(t, "b")
	mustSubmit(t, s, store.Submission{Fingerprint: a, Institution: "owner", ReceivedAt: at(0)},
		store.Submission{Fingerprint: b, Institution: "owner", ReceivedAt: at(1)})
	if p, err := s.Proof(ctx, a); err != nil || p.Statements != nil {
		t.Fatalf("Proof of a fingerprint without statements: %+v, %v; want no statements", p.Statements, err)
	}
	if got, err := s.Statements(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("Statements of an empty store = %+v, %v; want none", got, err)
	}
	if _, err := s.Statement(ctx, a); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Statement(a fingerprint that is none) = %v, want ErrNotFound", err)
	}

	sup1 := statementOf(t, s, a, "supersede 1")
	got := mustAddStatement(t, s, sup1)
	sup1.Seq = 1
	if !statementEqual(got, sup1) {
		t.Fatalf("AddStatement = %+v, want %+v", got, sup1)
	}
	checkStatementsAbout(t, s, a, sup1) // a is pending
	checkStatementsAbout(t, s, b)

	// Seal a and b (and the first statement): proofs of sealed subjects
	// carry their statements too, and a statement's own proof has none.
	seal(t, s, 3, at(10))
	sup2 := statementOf(t, s, a, "supersede 2")
	wd := statementOf(t, s, a, "withdraw")
	other := statementOf(t, s, b, "withdraw b")
	sup2.Seq, wd.Seq, other.Seq = 2, 3, 4
	for _, st := range []store.Statement{sup2, wd, other} {
		if got := mustAddStatement(t, s, st); !statementEqual(got, st) {
			t.Errorf("AddStatement = %+v, want %+v", got, st)
		}
	}
	checkStatementsAbout(t, s, a, sup1, sup2, wd)
	checkStatementsAbout(t, s, b, other)
	checkStatementsAbout(t, s, sup1.Fingerprint)
	checkStatementsAbout(t, s, wd.Fingerprint) // pending

	// Found by its own fingerprint.
	for _, st := range []store.Statement{sup1, sup2, wd, other} {
		got, err := s.Statement(ctx, st.Fingerprint)
		if err != nil || !statementEqual(got, st) {
			t.Errorf("Statement(%v) = %+v, %v; want %+v", st.Fingerprint, got, err, st)
		}
	}
	// Every statement, page by page.
	all := []store.Statement{sup1, sup2, wd, other}
	for _, c := range []struct {
		after uint64
		limit int
		want  []store.Statement
	}{
		{0, 10, all}, {0, 2, all[:2]}, {2, 2, all[2:]}, {3, 10, all[3:]}, {4, 10, nil}, {1, 1, all[1:2]},
		{0, 0, nil}, {0, -1, nil}, {^uint64(0), 10, nil}, {^uint64(0) - 1, 10, nil},
	} {
		got, err := s.Statements(ctx, c.after, c.limit)
		if err != nil || !slices.EqualFunc(got, c.want, statementEqual) {
			t.Errorf("Statements(after %d, limit %d) = %+v, %v; want %+v", c.after, c.limit, got, err, c.want)
		}
	}

	// A retry writes nothing and returns the statement as recorded.
	retry := sup2
	retry.Seq = 99
	if got := mustAddStatement(t, s, retry); !statementEqual(got, sup2) {
		t.Errorf("AddStatement again = %+v, want the recorded %+v", got, sup2)
	}
	checkStatementsAbout(t, s, a, sup1, sup2, wd)
	// Another subject or text under a recorded fingerprint is a conflict.
	for _, bad := range []store.Statement{
		{Fingerprint: sup2.Fingerprint, Subject: b, Text: sup2.Text},
		{Fingerprint: sup2.Fingerprint, Subject: a, Text: append(bytes.Clone(sup2.Text), ' ')},
	} {
		if _, err := s.AddStatement(ctx, bad); !errors.Is(err, store.ErrConflict) {
			t.Errorf("AddStatement of another statement under a recorded fingerprint: %v, want ErrConflict", err)
		}
	}
	// What no statement is, is refused.
	for name, bad := range map[string]store.Statement{
		"no fingerprint": {Subject: a, Text: []byte("x")},
		"no subject":     {Fingerprint: fp(t, "x"), Text: []byte("x")},
		"no text":        {Fingerprint: fp(t, "y"), Subject: a},
		"a long text":    {Fingerprint: fp(t, "z"), Subject: a, Text: make([]byte, store.MaxStatementText+1)},
	} {
		if _, err := s.AddStatement(ctx, bad); err == nil {
			t.Errorf("AddStatement with %s: accepted", name)
		}
	}
	if got, err := s.Statements(ctx, 0, 10); err != nil || !slices.EqualFunc(got, all, statementEqual) {
		t.Errorf("after the refusals, Statements = %+v, %v; want %+v", got, err, all)
	}
	// The text is the store's own copy.
	sup1.Text[0] = 'X'
	if got, _ := s.Statement(ctx, sup1.Fingerprint); got.Text[0] == 'X' {
		t.Error("AddStatement kept the caller's slice")
	}
}

// testStatementsConcurrent: statements added at once from many goroutines
// (some the same statement) get distinct, dense sequence numbers, and a
// statement added twice at once is recorded once.
func testStatementsConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	subject := fp(t, "subject")
	mustSubmit(t, s, store.Submission{Fingerprint: subject, Institution: "owner", ReceivedAt: at(0)})
	const n = 24
	sts := make([]store.Statement, n)
	for i := range sts {
		sts[i] = statementOf(t, s, subject, i)
	}
	seqs := make([]uint64, 2*n)
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Go(func() {
			got, err := s.AddStatement(ctx, sts[i%n])
			seqs[i], errs[i] = got.Seq, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("AddStatement %d: %v", i, err)
		}
		if seqs[i] != seqs[(i+n)%(2*n)] {
			t.Errorf("statement %d added twice at once got seqs %d and %d", i%n, seqs[i], seqs[(i+n)%(2*n)])
		}
	}
	got, err := s.Statements(ctx, 0, 2*n)
	if err != nil || len(got) != n {
		t.Fatalf("Statements = %d, %v; want %d", len(got), err, n)
	}
	for i, st := range got {
		if st.Seq != uint64(i+1) {
			t.Errorf("statement %d has seq %d: not dense", i, st.Seq)
		}
	}
	p, err := s.Proof(ctx, subject)
	if err != nil || !slices.EqualFunc(p.Statements, got, statementEqual) {
		t.Errorf("Proof(subject).Statements = %d statements, %v; want the %d in order", len(p.Statements), err, n)
	}
}
