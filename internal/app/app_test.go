package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"

	"github.com/attestd/attestd/internal/anchor"
	"github.com/attestd/attestd/internal/apikeys"
	"github.com/attestd/attestd/internal/batch"
	"github.com/attestd/attestd/internal/devchain"
)

func TestLoadHexKey(t *testing.T) {
	dir := t.TempDir()
	key, _ := crypto.GenerateKey()
	hexKey := hex.EncodeToString(crypto.FromECDSA(key))
	for name, content := range map[string]string{"plain": hexKey, "0x and newline": "0x" + hexKey + "\n"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		got, err := LoadHexKey(p)
		if err != nil || !got.Equal(key) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	bad := filepath.Join(dir, "bad")
	secretish := hexKey[:60] + "zz"
	os.WriteFile(bad, []byte(secretish), 0o600)
	if _, err := LoadHexKey(bad); err == nil || strings.Contains(err.Error(), secretish[:20]) {
		t.Fatalf("malformed key: %v (must fail without echoing the content)", err)
	}
}

func TestLoadKeystore(t *testing.T) {
	key, _ := crypto.GenerateKey()
	id, _ := uuid.NewRandom()
	ks := &keystore.Key{Id: id, Address: crypto.PubkeyToAddress(key.PublicKey), PrivateKey: key}
	data, err := keystore.EncryptKey(ks, "correct horse", keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "anchor.json")
	os.WriteFile(p, data, 0o600)
	got, err := LoadKeystore(p, "correct horse")
	if err != nil || !got.Equal(key) {
		t.Fatalf("right password: %v", err)
	}
	if _, err := LoadKeystore(p, "wrong"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v (must fail without echoing it)", err)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNeverShown runs the service against a separate chain with
// the anchoring key in a file, submits and anchors, and looks for the key
// (and the API key) in everything it shows: logs, /v1/info, /metrics,
// error responses.
func TestSecretsNeverShown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev chain")
	}
	dir := t.TempDir()
	chain, err := devchain.Start(devchain.Config{DataDir: filepath.Join(dir, "chain"), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	anchorKey := hex.EncodeToString(crypto.FromECDSA(chain.Key()))
	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	url, done := start(t, ctx, Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		Chains: []ChainConfig{{
			RPC: chain.RPCURL(), KeyFile: filepath.Join(dir, "chain", devchain.KeyFile),
			Anchor: anchor.Config{Confirmations: 1, PollInterval: 50 * time.Millisecond},
		}},
		APIKeysFile: keysFile, Batch: batch.Config{Interval: 100 * time.Millisecond},
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})

	get := func(path string, hdr ...string) string {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if len(hdr) == 2 {
			req.Header.Set(hdr[0], hdr[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post := func(body, key string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/fingerprints", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	fp := strings.Repeat("ab", 32)
	if code, body := post(`{"fingerprints":["`+fp+`"]}`, apiKey); code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", code, body)
	}
	_, wrongKeyBody := post(`{"fingerprints":["`+fp+`"]}`, apiKey+"x")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(get("/v1/fingerprints/"+fp), `"confirmed"`) {
		if time.Now().After(deadline) {
			t.Fatal("not confirmed in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
	shown := strings.Join([]string{get("/v1/info"), get("/metrics"), get("/readyz"), wrongKeyBody}, "\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	shown += logs.String()
	if !strings.Contains(logs.String(), "anchor confirmed") {
		t.Fatalf("the logs do not show the anchoring the test relies on:\n%s", logs.String())
	}
	for name, secret := range map[string]string{"anchoring key": anchorKey, "API key": apiKey} {
		if strings.Contains(strings.ToLower(shown), strings.ToLower(secret)) {
			t.Errorf("the %s appears in logs or responses", name)
		}
	}
}

// TestServeTLS: with --tls-cert/--tls-key the API speaks HTTPS only.
func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev chain")
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	url, done := start(t, ctx, Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Dev: true, Chains: devChain(),
		TLSCert: certFile, TLSKey: keyFile, Log: slog.New(slog.DiscardHandler),
	})
	defer func() { cancel(); <-done }()
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("serving at %s, want https", url)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	resp, err := client.Get(url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + strings.TrimPrefix(url, "https://") + "/healthz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"ok"`) {
			t.Fatal("plain HTTP served the API on the TLS listener")
		}
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attestd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "",
		"http://127.0.0.1:8545":                  "http://127.0.0.1:8545",
		"http://127.0.0.1:8545/":                 "http://127.0.0.1:8545",
		"https://mainnet.infura.io/v3/0123abcd":  "https://mainnet.infura.io/…",
		"https://user:secret@rpc.example":        "https://rpc.example/…",
		"https://rpc.example/?apikey=secret":     "https://rpc.example/…",
		"redis://:hunter2@10.0.0.5:6379/0":       "redis://10.0.0.5:6379/…",
		"redis+sentinel://s1:26379,s2:26379/mym": "redis+sentinel://s1:26379,s2:26379/…",
		"not a url with secret":                  "(not shown)",
		"%zz":                                    "(not shown)",
	} {
		got := RedactURL(in)
		if got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		for _, secret := range []string{"0123abcd", "secret", "hunter2"} {
			if strings.Contains(in, secret) && strings.Contains(got, secret) {
				t.Errorf("RedactURL(%q) = %q shows %q", in, got, secret)
			}
		}
	}
}

// TestRedactingLogger: a credential in an endpoint URL never reaches the
// log, whether it comes in the message, a string, an error, a group or a
// logger's fixed attributes.
func TestRedactingLogger(t *testing.T) {
	const rpc = "https://mainnet.example/v3/s3cr3tkey"
	var buf bytes.Buffer
	log := slog.New(redacting(slog.NewJSONHandler(&buf, nil), rpc, ""))
	err := fmt.Errorf("dial: %w", &url.Error{Op: "Post", URL: rpc, Err: errors.New("connection refused")})
	log.With("endpoint", rpc).Error("cannot reach "+rpc, "err", err, "url", rpc,
		slog.Group("chain", "rpc", rpc, "id", 1), "n", 42)
	out := buf.String()
	if strings.Contains(out, "s3cr3tkey") {
		t.Fatalf("the credential was logged: %s", out)
	}
	for _, want := range []string{`"msg":"cannot reach https://mainnet.example/…"`, `"err":"dial: Post \"https://mainnet.example/…\": connection refused"`, `"chain":{"rpc":"https://mainnet.example/…","id":1}`, `"n":42`, `"endpoint":"https://mainnet.example/…"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	// The endpoint's own echo of its key (no URL around it) is replaced
	// too, from the configured URL.
	buf.Reset()
	log.Warn("anchoring step failed", "err", errors.New(`401 Unauthorized: {"error":"invalid project id s3cr3tkey"}`))
	if out := buf.String(); strings.Contains(out, "s3cr3tkey") || !strings.Contains(out, "[redacted]") {
		t.Errorf("an echoed key was logged: %s", out)
	}
	// Without being told the URL, the logger still reduces every URL it
	// sees by parsing, in the forms an HTTP client prints: the password as
	// ***, a query key, a quoted URL.
	buf.Reset()
	log = slog.New(redacting(slog.NewJSONHandler(&buf, nil)))
	log.Warn("anchoring step failed; will retry", "err",
		errors.New(`asking the endpoint for its chain ID: Post "http://user:***@127.0.0.1:1/v3/PATHKEY?apikey=QUERYKEY": connection refused`),
		"store", "redis://:REDISPW@10.0.0.5:6379/0")
	out = buf.String()
	for _, secret := range []string{"user", "PATHKEY", "QUERYKEY", "REDISPW"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s was logged: %s", secret, out)
		}
	}
	for _, want := range []string{`Post \"http://127.0.0.1:1/…\": connection refused`, `"store":"redis://10.0.0.5:6379/…"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// TestKeysFileUnreadable: when the keys file can no longer be read, the
// service keeps the keys it had (so nobody is locked out), says so in
// /readyz (degraded) and in attestd_api_keys_reload_failing for the alert,
// and recovers once the file is back.
func TestKeysFileUnreadable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev chain")
	}
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "api-keys")
	apiKey, _, err := apikeys.Add(keysFile, "hospital-a", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	url, done := start(t, ctx, Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Dev: true, Chains: devChain(),
		APIKeysFile: keysFile, Log: slog.New(slog.DiscardHandler),
	})
	defer func() { cancel(); <-done }()
	get := func(path string) string {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(what, path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * KeysReloadInterval)
		for !strings.Contains(get(path), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s never showed %q:\n%s", what, path, want, get(path))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("file readable", "/metrics", "\nattestd_api_keys_reload_failing 0\n")

	if err := os.Rename(keysFile, keysFile+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(keysFile, 0o700); err != nil { // unreadable as a file, even for root
		t.Fatal(err)
	}
	waitFor("file unreadable", "/metrics", "\nattestd_api_keys_reload_failing 1\n")
	if body := get("/readyz"); !strings.Contains(body, `"degraded"`) || !strings.Contains(body, "api keys") {
		t.Fatalf("/readyz while the keys file is unreadable: %s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/fingerprints", strings.NewReader(`{"fingerprints":["`+strings.Repeat("cd", 32)+`"]}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a key loaded before was refused (%d) while the file is unreadable", resp.StatusCode)
	}

	os.Remove(keysFile)
	if err := os.Rename(keysFile+".moved", keysFile); err != nil {
		t.Fatal(err)
	}
	waitFor("file back", "/metrics", "\nattestd_api_keys_reload_failing 0\n")
	if body := get("/readyz"); strings.Contains(body, "api keys") {
		t.Fatalf("/readyz still names the keys file: %s", body)
	}
}

// start builds the service with New and runs it with ctx; done receives
// Run's result.
func start(t *testing.T, ctx context.Context, cfg Config) (url string, done <-chan error) {
	t.Helper()
	svc, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ch := make(chan error, 1)
	go func() { ch <- svc.Run(ctx) }()
	return svc.URL(), ch
}

// devChain is the one embedded dev chain, on a free port.
func devChain() []ChainConfig { return []ChainConfig{{Dev: true, DevListen: "127.0.0.1:0"}} }
