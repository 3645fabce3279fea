package server

import (
	"crypto/ed25519"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/receipt"
)

// strictSubmit is the general decoder's reading of a submission body.
func strictSubmit(body []byte) ([]fingerprint.Fingerprint, error) {
	var req api.SubmitRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	out := make([]fingerprint.Fingerprint, len(req.Fingerprints))
	for i, s := range req.Fingerprints {
		fp, err := fingerprint.Parse(s)
		if err != nil {
			return nil, err
		}
		out[i] = fp
	}
	return out, nil
}

var (
	hexA = strings.Repeat("ab", 32)
	hexB = strings.Repeat("0123456789ABCDEF", 4)
)

// TestPlainSubmit: the fast path reads the plain spellings, and leaves
// every other body to the strict decoder.
func TestPlainSubmit(t *testing.T) {
	for _, body := range []string{
		`{"fingerprints":["` + hexA + `"]}`,
		` { "fingerprints" : [ "` + hexA + `" , "` + hexB + `" ] } ` + "\n",
		"{\"fingerprints\":[\"" + hexA + "\",\r\n\t\"" + hexA + "\"]}",
	} {
		got, ok := plainSubmit([]byte(body))
		want, err := strictSubmit([]byte(body))
		if !ok || err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: fast %v %x, strict %v %x", body, ok, got, err, want)
		}
	}
	for _, body := range []string{
		``, `{}`, `{"fingerprints":[]}`, `{"fingerprints":null}`,
		`{"fingerprints":["` + hexA + `"],"fingerprints":["` + hexA + `"]}`,
		`{"Fingerprints":["` + hexA + `"]}`,
		`{"fingerprints":["` + hexA + `"]}x`,
		`{"fingerprints":["` + hexA + `",]}`,
		`{"fingerprints":["` + hexA + `"]`,
		`{"fingerprints":["sha256:` + hexA + `"]}`,
		`{"fingerprints":["` + hexA[:63] + `"]}`,
		`{"fingerprints":["` + hexA + `0"]}`,
		`{"fingerprints":["\u0061` + hexA[1:] + `"]}`,
		`{"fingerprints":["` + strings.Repeat("0", 64) + `"]}`,
		`{"fingerprints":["` + hexA[:62] + `zz"]}`,
		`{"fingerprints":["` + hexA + `"],"x":1}`,
		`[{"fingerprints":["` + hexA + `"]}]`,
	} {
		if got, ok := plainSubmit([]byte(body)); ok {
			t.Errorf("%q: the fast path read %x; it is the strict decoder's to judge", body, got)
		}
	}
}

// FuzzPlainSubmit: whatever the fast path accepts, the strict decoder
// accepts with the same fingerprints.
func FuzzPlainSubmit(f *testing.F) {
	f.Add([]byte(`{"fingerprints":["` + hexA + `"]}`))
	f.Add([]byte(` { "fingerprints" : [ "` + hexA + `" , "` + hexB + `" ] } `))
	f.Add([]byte(`{"fingerprints":["` + hexA + `"],"fingerprints":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := plainSubmit(body)
		if !ok {
			return
		}
		want, err := strictSubmit(body)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%q: fast %x, strict %v %x", body, got, err, want)
		}
		for _, fp := range got {
			if fp.IsZero() {
				t.Fatalf("%q: the fast path read the all-zero fingerprint", body)
			}
		}
	})
}

// TestWriteReceipts: the answer is what c.JSON writes for the same
// response, headers and bytes.
func TestWriteReceipts(t *testing.T) {
	seed := sha256.Sum256([]byte("writeReceipts test key"))
	at := time.Date(2026, 12, 7, 16, 0, 0, 123, time.UTC)
	var facts []receipt.Facts
	for i, name := range []string{"Hôpital <Saint-Louis> & co", "lab", `"q"`} {
		facts = append(facts, receipt.Facts{Fingerprint: fingerprint.Sum([]byte(name)), Institution: name, ReceivedAt: at.Add(time.Duration(i)), Deadline: at.Add(time.Hour)})
	}
	rs, err := receipt.NewSigner(ed25519.NewKeyFromSeed(seed[:])).Sign(facts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, list := range [][]receipt.Receipt{rs, rs[:1], {}, nil} {
		gin.SetMode(gin.ReleaseMode)
		fast, slow := httptest.NewRecorder(), httptest.NewRecorder()
		c1, _ := gin.CreateTestContext(fast)
		c2, _ := gin.CreateTestContext(slow)
		writeReceipts(c1, http.StatusAccepted, list)
		c2.JSON(http.StatusAccepted, api.SubmitResponse{Receipts: list})
		if fast.Code != slow.Code || fast.Header().Get("Content-Type") != slow.Header().Get("Content-Type") || fast.Body.String() != slow.Body.String() {
			t.Fatalf("writeReceipts:\n%d %s %s\nc.JSON:\n%d %s %s", fast.Code, fast.Header(), fast.Body, slow.Code, slow.Header(), slow.Body)
		}
	}
}
