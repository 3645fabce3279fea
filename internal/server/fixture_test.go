package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/metrics"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/bolt"
)

// Two institutions. Their names contain upper case and dashes, so they
// can never occur by accident inside hex, base64 of hashes or addresses:
// finding one in a public body is a leak.
const (
	instA = "Saint-Elsewhere-Clinic"
	instB = "Mercy-General-Lab"
	keyA  = "kA-7c1e0d5a9b3f2468aa"
	keyB  = "kB-1f2e3d4c5b6a7980bb"

	testVersion   = "v9.9.9-test"
	confirmations = 2
	interval      = 90 * time.Second
	maxBatch      = 100
	chainID       = 1337
)

var keysFile = "# institutions allowed to submit\n\n" + instA + " " + keyA + "\n" + instB + " " + keyB + "\n"

// fixture is the service as internal/app assembles it (app.New, never
// run: tests seal and step by hand), from real parts: bolt store, sealer,
// anchorer on a simulated chain, receipt signer, metrics, and the server
// behind a real HTTP listener on 127.0.0.1.
type fixture struct {
	t        testing.TB
	key      *ecdsa.PrivateKey // the anchoring account, funded at genesis
	sim      *simulated.Backend
	svc      *app.Service
	st       *bolt.Store
	m        *metrics.Metrics
	sealer   *batch.Sealer
	anc      *anchor.Anchorer
	signer   *receipt.Signer
	rkFile   string // the receipt keyring file
	srv      *server.Server
	ts       *httptest.Server
	client   *api.ClientWithResponses // sends no credentials
	notReady atomic.Pointer[[]string]
	degraded atomic.Pointer[[]string]
}

func newFixture(t testing.TB, cfg server.Config) *fixture {
	t.Helper()
	dir := t.TempDir()

	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	sim := simulated.NewBackend(types.GenesisAlloc{from: {Balance: new(big.Int).Lsh(big.NewInt(1), 100)}})
	t.Cleanup(func() { sim.Close() })

	st, err := bolt.Open(bolt.Config{Path: filepath.Join(dir, "attestd.db"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	keysPath := filepath.Join(dir, "api-keys")
	if err := os.WriteFile(keysPath, []byte(keysFile), 0o600); err != nil {
		t.Fatal(err)
	}
	receiptKey := filepath.Join(dir, "receipt-key.pem")
	f := &fixture{t: t, key: key, sim: sim, st: st, rkFile: receiptKey}
	cfg.Version = testVersion
	// A zero limit is unlimited to the server, as these tests expect;
	// app.New would take the service's defaults for it.
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = -1
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = -1
	}
	f.svc, err = app.New(context.Background(), app.Config{
		DataDir: dir, Listen: "127.0.0.1:0",
		OpenStore:   func(context.Context) (store.Store, error) { return st, nil },
		APIKeysFile: keysPath, ReceiptKeyFile: receiptKey,
		Chains: []app.ChainConfig{{
			Client: sim.Client(),
			Anchor: anchor.Config{Key: key, Confirmations: confirmations, RebroadcastAfter: time.Hour},
		}},
		Batch: batch.Config{Interval: interval, MaxSize: maxBatch},
		HTTP:  cfg,
		Log:   slog.New(slog.DiscardHandler),
		Ready: func(context.Context) (notReady, degraded []string) {
			if r := f.notReady.Load(); r != nil {
				notReady = *r
			}
			if r := f.degraded.Load(); r != nil {
				degraded = *r
			}
			return notReady, degraded
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.svc.Close() })
	f.m, f.sealer, f.srv, f.anc = f.svc.Metrics(), f.svc.Sealer(), f.svc.Server(), f.svc.Anchorer(chainID)
	rk, err := receipt.LoadKeyring(receiptKey) // the keys app.New created
	if err != nil {
		t.Fatal(err)
	}
	f.signer = receipt.NewKeyringSigner(rk)

	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	// Every response the tests get through f.ts.Client() (the generated
	// client and f.do) is checked against api/openapi.yaml.
	hc := f.ts.Client()
	hc.Transport = specTransport{t: t, next: hc.Transport}
	if !strings.HasPrefix(f.ts.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", f.ts.URL)
	}
	f.client, err = api.NewClientWithResponses(f.ts.URL, api.WithHTTPClient(f.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func bearer(key string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}
}

// fp returns a fingerprint (bare hex) unique to the test and s.
func fp(t testing.TB, s string) string {
	return fingerprint.Sum([]byte(t.Name() + "/" + s)).String()
}

func fps(t testing.TB, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fp(t, strings.Repeat("x", i))
	}
	return out
}

// submit posts fingerprints with the generated client and requires a 202.
func (f *fixture) submit(key string, list ...string) *api.SubmitResponse {
	f.t.Helper()
	resp, err := f.client.SubmitFingerprintsWithResponse(context.Background(), api.SubmitRequest{Fingerprints: list}, bearer(key))
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil {
		f.t.Fatalf("submit: %d %s", resp.StatusCode(), resp.Body)
	}
	if len(resp.JSON202.Receipts) != len(list) {
		f.t.Fatalf("%d receipts for %d fingerprints", len(resp.JSON202.Receipts), len(list))
	}
	return resp.JSON202
}

// status is GET /v1/fingerprints/{fp} with the generated client; it
// requires a 200 and returns the body too (for privacy checks).
func (f *fixture) status(fp string) (*api.FingerprintStatus, []byte) {
	f.t.Helper()
	resp, err := f.client.GetFingerprintWithResponse(context.Background(), fp)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		f.t.Fatalf("GET fingerprint %s: %d %s", fp, resp.StatusCode(), resp.Body)
	}
	return resp.JSON200, resp.Body
}

func (f *fixture) batch(id int64) (*api.Batch, []byte) {
	f.t.Helper()
	resp, err := f.client.GetBatchWithResponse(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		f.t.Fatalf("GET batch %d: %d %s", id, resp.StatusCode(), resp.Body)
	}
	return resp.JSON200, resp.Body
}

func (f *fixture) info() *api.Info {
	f.t.Helper()
	resp, err := f.client.GetInfoWithResponse(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		f.t.Fatalf("GET info: %d %s", resp.StatusCode(), resp.Body)
	}
	return resp.JSON200
}

func (f *fixture) verify(req api.VerifyRequest) (*api.VerifyResult, []byte) {
	f.t.Helper()
	resp, err := f.client.VerifyProofWithResponse(context.Background(), req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		f.t.Fatalf("POST verify: %d %s", resp.StatusCode(), resp.Body)
	}
	return resp.JSON200, resp.Body
}

// step runs one anchoring step; commit mines a block.
func (f *fixture) step() {
	f.t.Helper()
	if err := f.anc.Step(context.Background()); err != nil {
		f.t.Fatalf("anchor step: %v", err)
	}
}

func (f *fixture) commit() { f.sim.Commit() }

// seal seals everything pending and returns the batches.
func (f *fixture) seal() []store.Batch {
	f.t.Helper()
	bs, err := f.sealer.SealAll(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return bs
}

// confirm anchors everything sealed through to confirmed.
func (f *fixture) confirm() {
	f.t.Helper()
	f.step()
	for range confirmations {
		f.commit()
		f.step()
	}
}

// do sends a raw request and returns the response with its body read.
func (f *fixture) do(method, path string, hdr http.Header, body io.Reader) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, data
}

// checkProblem asserts an RFC 9457 problem response: the status, the media
// type, and a body with type, title, status (equal to the HTTP status),
// detail and instance. It returns the detail.
func checkProblem(t *testing.T, resp *http.Response, body []byte, status int, path string) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", resp.Header.Get("Content-Type"))
	}
	var p map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, body)
	}
	for _, k := range []string{"type", "title", "detail"} {
		if s, ok := p[k].(string); !ok || s == "" {
			t.Fatalf("problem %q is %v, want a non-empty string; body %s", k, p[k], body)
		}
	}
	if p["type"] != "about:blank" {
		t.Errorf("problem type %v, want about:blank", p["type"])
	}
	if got, ok := p["status"].(float64); !ok || int(got) != status {
		t.Fatalf("problem status %v, want %d", p["status"], status)
	}
	if path != "" && p["instance"] != path {
		t.Errorf("problem instance %v, want %s", p["instance"], path)
	}
	// The typed view the generated client uses must accept it too.
	var typed api.Problem
	if err := json.Unmarshal(body, &typed); err != nil || typed.Detail == nil {
		t.Fatalf("problem does not decode as api.Problem: %v", err)
	}
	return *typed.Detail
}

// toBundle reads a served bundle as a holder does: its JSON, with the
// strict parser (proof.Parse) of a .attest file.
func toBundle(t *testing.T, b *api.ProofBundle) *proof.Bundle {
	t.Helper()
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := proof.Parse(raw)
	if err != nil {
		t.Fatalf("the served bundle does not parse: %v\n%s", err, raw)
	}
	return pb
}

func mustFP(t *testing.T, s string) fingerprint.Fingerprint {
	t.Helper()
	f, err := fingerprint.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// noInstitution fails if body names either institution, in any case.
func noInstitution(t *testing.T, what string, body []byte) {
	t.Helper()
	low := strings.ToLower(string(body))
	for _, inst := range []string{instA, instB} {
		if strings.Contains(low, strings.ToLower(inst)) {
			t.Errorf("%s reveals institution %q: %s", what, inst, body)
		}
	}
}

// clock is a settable clock for server.Config.Now: it stands still until
// advanced.
type clock struct{ ns atomic.Int64 }

// newClock starts at the present (so that the sealer, on the real clock,
// finds deadlines in the future), with a nanosecond part.
func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().Truncate(time.Second).Add(123456789).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
