package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/store"
)

func TestAuth(t *testing.T) {
	f := newFixture(t, server.Config{})
	good := `{"fingerprints":["` + fp(t, "a") + `"]}`
	cases := []struct {
		name   string
		auth   []string // Authorization header values; nil: none
		body   string
		status int
		detail string
	}{
		{"no header", nil, good, 401, "Bearer"},
		{"basic scheme", []string{"Basic " + keyA}, good, 401, "Bearer"},
		{"key without scheme", []string{keyA}, good, 401, "Bearer"},
		{"scheme without key", []string{"Bearer"}, good, 401, "Bearer"},
		{"empty key", []string{"Bearer "}, good, 401, "Bearer"},
		{"unknown key", []string{"Bearer " + keyA + "x"}, good, 401, "unknown API key"},
		{"prefix of a key", []string{"Bearer " + keyA[:len(keyA)-1]}, good, 401, "unknown API key"},
		{"institution name as key", []string{"Bearer " + instA}, good, 401, "unknown API key"},
		// Authentication comes before the body is looked at.
		{"no header, malformed body", nil, `{"fingerprints":[`, 401, "Bearer"},
		{"unknown key, empty list", []string{"Bearer nope-nope-nope-nope"}, `{"fingerprints":[]}`, 401, "unknown API key"},
		// RFC 9110 section 11.1: the auth scheme is case-insensitive.
		{"lowercase scheme", []string{"bearer " + keyA}, good, 202, ""},
		{"valid key A", []string{"Bearer " + keyA}, good, 202, ""},
		{"valid key B", []string{"Bearer " + keyB}, good, 202, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := http.Header{"Content-Type": {"application/json"}}
			if c.auth != nil {
				hdr["Authorization"] = c.auth
			}
			resp, body := f.do("POST", "/v1/fingerprints", hdr, strings.NewReader(c.body))
			if c.status == 202 {
				if resp.StatusCode != 202 {
					t.Fatalf("status %d, want 202: %s", resp.StatusCode, body)
				}
				return
			}
			detail := checkProblem(t, resp, body, c.status, "/v1/fingerprints")
			if !strings.Contains(detail, c.detail) {
				t.Errorf("detail %q does not mention %q", detail, c.detail)
			}
			if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge", wa)
			}
		})
	}

	// The generated client sees the same: a typed 401 with its header.
	resp, err := f.client.SubmitFingerprintsWithResponse(context.Background(), api.SubmitRequest{Fingerprints: []string{fp(t, "b")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 401 || resp.ApplicationProblemJSON401 == nil || resp.Headers401 == nil ||
		!strings.HasPrefix(resp.Headers401.WWWAuthenticate, "Bearer") {
		t.Fatalf("generated client: %d %+v %s", resp.StatusCode(), resp.Headers401, resp.Body)
	}
	// Nothing from refused requests was stored.
	if n, _, _ := f.st.PendingStats(context.Background()); n != 1 {
		t.Fatalf("%d pending after the auth table, want 1 (only the accepted fingerprint)", n)
	}
}

func TestPublicEndpointsNeedNoKey(t *testing.T) {
	f := newFixture(t, server.Config{})
	f.submit(keyA, fp(t, "a"))
	bundle := `{"bundle":{"version":1,"fingerprint":"` + fp(t, "a") + `","batch_id":1,"index":0,"size":1,"root":"` + fp(t, "a") + `","path":[],"anchors":[]}}`
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/info", "", 200},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/metrics", "", 200},
		{"GET", "/v1/fingerprints/" + fp(t, "a"), "", 200},
		{"GET", "/v1/fingerprints/" + fp(t, "unknown"), "", 404},
		{"GET", "/v1/batches/1", "", 404},
		{"POST", "/v1/verify", bundle, 200},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			resp, body := f.do(c.method, c.path, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(c.body))
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if resp.Header.Get("WWW-Authenticate") != "" {
				t.Fatal("a public endpoint asked for credentials")
			}
		})
	}
}

// verifyBody returns a well-formed POST /v1/verify body, changed by mod.
func verifyBody(t *testing.T, mod func(req, bundle map[string]any)) string {
	h := fp(t, "h")
	bundle := map[string]any{
		"version": 1, "fingerprint": h, "batch_id": 1, "index": 0, "size": 2, "root": h, "path": []string{h},
		"anchors": []any{map[string]any{
			"chain_id": chainID, "tx_hash": "0x" + h, "block_number": 1, "block_hash": "0x" + h,
			"anchorer": "0x8a9f3c2b1d4e5f60718293a4b5c6d7e8f9012345",
		}},
	}
	req := map[string]any{"bundle": bundle}
	if mod != nil {
		mod(req, bundle)
	}
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func fpList(list ...string) string {
	out, _ := json.Marshal(map[string]any{"fingerprints": list})
	return string(out)
}

func TestMalformedRequests(t *testing.T) {
	f := newFixture(t, server.Config{})
	good := fp(t, "good")
	f.submit(keyA, good)
	f.seal() // batch 1 exists, so "/v1/batches/2" is the unknown one

	many := make([]string, 10_001)
	for i := range many {
		many[i] = fp(t, fmt.Sprint(i))
	}
	const sub = "/v1/fingerprints"
	type tc struct {
		name, method, path, body string
		status                   int
		detail                   []string          // substrings of the detail
		header                   map[string]string // response header substrings
	}
	cases := []tc{
		// POST /v1/fingerprints bodies.
		{"invalid JSON", "POST", sub, `{"fingerprints":[`, 400, []string{"malformed JSON"}, nil},
		{"empty body", "POST", sub, ``, 400, []string{"malformed JSON"}, nil},
		{"array body", "POST", sub, `["` + good + `"]`, 400, []string{"malformed JSON"}, nil},
		{"wrong item type", "POST", sub, `{"fingerprints":[42]}`, 400, []string{"malformed JSON"}, nil},
		{"unknown field", "POST", sub, `{"fingerprints":["` + good + `"],"institution":"x"}`, 400, []string{"unknown field", "institution"}, nil},
		{"trailing object", "POST", sub, fpList(good) + `{"fingerprints":[]}`, 400, []string{"trailing data"}, nil},
		{"trailing garbage", "POST", sub, fpList(good) + ` x`, 400, []string{"trailing data"}, nil},
		{"trailing brace", "POST", sub, fpList(good) + `}`, 400, []string{"trailing data"}, nil},
		{"trailing bracket", "POST", sub, fpList(good) + ` ]`, 400, []string{"trailing data"}, nil},
		{"null body", "POST", sub, `null`, 400, []string{"got 0"}, nil},
		{"no fingerprints field", "POST", sub, `{}`, 400, []string{"got 0"}, nil},
		{"empty list", "POST", sub, `{"fingerprints":[]}`, 400, []string{"1 to 10000", "got 0"}, nil},
		{"10,001 fingerprints", "POST", sub, fpList(many...), 400, []string{"1 to 10000", "got 10001"}, nil},
		{"0x fingerprint", "POST", sub, fpList(good, "0x"+strings.ToUpper(good)), 400, []string{"fingerprints[1]", "prefix"}, nil},
		{"short fingerprint", "POST", sub, fpList(good, good, good[:63]), 400, []string{"fingerprints[2]", "63"}, nil},
		{"0x-prefixed fingerprint", "POST", sub, fpList("0x" + good), 400, []string{"fingerprints[0]", `"0x"`}, nil},
		{"sha1-prefixed fingerprint", "POST", sub, fpList(good, "sha1:"+good), 400, []string{"fingerprints[1]", "sha1"}, nil},
		{"padded fingerprint", "POST", sub, fpList(" " + good), 400, []string{"fingerprints[0]"}, nil},
		{"empty fingerprint", "POST", sub, fpList(good, ""), 400, []string{"fingerprints[1]", "empty"}, nil},

		// Routing.
		{"unknown route", "GET", "/v2/info", "", 404, []string{"no such route"}, nil},
		{"no index.html", "GET", "/index.html", "", 404, []string{"no such route"}, nil},
		{"too deep", "GET", "/v1/fingerprints/" + good + "/proof", "", 404, []string{"no such route"}, nil},
		{"DELETE info", "DELETE", "/v1/info", "", 405, []string{"method not allowed"}, map[string]string{"Allow": "GET"}},
		{"PUT fingerprints", "PUT", sub, fpList(good), 405, []string{"method not allowed"}, map[string]string{"Allow": "POST"}},
		{"GET verify", "GET", "/v1/verify", "", 405, []string{"method not allowed"}, map[string]string{"Allow": "POST"}},
		{"POST healthz", "POST", "/healthz", "", 405, []string{"method not allowed"}, map[string]string{"Allow": "GET"}},

		// GET /v1/fingerprints/{fp}.
		{"GET SHA256: fp", "GET", sub + "/SHA256:" + strings.ToUpper(good), "", 400, []string{"prefix"}, nil},
		{"GET short fp", "GET", sub + "/" + good[1:], "", 400, []string{"63"}, nil},
		{"GET 0x fp", "GET", sub + "/0x" + good, "", 400, []string{`"0x"`}, nil},
		{"GET non-hex fp", "GET", sub + "/" + strings.Repeat("z", 64), "", 400, []string{"non-hex"}, nil},
		{"GET unknown fp", "GET", sub + "/" + fp(t, "unknown"), "", 404, []string{"not found"}, nil},
		{"GET unknown sha256: fp", "GET", sub + "/sha256:" + fp(t, "unknown"), "", 404, []string{"not found"}, nil},

		// GET /v1/batches/{id}.
		{"batch 0", "GET", "/v1/batches/0", "", 400, []string{"start at 1"}, nil},
		{"batch -1", "GET", "/v1/batches/-1", "", 400, []string{"start at 1"}, nil},
		{"batch abc", "GET", "/v1/batches/abc", "", 400, []string{"id"}, nil},
		{"batch 1.5", "GET", "/v1/batches/1.5", "", 400, []string{"id"}, nil},
		{"batch overflow", "GET", "/v1/batches/99999999999999999999", "", 400, []string{"id"}, nil},
		{"unknown batch", "GET", "/v1/batches/2", "", 404, []string{"not found"}, nil},

		// POST /v1/verify.
		{"verify invalid JSON", "POST", "/v1/verify", `{"bundle":`, 400, []string{"malformed JSON"}, nil},
		{"verify no bundle", "POST", "/v1/verify", `{}`, 400, []string{"invalid proof"}, nil},
		{"verify trailing data", "POST", "/v1/verify", verifyBody(t, nil) + `[]`, 400, []string{"trailing data"}, nil},
		{"verify unknown field", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["policy"] = "lax" }), 400, []string{"unknown field"}, nil},
		{"verify unknown bundle field", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) { b["issuer"] = instA }), 400, []string{"unknown field"}, nil},
		{"verify version 3", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) { b["version"] = 3 }), 400, []string{"version 3"}, nil},
		{"verify evidence in version 1", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) { b["anchors"].([]any)[0].(map[string]any)["no_evidence"] = "pending" }), 400, []string{"carries no chain evidence"}, nil},
		{"verify malformed evidence", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) {
			b["version"] = 2
			b["anchors"].([]any)[0].(map[string]any)["evidence"] = map[string]any{"version": 1, "tx": "0xzz"}
		}), 400, []string{"evidence"}, nil},
		{"verify batch 0", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) { b["batch_id"] = 0 }), 400, []string{"batch_id"}, nil},
		{"verify index outside", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) { b["index"] = 2 }), 400, []string{"outside"}, nil},
		{"verify root not hex", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) { b["root"] = "nothex" }), 400, []string{"invalid proof"}, nil},
		{"verify uppercase path", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) { b["path"] = []string{strings.ToUpper(good)} }), 400, []string{"invalid proof"}, nil},
		{"verify bad tx hash", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) {
			b["anchors"].([]any)[0].(map[string]any)["tx_hash"] = "0x12"
		}), 400, []string{"/bundle/anchors/0/tx_hash"}, nil},
		{"verify two anchors on one chain", "POST", "/v1/verify", verifyBody(t, func(_, b map[string]any) {
			a := b["anchors"].([]any)
			b["anchors"] = append(a, a[0])
		}), 400, []string{"two anchors"}, nil},
		{"verify bad fingerprint", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["fingerprint"] = "0x" + good }), 400, []string{"0x"}, nil},
		{"verify required chain 0", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["required_chains"] = []int{0} }), 400, []string{"required_chains"}, nil},
		{"verify require ALL", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["require"] = "ALL" }), 400, []string{"require"}, nil},
		{"verify require a number", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["require"] = 1337 }), 400, []string{"require"}, nil},
		{"verify require empty", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["require"] = []int{} }), 400, []string{"require"}, nil},
		{"verify require chain 0", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["require"] = []int{0} }), 400, []string{"require"}, nil},
		{"verify require and required_chains", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) {
			r["require"], r["required_chains"] = "any", []int{1337}
		}), 400, []string{"not both"}, nil},
		{"verify min_confirmations 0", "POST", "/v1/verify", verifyBody(t, func(r, _ map[string]any) { r["min_confirmations"] = 0 }), 400, []string{"min_confirmations"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + keyA}}
			var body io.Reader
			if c.method != "GET" {
				body = strings.NewReader(c.body)
			}
			resp, data := f.do(c.method, c.path, hdr, body)
			detail := checkProblem(t, resp, data, c.status, c.path)
			for _, want := range c.detail {
				if !strings.Contains(detail, want) {
					t.Errorf("detail %q does not contain %q", detail, want)
				}
			}
			for k, v := range c.header {
				if !strings.Contains(resp.Header.Get(k), v) {
					t.Errorf("header %s = %q, want it to contain %q", k, resp.Header.Get(k), v)
				}
			}
			noInstitution(t, "problem", data)
		})
	}
	// None of the refused submissions stored anything.
	if n, _, _ := f.st.PendingStats(context.Background()); n != 0 {
		t.Fatalf("%d fingerprints pending after refused submissions, want 0", n)
	}
}

// TestBodyLimit: a body over MaxBodyBytes is refused with 413 on both
// body-reading operations, at the configured and at the default limit, and
// a body just under the limit is accepted.
func TestBodyLimit(t *testing.T) {
	for _, limit := range []int64{4 << 10, server.DefaultMaxBodyBytes} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			cfg := server.Config{}
			if limit != server.DefaultMaxBodyBytes {
				cfg.MaxBodyBytes = limit
			}
			f := newFixture(t, cfg)
			hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + keyA}}

			// Valid JSON, padded with whitespace to one byte over the limit.
			over := func(prefix string) []byte {
				b := []byte(prefix)
				return append(b, bytes.Repeat([]byte(" "), int(limit)+1-len(b))...)
			}
			for _, path := range []string{"/v1/fingerprints", "/v1/verify"} {
				body := over(fpList(fp(t, "a")))
				if path == "/v1/verify" {
					body = over(verifyBody(t, nil))
				}
				resp, data := f.do("POST", path, hdr, bytes.NewReader(body))
				detail := checkProblem(t, resp, data, http.StatusRequestEntityTooLarge, path)
				if !strings.Contains(detail, fmt.Sprint(limit)) {
					t.Errorf("%s: detail %q does not name the limit %d", path, detail, limit)
				}
			}
			under := fpList(fp(t, "a"))
			under += strings.Repeat(" ", int(limit)-len(under))
			resp, data := f.do("POST", "/v1/fingerprints", hdr, strings.NewReader(under))
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("a body of exactly the limit: %d %s", resp.StatusCode, data)
			}
		})
	}
}

func TestSubmit(t *testing.T) {
	f := newFixture(t, server.Config{})
	ctx := context.Background()
	info := f.info()
	if len(info.ReceiptKeys) != 1 || info.ReceiptKeys[0].Algorithm != "ed25519" {
		t.Fatalf("receipt keys %+v", info.ReceiptKeys)
	}
	pub := ed25519.PublicKey(info.ReceiptKeys[0].PublicKey)
	if !pub.Equal(f.signer.PublicKey()) || info.ReceiptKeys[0].KeyID != receipt.KeyID(pub) {
		t.Fatalf("GET /v1/info publishes key %x id %s, the signer is %x", []byte(pub), info.ReceiptKeys[0].KeyID, []byte(f.signer.PublicKey()))
	}
	if info.BatchIntervalSeconds != interval.Seconds() || info.MaxBatchSize != maxBatch {
		t.Fatalf("info interval %v size %d", info.BatchIntervalSeconds, info.MaxBatchSize)
	}
	wantInterval := time.Duration(info.BatchIntervalSeconds * float64(time.Second))

	list := fps(t, 5)
	sent := append([]string{}, list...)
	sent[3] = "sha256:" + list[3] // the prefix is accepted and answered in bare form
	before := time.Now()
	resp := f.submit(keyA, sent...)
	after := time.Now()

	for i, r := range resp.Receipts {
		if r.Fingerprint.String() != list[i] {
			t.Fatalf("receipt %d is for %s, want %s (order must follow the request)", i, r.Fingerprint, list[i])
		}
		if r.Institution != instA || r.Version != receipt.Version || r.KeyID != receipt.KeyID(pub) || r.TreeSize != uint64(len(list)) || r.TreeIndex != uint64(i) {
			t.Fatalf("receipt %d: %+v", i, r)
		}
		if r.ReceivedAt.Before(before) || r.ReceivedAt.After(after) {
			t.Fatalf("receipt %d received_at %v outside the request [%v, %v]", i, r.ReceivedAt, before, after)
		}
		if !r.ReceivedAt.Equal(resp.Receipts[0].ReceivedAt) {
			t.Fatalf("receipt %d received_at %v differs from receipt 0's %v in one request", i, r.ReceivedAt, resp.Receipts[0].ReceivedAt)
		}
		if d := r.Deadline.Sub(r.ReceivedAt); d != wantInterval+batch.DefaultAnchorWithin {
			t.Fatalf("receipt %d: deadline - received = %v, want batch interval %v + anchoring allowance %v", i, d, wantInterval, batch.DefaultAnchorWithin)
		}
		rc := toReceipt(t, r)
		if err := receipt.Verify(rc, pub); err != nil {
			t.Fatalf("receipt %d does not verify: %v", i, err)
		}
		// A receipt whose facts are changed does not verify.
		forged := rc
		forged.Deadline = forged.Deadline.Add(time.Hour)
		if receipt.Verify(forged, pub) == nil {
			t.Fatal("a receipt with a moved deadline verifies")
		}
		forged = rc
		forged.Institution = instB
		if receipt.Verify(forged, pub) == nil {
			t.Fatal("a receipt with another institution verifies")
		}
		// The store holds it as received, pending.
		e, err := f.st.Entry(ctx, mustFP(t, list[i]))
		if err != nil || !e.ReceivedAt.Equal(r.ReceivedAt) || e.Institution != instA || !e.Pending() {
			t.Fatalf("stored entry %+v, %v", e, err)
		}
	}
	if n, _, _ := f.st.PendingStats(ctx); n != len(list) {
		t.Fatalf("%d pending, want %d", n, len(list))
	}
	if got := testutil.ToFloat64(f.m.Received.WithLabelValues("new")); got != 5 {
		t.Fatalf("received{new} = %v, want 5", got)
	}
}

// toReceipt reads an API receipt as a holder does: through its JSON.
func toReceipt(t *testing.T, r api.Receipt) receipt.Receipt {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out receipt.Receipt
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("receipt %s: %v", data, err)
	}
	return out
}

func TestSubmitIdempotent(t *testing.T) {
	clk := newClock()
	f := newFixture(t, server.Config{Now: clk.Now})
	ctx := context.Background()
	pub := ed25519.PublicKey(f.info().ReceiptKeys[0].PublicKey)
	list := fps(t, 3)
	received := func(result string) float64 { return testutil.ToFloat64(f.m.Received.WithLabelValues(result)) }
	pending := func() int {
		n, _, err := f.st.PendingStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := f.submit(keyA, list...)
	if pending() != 3 || received("new") != 3 || received("duplicate") != 0 {
		t.Fatalf("after the first submission: pending %d, new %v, duplicate %v", pending(), received("new"), received("duplicate"))
	}

	cases := []struct {
		name    string
		key     string
		inst    string
		list    []string
		newN    float64 // cumulative received{new} after the step
		dupN    float64 // cumulative received{duplicate}
		pending int
	}{
		{"same institution again", keyA, instA, list, 3, 3, 3},
		{"same institution, prefixed", keyA, instA, []string{"sha256:" + list[0]}, 3, 4, 3},
		{"other institution", keyB, instB, list, 3, 7, 3},
		{"other institution, one new", keyB, instB, []string{list[1], fp(t, "b-only")}, 4, 8, 4},
		// A fingerprint listed twice in one request is stored once; the
		// second listing is a duplicate.
		{"new fingerprint listed twice", keyA, instA, []string{fp(t, "twice"), fp(t, "twice")}, 5, 9, 5},
	}
	// Each institution's first receipt of each fingerprint.
	firsts := map[string]map[string]api.Receipt{instA: {}, instB: {}}
	for _, r := range first.Receipts {
		firsts[instA][r.Fingerprint.String()] = r
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk.Advance(time.Second) // every step at a time of its own
			resp := f.submit(c.key, c.list...)
			for i, r := range resp.Receipts {
				if r.Institution != c.inst {
					t.Fatalf("receipt %d names %q, want the submitter %q", i, r.Institution, c.inst)
				}
				if err := receipt.Verify(toReceipt(t, r), pub); err != nil {
					t.Fatalf("receipt %d: %v", i, err)
				}
				fpText := r.Fingerprint.String()
				orig, seen := firsts[c.inst][fpText]
				if !seen {
					// The institution's first submission: its own time, now.
					if !r.ReceivedAt.Equal(clk.Now()) {
						t.Fatalf("receipt %d: %s's first submission received %v, want now (%v)", i, c.inst, r.ReceivedAt, clk.Now())
					}
					firsts[c.inst][fpText] = r
					continue
				}
				if !r.ReceivedAt.Equal(orig.ReceivedAt) || !r.Deadline.Equal(orig.Deadline) {
					t.Fatalf("receipt %d: received %v deadline %v, want %s's original %v %v",
						i, r.ReceivedAt, r.Deadline, c.inst, orig.ReceivedAt, orig.Deadline)
				}
				for _, orig := range first.Receipts {
					if orig.Fingerprint != r.Fingerprint {
						continue
					}
					// The same statement, by the same key (under a new salt).
					if c.inst == instA && slices.Equal(c.list, list) && (r.Facts() != orig.Facts() || r.KeyID != orig.KeyID) {
						t.Fatalf("receipt %d: resubmitting the same request gave\n%+v\nnot the same statement\n%+v", i, r, orig)
					}
				}
			}
			if len(c.list) == 2 && c.list[0] == c.list[1] {
				a, b := resp.Receipts[0], resp.Receipts[1]
				if toReceipt(t, a).Facts() != toReceipt(t, b).Facts() || !bytes.Equal(a.Signature, b.Signature) {
					t.Fatalf("a fingerprint listed twice got different receipts: %+v %+v", a, b)
				}
			}
			if got := pending(); got != c.pending {
				t.Fatalf("pending %d, want %d", got, c.pending)
			}
			if received("new") != c.newN || received("duplicate") != c.dupN {
				t.Fatalf("received new %v duplicate %v, want %v %v", received("new"), received("duplicate"), c.newN, c.dupN)
			}
		})
	}
	// The store keeps the first submitter, whoever re-submits.
	if e, err := f.st.Entry(ctx, mustFP(t, list[0])); err != nil || e.Institution != instA {
		t.Fatalf("entry %+v %v, want the first submitter %s", e, err, instA)
	}
	// A re-submission after sealing is idempotent too: no new pending entry,
	// same received_at (the submitter's own).
	f.seal()
	clk.Advance(time.Second)
	again := f.submit(keyB, list[2])
	if want := firsts[instB][list[2]].ReceivedAt; !again.Receipts[0].ReceivedAt.Equal(want) || pending() != 0 {
		t.Fatalf("after sealing: received %v (want %s's first %v), pending %d", again.Receipts[0].ReceivedAt, instB, want, pending())
	}
	if st, _ := f.status(list[2]); st.Status != "sealed" {
		t.Fatalf("a re-submitted sealed fingerprint is %s, want still sealed", st.Status)
	}
}

// TestSubmitMaxFingerprints: exactly the maximum is accepted, within the
// default body limit, with one receipt each.
func TestSubmitMaxFingerprints(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 receipts")
	}
	f := newFixture(t, server.Config{})
	list := make([]string, api.MaxFingerprintsPerRequest)
	for i := range list {
		list[i] = fp(t, fmt.Sprint(i))
	}
	resp := f.submit(keyA, list...)
	for i, r := range resp.Receipts {
		if r.Fingerprint.String() != list[i] {
			t.Fatalf("receipt %d for %s, want %s", i, r.Fingerprint, list[i])
		}
	}
	if n, _, _ := f.st.PendingStats(context.Background()); n != len(list) {
		t.Fatalf("%d pending, want %d", n, len(list))
	}
}

// pokeRecorder is a sealer whose Poke calls are recorded: the argument
// of each is what the submit path believed was pending.
type pokeRecorder struct {
	*batch.Sealer
	mu    sync.Mutex
	pokes []int
}

func (r *pokeRecorder) Poke(pending int) {
	r.mu.Lock()
	r.pokes = append(r.pokes, pending)
	r.mu.Unlock()
	r.Sealer.Poke(pending)
}

// take returns the pokes recorded since the last take.
func (r *pokeRecorder) take() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pokes
	r.pokes = nil
	return p
}

// TestSubmitPokesSealer: a submission that fills a batch wakes the running
// sealer long before its interval; after the seal, submissions do not
// tell it a full batch is waiting.
func TestSubmitPokesSealer(t *testing.T) {
	f := newFixture(t, server.Config{})
	rec := &pokeRecorder{Sealer: f.sealer}
	f.srv.Sealer = rec // before the first request
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.sealer.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	list := fps(t, maxBatch)
	f.submit(keyA, list[:maxBatch-1]...)
	f.submit(keyA, list[maxBatch-1])
	deadline := time.Now().Add(20 * time.Second) // the interval is 90s
	for {
		st, _ := f.status(list[0])
		if st.Status == "sealed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a full batch was not sealed before the interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := f.batch(1)
	if b.Size != maxBatch {
		t.Fatalf("batch 1 has %d fingerprints, want %d", b.Size, maxBatch)
	}
	if p := rec.take(); !slices.Contains(p, maxBatch) {
		t.Fatalf("the submissions poked the sealer with %v, never with the full batch's %d", p, maxBatch)
	}

	// The count the sealer is poked with is the store's right after each
	// submission: after the seal, the next few fingerprints must not poke
	// the sealer into sealing them as a batch of their own. Each
	// submission pokes before its 202, so once they are answered every
	// poke that could wake the sealer has happened.
	more := fps(t, maxBatch+3)[maxBatch:]
	for _, fp := range more {
		f.submit(keyA, fp)
	}
	for _, p := range rec.take() {
		if p >= maxBatch {
			t.Fatalf("after the seal a submission poked the sealer with %d pending (a full batch is %d); %d are", p, maxBatch, len(more))
		}
	}
	if n, _, err := f.st.PendingStats(context.Background()); err != nil || n != len(more) {
		t.Fatalf("%d pending (%v), want the %d submitted after the seal", n, err, len(more))
	}
	if _, err := f.st.Batch(context.Background(), 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("batch 2: %v, want none before the interval", err)
	}
}
