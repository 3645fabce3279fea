package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/server"
)

// TestFingerprintAnyCase: fingerprints as PowerShell's Get-FileHash prints
// them (upper case), or mixed, with or without "sha256:", are taken by
// POST /v1/fingerprints, GET /v1/fingerprints/{fp}, GET
// /v1/submissions/{fp} and POST /v1/verify; every answer says them in
// lowercase.
func TestFingerprintAnyCase(t *testing.T) {
	f := newFixture(t, server.Config{})
	lower := fp(t, "a")
	upper := strings.ToUpper(lower)
	mixed := lower[:32] + strings.ToUpper(lower[32:])
	res := f.submit(keyA, upper, "sha256:"+mixed)
	for i, r := range res.Receipts {
		if r.Fingerprint.String() != lower {
			t.Fatalf("receipt %d names %s, want %s", i, r.Fingerprint, lower)
		}
	}
	// The same fingerprint however spelt: one record, equal receipts.
	if res.Receipts[0].ReceivedAt != res.Receipts[1].ReceivedAt {
		t.Fatalf("receipts %+v: one fingerprint received twice", res.Receipts)
	}
	for _, spelling := range []string{upper, mixed, "sha256:" + upper, lower} {
		st, body := f.status(spelling)
		if st.Fingerprint != lower || strings.Contains(string(body), upper) {
			t.Fatalf("GET /v1/fingerprints/%s: %s", spelling, body)
		}
		resp, data := f.do("GET", "/v1/submissions/"+spelling, http.Header{"Authorization": {"Bearer " + keyA}}, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(data), `"fingerprint":"`+lower+`"`) || strings.Contains(string(data), upper) {
			t.Fatalf("GET /v1/submissions/%s: %d %s", spelling, resp.StatusCode, data)
		}
	}
	f.seal()
	f.confirm()
	st, _ := f.status(upper)
	if st.Proof == nil {
		t.Fatalf("no proof for %s", upper)
	}
	one := int64(1)
	out, body := f.verify(api.VerifyRequest{Bundle: *st.Proof, Fingerprint: &mixed, MinConfirmations: &one})
	if !out.Valid {
		t.Fatalf("POST /v1/verify with an upper-case fingerprint: %s", body)
	}
	// Not hex in any case: still a 400.
	bad := strings.ToUpper(lower[:63]) + "G"
	resp, err := f.client.GetFingerprintWithResponse(context.Background(), bad)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusBadRequest {
		t.Fatalf("GET /v1/fingerprints/%s: %d, want 400", bad, resp.StatusCode())
	}
}
