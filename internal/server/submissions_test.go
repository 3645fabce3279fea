package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

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
	if got.Institution != instA || !got.ReceivedAt.Equal(want.ReceivedAt) || string(got.Signature) != string(want.Signature) || own.JSON200.Status != "pending" {
		t.Fatalf("own submission %+v, want the receipt handed out at submission %+v", own.JSON200, want)
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
