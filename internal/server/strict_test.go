package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/server"
)

// TestAmbiguousBodies: a request body that encoding/json reads one way
// (the last of two members, "FINGERPRINTS" for "fingerprints") and other
// parsers another way is refused with a 400 problem naming the member,
// and nothing is stored.
func TestAmbiguousBodies(t *testing.T) {
	f := newFixture(t, server.Config{})
	a, b := fp(t, "a"), fp(t, "b")
	vb := verifyBody(t, nil)
	bundle := strings.TrimSuffix(strings.TrimPrefix(vb, `{"bundle":`), `}`)
	const sub, ver = "/v1/fingerprints", "/v1/verify"
	for _, c := range []struct {
		name, path, body string
		detail           []string
	}{
		{"fingerprints twice", sub, `{"fingerprints":["` + a + `"],"fingerprints":["` + b + `"]}`, []string{"duplicate", `"fingerprints"`}},
		{"fingerprints twice, escaped", sub, `{"fingerprints":["` + a + `"],"fingerprint\u0073":["` + b + `"]}`, []string{"duplicate", `"fingerprints"`}},
		{"FINGERPRINTS", sub, `{"FINGERPRINTS":["` + a + `"]}`, []string{"unknown field", `"FINGERPRINTS"`}},
		{"fingerprints and FINGERPRINTS", sub, `{"fingerprints":["` + a + `"],"FINGERPRINTS":["` + b + `"]}`, []string{"differ only in case", `"fingerprints"`, `"FINGERPRINTS"`}},
		{"bundle twice", ver, `{"bundle":` + bundle + `,"bundle":` + bundle + `}`, []string{"duplicate", `"bundle"`}},
		{"bundle and BUNDLE", ver, `{"bundle":` + bundle + `,"BUNDLE":` + bundle + `}`, []string{"differ only in case", `"bundle"`, `"BUNDLE"`}},
		{"Bundle", ver, `{"Bundle":` + bundle + `}`, []string{"unknown field", `"Bundle"`}},
		{"root twice in the bundle", ver, strings.Replace(vb, `{"bundle":{`, `{"bundle":{"root":"`+a+`",`, 1), []string{"duplicate", `"root"`, "/bundle"}},
		{"root and ROOT in the bundle", ver, strings.Replace(vb, `{"bundle":{`, `{"bundle":{"ROOT":"`+a+`",`, 1), []string{"differ only in case", `"root"`, `"ROOT"`, "/bundle"}},
		{"tx_hash twice in an anchor", ver, strings.Replace(vb, `"anchors":[{`, `"anchors":[{"tx_hash":"0x`+a+`",`, 1), []string{"duplicate", `"tx_hash"`, "/bundle/anchors/0"}},
		{"fingerprint twice", ver, strings.Replace(vb, `{"bundle":`, `{"fingerprint":"`+a+`","fingerprint":"`+b+`","bundle":`, 1), []string{"duplicate", `"fingerprint"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + keyA}}
			resp, data := f.do("POST", c.path, hdr, strings.NewReader(c.body))
			detail := checkProblem(t, resp, data, http.StatusBadRequest, c.path)
			for _, want := range append(c.detail, "malformed JSON body") {
				if !strings.Contains(detail, want) {
					t.Errorf("detail %q does not contain %s", detail, want)
				}
			}
		})
	}
	if n, _, _ := f.st.PendingStats(context.Background()); n != 0 {
		t.Fatalf("%d fingerprints pending after refused submissions, want 0", n)
	}
}

// TestSubmitRefusesZeroFingerprint: the all-zero fingerprint is no
// document's SHA-256 and a proof bundle carrying it is refused by every
// verifier, so it is refused at submission, naming its index, and the
// request stores nothing.
func TestSubmitRefusesZeroFingerprint(t *testing.T) {
	f := newFixture(t, server.Config{})
	zero := strings.Repeat("0", 64)
	for _, body := range []string{
		fpList(fp(t, "a"), zero),
		fpList(fp(t, "a"), fp(t, "b"), "sha256:"+zero),
	} {
		hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + keyA}}
		resp, data := f.do("POST", "/v1/fingerprints", hdr, strings.NewReader(body))
		detail := checkProblem(t, resp, data, http.StatusBadRequest, "/v1/fingerprints")
		idx := "fingerprints[1]"
		if strings.Contains(body, "sha256:") {
			idx = "fingerprints[2]"
		}
		for _, want := range []string{idx, "all-zero"} {
			if !strings.Contains(detail, want) {
				t.Errorf("detail %q does not contain %s", detail, want)
			}
		}
	}
	if n, _, _ := f.st.PendingStats(context.Background()); n != 0 {
		t.Fatalf("%d fingerprints pending after refused submissions, want 0", n)
	}
}
