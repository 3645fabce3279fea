package app

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/apikeys"
)

// The credentials of the chain endpoint used below: in the user info, the
// path and the query, as RPC providers take them.
const (
	userSecret  = "USERPW9"
	pathSecret  = "PATHKEY9"
	querySecret = "QUERYKEY9"
)

// downEndpoint returns a credential-bearing chain URL on a loopback port
// nothing listens on, and its redacted form.
func downEndpoint(t *testing.T) (rpc, redacted string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://user:" + userSecret + "@" + addr + "/v3/" + pathSecret + "?apikey=" + querySecret, "http://" + addr + "/…"
}

func assertNoEndpointSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range []string{userSecret, pathSecret, querySecret, "user:"} {
		if strings.Contains(text, s) {
			t.Errorf("%s shows %q:\n%s", where, s, text)
		}
	}
}

// signalHandler closes seen at the first record with message msg.
type signalHandler struct {
	slog.Handler
	msg  string
	once *sync.Once
	seen chan struct{}
}

func (h signalHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return err
}

func (h signalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h signalHandler) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	return h
}

// TestEndpointCredentialsNeverShown runs the service against a chain
// endpoint that is down and whose URL carries credentials in its user
// info, path and query, and looks for them in the anchorer's warnings,
// the POST /v1/verify answer (which reads that endpoint), /readyz and
// /metrics, and in the error Run fails with when it cannot start.
func TestEndpointCredentialsNeverShown(t *testing.T) {
	dir := t.TempDir()
	rpc, redacted := downEndpoint(t)
	keyFile := filepath.Join(dir, "chain-key")
	key, _ := crypto.GenerateKey()
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(crypto.FromECDSA(key))), 0o600); err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(dir, "api-keys")
	if _, _, err := apikeys.Add(keysFile, "hospital-a", ""); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		Chains:      []ChainConfig{{RPC: rpc, KeyFile: keyFile, Anchor: anchor.Config{PollInterval: 20 * time.Millisecond}}},
		APIKeysFile: keysFile,
	}

	t.Run("start-up error", func(t *testing.T) {
		// Without --chain-id the service asks the endpoint, and stops.
		c := cfg
		c.DataDir = filepath.Join(dir, "data-fatal")
		c.Log = slog.New(slog.DiscardHandler)
		_, err := New(context.Background(), c)
		if err == nil {
			t.Fatal("New started with the chain endpoint down")
		}
		assertNoEndpointSecret(t, "New's error", err.Error())
		if !strings.Contains(err.Error(), redacted) {
			t.Errorf("New's error does not name the endpoint as %s: %v", redacted, err)
		}
	})

	t.Run("serving", func(t *testing.T) {
		var logs syncBuffer
		warned := make(chan struct{})
		c := cfg
		c.Chains = slices.Clone(cfg.Chains)
		c.Chains[0].Anchor.ChainID = 1337 // start while the endpoint is down
		c.Log = slog.New(signalHandler{
			Handler: slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
			msg:     "anchoring step failed; will retry", once: new(sync.Once), seen: warned,
		})
		ctx, cancel := context.WithCancel(context.Background())
		base, done := start(t, ctx, c)
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}
		}
		defer stop()

		select {
		case <-warned:
		case <-time.After(30 * time.Second):
			t.Fatalf("the anchorer did not warn about the endpoint:\n%s", logs.String())
		}

		// A well-formed bundle anchored on the chain: only whether the
		// endpoint's failure is shown matters here.
		h := strings.Repeat("ab", 32)
		body, _ := json.Marshal(map[string]any{"bundle": map[string]any{
			"version": 1, "fingerprint": h, "batch_id": 1, "index": 0, "size": 2,
			"root": h, "path": []string{h},
			"anchors": []any{map[string]any{
				"chain_id": 1337, "tx_hash": "0x" + h, "block_number": 1, "block_hash": "0x" + h,
				"anchorer": crypto.PubkeyToAddress(key.PublicKey).Hex(),
			}},
		}})
		resp, err := http.Post(base+"/v1/verify", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		verifyBody, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// 200 with the check failed, or 503 "could not check": either way
		// the endpoint was consulted and failed, and its URL is not shown.
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("POST /v1/verify: %d %s", resp.StatusCode, verifyBody)
		}
		if strings.Contains(string(verifyBody), `"valid":true`) {
			t.Fatalf("POST /v1/verify: valid with the endpoint down: %s", verifyBody)
		}
		assertNoEndpointSecret(t, "the POST /v1/verify response", string(verifyBody))
		if strings.Contains(string(verifyBody), "127.0.0.1") && !strings.Contains(string(verifyBody), redacted) {
			t.Errorf("the POST /v1/verify response names the endpoint otherwise than %s: %s", redacted, verifyBody)
		}

		var shown []string
		for _, path := range []string{"/readyz", "/metrics", "/v1/info"} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			shown = append(shown, string(b))
		}
		assertNoEndpointSecret(t, "/readyz, /metrics or /v1/info", strings.Join(shown, "\n"))

		stop()
		out := logs.String()
		assertNoEndpointSecret(t, "the log", out)
		var warn map[string]any
		for line := range strings.Lines(out) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "anchoring step failed; will retry" {
				warn = rec
				break
			}
		}
		if e, _ := warn["err"].(string); !strings.Contains(e, redacted) {
			t.Errorf("the anchorer's warning does not name the endpoint as %s: %v", redacted, warn)
		}
	})
}
