package server_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/server"
)

// TestSubmissionsAreTenantPrivate: an institution reads its own receipt
// back; another institution gets the same 404 as for an unknown
// fingerprint; without a key, 401.
func TestSubmissionsAreTenantPrivate(t *testing.T) {
	f := newFixture(t, server.Config{})
	ctx := context.Background()
	list := fps(t, 2)
	sub := f.submit(keyA, list[0])

	own, err := f.client.GetSubmissionWithResponse(ctx, list[0], bearer(keyA))
	if err != nil || own.StatusCode() != http.StatusOK || own.JSON200 == nil {
		t.Fatalf("own submission: %v %d %s", err, own.StatusCode(), own.Body)
	}
	got, want := own.JSON200.Receipt, sub.Receipts[0]
	// The same statement under the same key (a new salt: signed anew).
	if got.Facts() != want.Facts() || got.KeyID != want.KeyID || own.JSON200.Status != "pending" {
		t.Fatalf("own submission %+v, want the receipt handed out at submission %+v", own.JSON200, want)
	}
	if err := receipt.Verify(got, f.signer.PublicKey()); err != nil {
		t.Fatalf("own submission's receipt: %v", err)
	}

	other, err := f.client.GetSubmissionWithResponse(ctx, list[0], bearer(keyB))
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := f.client.GetSubmissionWithResponse(ctx, list[1], bearer(keyB))
	if err != nil {
		t.Fatal(err)
	}
	if other.StatusCode() != http.StatusNotFound || unknown.StatusCode() != http.StatusNotFound {
		t.Fatalf("cross-tenant %d, unknown %d; want 404 for both", other.StatusCode(), unknown.StatusCode())
	}
	if o, u := strings.ReplaceAll(string(other.Body), list[0], "FP"), strings.ReplaceAll(string(unknown.Body), list[1], "FP"); o != u {
		t.Fatalf("a cross-tenant read must look exactly like an unknown fingerprint:\n%s\n%s", o, u)
	}
	if anon, err := f.client.GetSubmissionWithResponse(ctx, list[0]); err != nil || anon.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("without a key: %v %d", err, anon.StatusCode())
	}
	if _, err := f.sealer.SealOne(ctx); err != nil {
		t.Fatal(err)
	}
	if own, _ := f.client.GetSubmissionWithResponse(ctx, list[0], bearer(keyA)); own.JSON200 == nil || own.JSON200.Status != "sealed" || own.JSON200.BatchID == nil {
		t.Fatalf("after sealing: %s", own.Body)
	}
}

// TestReceiptsAreOwnPerInstitution: each institution's submission of a
// fingerprint gets its own received time and receipt. B submitting what A
// submitted 1.5 s earlier gets a receipt naming B at B's own time (and the
// deadline that follows from it), which verifies and says nothing of A's
// submission; re-submissions keep each institution's own time; GET
// /v1/submissions/{fp} answers each with its own.
func TestReceiptsAreOwnPerInstitution(t *testing.T) {
	clk := newClock()
	f := newFixture(t, server.Config{Now: clk.Now})
	ctx := context.Background()
	pub := ed25519.PublicKey(f.info().ReceiptKeys[0].PublicKey)
	shared, fresh := fp(t, "shared"), fp(t, "fresh")
	received := func(result string) float64 { return testutil.ToFloat64(f.m.Received.WithLabelValues(result)) }
	check := func(what string, r api.Receipt, inst string, at time.Time) {
		t.Helper()
		if r.Institution != inst || !r.ReceivedAt.Equal(at) || !r.Deadline.Equal(f.sealer.Deadline(at)) {
			t.Fatalf("%s: receipt names %q received %v deadline %v; want %q, %v, %v", what, r.Institution, r.ReceivedAt, r.Deadline, inst, at, f.sealer.Deadline(at))
		}
		if err := receipt.Verify(toReceipt(t, r), pub); err != nil {
			t.Fatalf("%s: the receipt does not verify with the receipt key: %v", what, err)
		}
	}
	// reveals fails if body holds anything of A's submission: A's name, or
	// A's received time or deadline in any of the forms a body carries.
	aTimes := []string{}
	reveals := func(what string, body []byte) {
		t.Helper()
		if strings.Contains(strings.ToLower(string(body)), strings.ToLower(instA)) {
			t.Fatalf("%s names %s: %s", what, instA, body)
		}
		for _, s := range aTimes {
			if strings.Contains(string(body), s) {
				t.Fatalf("%s holds %s's time %s: %s", what, instA, s, body)
			}
		}
	}
	getOwn := func(key, fp string) (*api.Submission, []byte) {
		t.Helper()
		resp, err := f.client.GetSubmissionWithResponse(ctx, fp, bearer(key))
		if err != nil || resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
			t.Fatalf("GET own submission: %v %d %s", err, resp.StatusCode(), resp.Body)
		}
		return resp.JSON200, resp.Body
	}

	tA := clk.Now()
	a := f.submit(keyA, shared).Receipts[0]
	check("A's submission", a, instA, tA)
	for _, tm := range []time.Time{a.ReceivedAt, a.Deadline} {
		aTimes = append(aTimes, tm.Format(time.RFC3339Nano), fmt.Sprint(tm.UnixNano()), fmt.Sprint(tm.UnixMilli()))
	}

	// Before B submits, B's view of the shared fingerprint is an unknown one's.
	other, _ := f.client.GetSubmissionWithResponse(ctx, shared, bearer(keyB))
	unknown, _ := f.client.GetSubmissionWithResponse(ctx, fresh, bearer(keyB))
	if other.StatusCode() != http.StatusNotFound ||
		strings.ReplaceAll(string(other.Body), shared, "FP") != strings.ReplaceAll(string(unknown.Body), fresh, "FP") {
		t.Fatalf("B before submitting: %d %s; want the 404 of an unknown fingerprint %s", other.StatusCode(), other.Body, unknown.Body)
	}

	// 1.5 s later B submits the shared fingerprint and one nobody has.
	clk.Advance(1500 * time.Millisecond)
	tB := clk.Now()
	resp, err := f.client.SubmitFingerprintsWithResponse(ctx, api.SubmitRequest{Fingerprints: []string{shared, fresh}}, bearer(keyB))
	if err != nil || resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil {
		t.Fatalf("B's submission: %v %d %s", err, resp.StatusCode(), resp.Body)
	}
	b := resp.JSON202.Receipts[0]
	check("B's submission of A's fingerprint", b, instB, tB)
	check("B's submission of a new fingerprint", resp.JSON202.Receipts[1], instB, tB)
	reveals("B's 202", resp.Body)
	// Known and new look the same to B: all facts equal but the fingerprint.
	known, brandNew := toReceipt(t, b).Facts(), toReceipt(t, resp.JSON202.Receipts[1]).Facts()
	brandNew.Fingerprint = known.Fingerprint
	if known != brandNew {
		t.Fatalf("B's receipt of a known fingerprint %+v differs from a new one's %+v", known, brandNew)
	}
	if received("new") != 2 || received("duplicate") != 1 {
		t.Fatalf("received new %v duplicate %v, want 2 1 (B's shared fingerprint is a duplicate)", received("new"), received("duplicate"))
	}
	// The store's entry, which the sealer and the oldest-pending metric
	// read, is still A's.
	if e, err := f.st.Entry(ctx, mustFP(t, shared)); err != nil || e.Institution != instA || !e.ReceivedAt.Equal(tA) {
		t.Fatalf("entry after B's submission %+v, %v; want A's", e, err)
	}
	if n, oldest, err := f.st.PendingStats(ctx); err != nil || n != 2 || !oldest.Equal(tA) {
		t.Fatalf("PendingStats %d %v %v; want 2 pending, the oldest A's %v", n, oldest, err, tA)
	}

	// Re-submissions, later still, keep each institution's own time.
	clk.Advance(time.Minute)
	b2 := f.submit(keyB, shared).Receipts[0]
	check("B's re-submission", b2, instB, tB)
	a2 := f.submit(keyA, shared).Receipts[0]
	check("A's re-submission", a2, instA, tA)
	if a2.Facts() != a.Facts() || a2.KeyID != a.KeyID {
		t.Fatalf("A's re-submission %+v, want the same statement, by the same key, as %+v", a2, a)
	}
	if received("new") != 2 || received("duplicate") != 3 {
		t.Fatalf("received new %v duplicate %v, want 2 3", received("new"), received("duplicate"))
	}

	// Each reads its own submission back, pending and then sealed.
	for _, when := range []string{"pending", "sealed"} {
		ownA, _ := getOwn(keyA, shared)
		ownB, body := getOwn(keyB, shared)
		check("A's GET "+when, ownA.Receipt, instA, tA)
		check("B's GET "+when, ownB.Receipt, instB, tB)
		reveals("B's GET "+when, body)
		if ownA.Receipt.Facts() != a.Facts() || ownA.Receipt.KeyID != a.KeyID {
			t.Fatalf("A's GET: a receipt stating other than the one handed out at submission")
		}
		if ownA.Status != api.Status(when) || ownB.Status != api.Status(when) {
			t.Fatalf("GET: status %s and %s, want %s", ownA.Status, ownB.Status, when)
		}
		f.seal()
	}
}
