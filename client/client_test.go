package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/client"
	"github.com/attestd/attestd/internal/receipt"
)

// The tests here use the real attestd of TestMain wherever it can show
// what they check, and, for what a real server never does (lying, malformed
// or oversized answers), a fake server that does exactly that one thing.

// liar is a fake attestd: it signs real receipts with its key, publishes
// the keys the test says, and lies as the test says.
type liar struct {
	t       *testing.T
	signer  *receipt.Signer
	mu      sync.Mutex
	publish [][]ed25519.PublicKey // the keys /v1/info gives, one list per call (the last repeats)
	infos   int
	posts   int
	mangle  func(call int, rs []receipt.Receipt) []receipt.Receipt // alters the receipts of POST number call (1-based)
	status  func(call int) int                                     // the status of POST number call (0: 202)
	url     string
}

func newLiar(t *testing.T) (*liar, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l := &liar{t: t, signer: receipt.NewSigner(priv), publish: [][]ed25519.PublicKey{{pub}}}
	ts := httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(ts.Close)
	if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
		t.Fatalf("fake server at %s, want 127.0.0.1", ts.URL)
	}
	l.url = ts.URL
	return l, pub
}

func (l *liar) serve(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/info":
		keys := l.publish[min(l.infos, len(l.publish)-1)]
		l.infos++
		var list []map[string]any
		for _, k := range keys {
			list = append(list, map[string]any{"algorithm": "ed25519", "key_id": receipt.KeyID(k), "public_key": base64.StdEncoding.EncodeToString(k)})
		}
		json.NewEncoder(w).Encode(map[string]any{"version": "fake", "proof_format": 2, "batch_interval_seconds": 1, "max_batch_size": 10, "chains": []any{}, "receipt_keys": list})
	case "/v1/fingerprints":
		l.posts++
		if l.status != nil {
			if code := l.status(l.posts); code != 0 {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(code)
				fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":"the fake says no"}`, http.StatusText(code), code)
				return
			}
		}
		var req struct{ Fingerprints []string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			l.t.Errorf("fake server: %v", err)
		}
		now := time.Now()
		var facts []receipt.Facts
		for _, s := range req.Fingerprints {
			fp, err := client.ParseFingerprint(s)
			if err != nil {
				l.t.Errorf("fake server: %v", err)
			}
			facts = append(facts, receipt.Facts{Fingerprint: fp, Institution: "lab", ReceivedAt: now, Deadline: now.Add(time.Hour)})
		}
		rs, err := l.signer.Sign(facts...)
		if err != nil {
			l.t.Errorf("fake server: %v", err)
		}
		if l.mangle != nil {
			rs = l.mangle(l.posts, rs)
		}
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"receipts": rs})
	default:
		http.NotFound(w, r)
	}
}

func fps(tag string, n int) []client.Fingerprint {
	out := make([]client.Fingerprint, n)
	for i := range out {
		out[i], _ = client.Hash(strings.NewReader(fmt.Sprintf("%s %d", tag, i)))
	}
	return out
}

// TestSubmitChecksReceipts: a receipt is returned only when it is for the
// fingerprint submitted and signed by a key the server publishes for its
// time; anything else is ErrInvalidReceipt. A key published after the
// client fetched the keys (a rotation) is fetched once more, not refused.
func TestSubmitChecksReceipts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		setup  func(l *liar, pub ed25519.PublicKey)
		infos  int // /v1/info calls expected
		reason string
	}{
		{"good", func(*liar, ed25519.PublicKey) {}, 1, ""},
		{"signature", func(l *liar, _ ed25519.PublicKey) {
			l.mangle = func(_ int, rs []receipt.Receipt) []receipt.Receipt { rs[1].Signature[0] ^= 1; return rs }
		}, 1, "invalid receipt"},
		{"institution", func(l *liar, _ ed25519.PublicKey) {
			l.mangle = func(_ int, rs []receipt.Receipt) []receipt.Receipt { rs[0].Institution = "another"; return rs }
		}, 1, "invalid receipt"},
		{"received later", func(l *liar, _ ed25519.PublicKey) {
			l.mangle = func(_ int, rs []receipt.Receipt) []receipt.Receipt {
				rs[2].ReceivedAt = rs[2].ReceivedAt.Add(time.Second)
				return rs
			}
		}, 1, "invalid receipt"},
		{"in another order", func(l *liar, _ ed25519.PublicKey) {
			l.mangle = func(_ int, rs []receipt.Receipt) []receipt.Receipt { rs[2], rs[1] = rs[1], rs[2]; return rs }
		}, 1, "where"},
		{"one twice", func(l *liar, _ ed25519.PublicKey) {
			l.mangle = func(_ int, rs []receipt.Receipt) []receipt.Receipt { rs[2] = rs[1]; return rs }
		}, 1, "where"},
		{"too few", func(l *liar, _ ed25519.PublicKey) {
			l.mangle = func(_ int, rs []receipt.Receipt) []receipt.Receipt { return rs[:2] }
		}, 1, "2 receipts for 3"},
		{"unpublished key", func(l *liar, _ ed25519.PublicKey) {
			other, _, _ := ed25519.GenerateKey(rand.Reader)
			l.publish = [][]ed25519.PublicKey{{other}}
		}, 2, "does not publish"},
		{"published after the first fetch", func(l *liar, pub ed25519.PublicKey) {
			other, _, _ := ed25519.GenerateKey(rand.Reader)
			l.publish = [][]ed25519.PublicKey{{other}, {other, pub}}
		}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, pub := newLiar(t)
			tc.setup(l, pub)
			c, err := client.New(l.url, client.WithAPIKey("k"))
			if err != nil {
				t.Fatal(err)
			}
			in := fps(tc.name, 3)
			rs, err := c.Submit(ctx, in...)
			if tc.reason == "" {
				if err != nil || len(rs) != 3 || rs[2].Fingerprint != in[2] {
					t.Fatalf("Submit: %d receipts, %v", len(rs), err)
				}
			} else if !errors.Is(err, client.ErrInvalidReceipt) || !strings.Contains(err.Error(), tc.reason) || len(rs) != 0 {
				t.Fatalf("Submit: %d receipts, %v; want ErrInvalidReceipt saying %q", len(rs), err, tc.reason)
			}
			if l.infos != tc.infos {
				t.Errorf("/v1/info asked %d times, want %d", l.infos, tc.infos)
			}
		})
	}
}

// TestSubmitChunks: many fingerprints go in requests of the chunk size;
// a request that fails returns the receipts of those before it.
func TestSubmitChunks(t *testing.T) {
	ctx := context.Background()
	l, _ := newLiar(t)
	l.status = func(call int) int {
		if call == 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	c, err := client.New(l.url, client.WithAPIKey("k"), client.WithChunkSize(2))
	if err != nil {
		t.Fatal(err)
	}
	in := fps("chunks", 7)
	rs, err := c.Submit(ctx, in...)
	var pe *client.ProblemError
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusServiceUnavailable || pe.Detail != "the fake says no" || len(rs) != 4 || l.posts != 3 {
		t.Fatalf("Submit: %d receipts, %d requests, %v; want 4 and a 503 at the third", len(rs), l.posts, err)
	}
	for i, r := range rs {
		if r.Fingerprint != in[i] {
			t.Fatalf("receipt %d is for %s, want %s", i, r.Fingerprint, in[i])
		}
	}
	l.status = nil
	files := make([]*client.Attest, 7)
	for i := range files {
		if files[i], err = client.NewAttest(strings.NewReader(fmt.Sprint(i)), client.AttestOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Stamp(ctx, files...); err != nil || l.posts != 7 {
		t.Fatalf("Stamp of 7 in chunks of 2: %v after %d requests in all, want 4 more", err, l.posts)
	}
	for _, f := range files {
		if f.Receipt == nil || f.Receipt.Fingerprint != f.Fingerprint || f.Server != l.url {
			t.Fatalf("a stamped .attest: receipt %+v, server %q", f.Receipt, f.Server)
		}
	}
	for _, n := range []int{0, -1, client.MaxPerRequest + 1} {
		if _, err := client.New(l.url, client.WithChunkSize(n)); err == nil {
			t.Errorf("WithChunkSize(%d) accepted", n)
		}
	}
}

// TestStrictAnswers: an answer with a member twice (encoding/json would
// take the last), in any spelling, or larger than MaxResponseSize, is an
// error naming what is wrong; unknown members are not, so a newer server
// may add some.
func TestStrictAnswers(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	info := `{"version":"v1","proof_format":1,"batch_interval_seconds":60,"max_batch_size":10,"chains":[],` +
		`"receipt_keys":[{"algorithm":"ed25519","key_id":"k1","public_key":"` + key + `"}]`
	for _, tc := range []struct{ name, body, want string }{
		{"fine", info + `}`, ""},
		{"unknown member", info + `,"added_later":true}`, ""},
		{"receipt_keys twice", info + `,"receipt_keys":[]}`, `duplicate member "receipt_keys"`},
		{"RECEIPT_KEYS", info + `,"RECEIPT_KEYS":[]}`, `"receipt_keys" and "RECEIPT_KEYS"`},
		{"key_id twice", strings.Replace(info, `"key_id":"k1"`, `"key_id":"k1","key_id":"k2"`, 1) + `}`, `duplicate member "key_id" at /receipt_keys/0`},
		{"two values", info + `}{}`, "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			c, err := client.New(ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Info(context.Background())
			if tc.want == "" {
				if err != nil || len(got.ReceiptKeys) != 1 {
					t.Fatalf("Info: %v, %+v", err, got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Info: %v; want an error containing %s", err, tc.want)
			}
		})
	}
}

// TestProblemError: a problem+json answer and one from something in front
// of the server (HTML from a proxy) are both a *ProblemError with the
// status, a title and when to ask again.
func TestProblemError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/info" {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>"+strings.Repeat("upstream down ", 40)+"</body></html>")
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"slow down"}`)
	}))
	defer ts.Close()
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(context.Background())
	var pe *client.ProblemError
	if !errors.As(err, &pe) || pe.StatusCode != 502 || pe.Title != "Bad Gateway" || pe.RetryAfter != 7*time.Second ||
		!strings.HasPrefix(pe.Detail, "<html><body>upstream down") || len(pe.Detail) != 200 {
		t.Fatalf("Info through a broken proxy: %#v", err)
	}
	_, err = c.Status(context.Background(), fps("p", 1)[0])
	if !errors.As(err, &pe) || pe.StatusCode != 429 || pe.Title != "Too Many Requests" || pe.Detail != "slow down" ||
		err.Error() != "fetching the proof: 429 Too Many Requests: slow down" || errors.Is(err, client.ErrUnknownFingerprint) {
		t.Fatalf("Status from a busy server: %v", err)
	}
}

// TestRealServerErrors, against the real attestd: a fingerprint it does
// not know is ErrUnknownFingerprint with its 404; a submission without
// credentials is a 401.
func TestRealServerErrors(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(os.Getenv("ATTESTD_SERVER"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := fps("never submitted", 1)[0]
	_, err = c.Status(ctx, unknown)
	var pe *client.ProblemError
	if !errors.Is(err, client.ErrUnknownFingerprint) || !errors.As(err, &pe) || pe.StatusCode != http.StatusNotFound {
		t.Fatalf("Status of an unknown fingerprint: %v", err)
	}
	f := &client.Attest{Fingerprint: unknown}
	if _, err := c.Upgrade(ctx, f, client.UpgradeOptions{Wait: true}); !errors.Is(err, client.ErrUnknownFingerprint) || f.Proof != nil {
		t.Fatalf("Upgrade of an unknown fingerprint: %v", err)
	}
	if _, err := c.Submit(ctx, unknown); !errors.As(err, &pe) || pe.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Submit without credentials: %v", err)
	}
}

// TestResubmit, against the real attestd: a .attest whose receipt this
// server signed is submitted again (the receipt replaced by the new one);
// one whose receipt another server signed is not.
func TestResubmit(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		t.Fatal(err)
	}
	f, err := client.NewAttest(strings.NewReader("TestResubmit"), client.AttestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resubmit(ctx, f); err == nil || !strings.Contains(err.Error(), "holds no receipt") {
		t.Fatalf("Resubmit without a receipt: %v", err)
	}
	if err := c.Stamp(ctx, f); err != nil {
		t.Fatal(err)
	}
	first := *f.Receipt
	if err := c.Resubmit(ctx, f); err != nil || f.Receipt.Fingerprint != f.Fingerprint || !f.Receipt.ReceivedAt.Equal(first.ReceivedAt) {
		t.Fatalf("Resubmit: %v, receipt %+v (first received %s)", err, f.Receipt, first.ReceivedAt)
	}

	l, _ := newLiar(t)
	theirs, err := client.New(l.url, client.WithAPIKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := client.NewAttest(strings.NewReader("TestResubmit 2"), client.AttestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := theirs.Stamp(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := c.Resubmit(ctx, g); !errors.Is(err, client.ErrInvalidReceipt) || !strings.Contains(err.Error(), "not one of this server's") {
		t.Fatalf("Resubmit of another server's receipt: %v", err)
	}
	if _, err := c.Status(ctx, g.Fingerprint); !errors.Is(err, client.ErrUnknownFingerprint) {
		t.Fatalf("another server's receipt was submitted after all: %v", err)
	}
}

// TestNewRefuses: what New and NewVerifier refuse, and the API key never
// shows in a printed Client.
func TestNewRefuses(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://x", "http://", "https:///path", "://x"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := client.New("http://127.0.0.1:1", client.WithTLSConfig(&tls.Config{}), client.WithHTTPClient(http.DefaultClient)); err == nil {
		t.Error("WithTLSConfig and WithHTTPClient accepted together")
	}
	for _, k := range []string{"", "two\nlines"} {
		if _, err := client.New("http://127.0.0.1:1", client.WithAPIKey(k)); err == nil {
			t.Errorf("WithAPIKey(%q) accepted", k)
		}
	}
	const secret = "s3cret-api-key-TestNewRefuses"
	c, err := client.New("http://user:pw@127.0.0.1:1/", client.WithAPIKey(secret))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%+v %#v", c, c); strings.Contains(s, secret) || strings.Contains(s, "pw@") {
		t.Errorf("a printed Client shows a credential: %s", s)
	}

	ctx := context.Background()
	list, err := client.LoadTrustList(os.Getenv("ATTESTD_TRUST"))
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]client.VerifierConfig{
		"no endpoint":                {},
		"trusted blocks online":      {RPC: []string{os.Getenv("ATTESTD_RPC")}, Trusted: map[uint64][]client.TrustedBlock{1: {{}}}},
		"trust list and pins":        {Offline: true, Trust: list, ReceiptKey: make(ed25519.PublicKey, 32)},
		"trust list and any issuer":  {Offline: true, Trust: list, AnyIssuer: true},
		"a receipt key of 31 bytes":  {Offline: true, ReceiptKey: make(ed25519.PublicKey, 31)},
		"an endpoint that is no URL": {RPC: []string{"ftp://127.0.0.1:1"}},
	} {
		if v, err := client.NewVerifier(ctx, cfg); err == nil {
			v.Close()
			t.Errorf("NewVerifier with %s: accepted", name)
		}
	}
}

// TestTrustListInCode: a program outside this module can build a verifier's
// trust list in code (TrustEntry, TrustKey, TrustChain are nameable), write
// it and read it back; a document of the issuer it names verifies VALID
// against it, and against a list naming another anchoring address it does
// not.
func TestTrustListInCode(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := client.New(os.Getenv("ATTESTD_SERVER"), client.WithAPIKey(os.Getenv("ATTESTD_API_KEY")))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(anchorer common.Address) client.TrustEntry {
		e := client.TrustEntry{Name: "Hôpital Saint-Louis", Jurisdiction: "FR", Contact: "https://example.org"}
		for _, k := range info.ReceiptKeys {
			e.ReceiptKeys = append(e.ReceiptKeys, client.TrustKey{PublicKey: k.PublicKey, ValidFrom: *k.ValidFrom})
		}
		for _, ch := range info.Chains {
			e.Chains = append(e.Chains, client.TrustChain{ChainID: uint64(ch.ChainID), Anchorer: anchorer, Sink: common.HexToAddress(ch.Sink)})
		}
		return e
	}
	f, err := client.NewAttest(strings.NewReader("TestTrustListInCode"), client.AttestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stamp(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upgrade(ctx, f, client.UpgradeOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		anchorer common.Address
		want     client.Verdict
	}{
		{common.HexToAddress(info.Chains[0].Anchorer), client.VerdictValid},
		{common.HexToAddress("0x1111111111111111111111111111111111111111"), client.VerdictInvalid},
	} {
		list := &client.TrustList{Version: 1}
		if err := list.Add(entry(tc.anchorer)); err != nil {
			t.Fatal(err)
		}
		data, err := list.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := client.ParseTrustList(data)
		if err != nil {
			t.Fatal(err)
		}
		v, err := client.NewVerifier(ctx, client.VerifierConfig{RPC: []string{os.Getenv("ATTESTD_RPC")}, Trust: back})
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(ctx, strings.NewReader("TestTrustListInCode"), f)
		v.Close()
		if err != nil || res.Verdict != tc.want || tc.want == client.VerdictValid && res.Issuer != "Hôpital Saint-Louis" {
			t.Fatalf("anchorer %s: %v, %+v; want %s", tc.anchorer, err, res, tc.want)
		}
	}
}
