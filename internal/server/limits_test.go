package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/server"
	"github.com/attestd/attestd/internal/store"
)

// rawSubmit posts fingerprints with key through client and returns the response.
func rawSubmit(t *testing.T, client *http.Client, url, key string, list ...string) *http.Response {
	t.Helper()
	body := `{"fingerprints":[`
	for i, s := range list {
		if i > 0 {
			body += ","
		}
		body += strconv.Quote(s)
	}
	body += "]}"
	req, err := http.NewRequest(http.MethodPost, url+"/v1/fingerprints", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (f *fixture) requireUnknown(s string) {
	f.t.Helper()
	fp, _ := fingerprint.Parse(s)
	if _, err := f.st.Entry(context.Background(), fp); !errors.Is(err, store.ErrNotFound) {
		f.t.Fatalf("a refused submission stored %s (%v)", s, err)
	}
}

func TestRateLimitPerInstitution(t *testing.T) {
	f := newFixture(t, server.Config{RatePerSecond: 0.5, RateBurst: 2})
	list := fps(t, 4)
	f.submit(keyA, list[0])
	f.submit(keyA, list[1])
	resp := rawSubmit(t, f.ts.Client(), f.ts.URL, keyA, list[2])
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("third submission in the burst: %d %s, want 429 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q, want 1–2 seconds at 0.5/s", resp.Header.Get("Retry-After"))
	}
	f.requireUnknown(list[2])
	// Another institution has its own bucket.
	f.submit(keyB, list[3])
}

// TestPendingBound: past MaxPending a submission with a new fingerprint
// is refused with 503 and Retry-After and records nothing; one without is
// accepted; a seal makes room.
func TestPendingBound(t *testing.T) {
	f := newFixture(t, server.Config{MaxPending: 5})
	list := fps(t, 7)
	f.submit(keyA, list[:5]...)
	resp := rawSubmit(t, f.ts.Client(), f.ts.URL, keyA, list[5])
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the pending bound: %d Retry-After=%q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	f.requireUnknown(list[5])
	// Re-submissions of known fingerprints are never refused by the bound,
	// by their submitter or by another institution.
	f.submit(keyA, list[:5]...)
	f.submit(keyB, list[0])
	if resp := rawSubmit(t, f.ts.Client(), f.ts.URL, keyB, list[1], list[6]); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a known and a new fingerprint past the bound: %d, want 503", resp.StatusCode)
	}
	f.requireUnknown(list[6])
	if _, err := f.sealer.SealOne(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.submit(keyA, list[5:]...) // room again once sealed
}

// TestMTLSInstitution: a client certificate from the configured CA
// authenticates its CommonName as the institution; a certificate from
// another CA is refused in the handshake; no certificate and no key is 401.
func TestMTLSInstitution(t *testing.T) {
	f := newFixture(t, server.Config{})
	ca, caKey := newCA(t, "attestd institutions CA")
	otherCA, otherKey := newCA(t, "someone else")
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	ts := httptest.NewUnstartedServer(f.srv.Handler())
	ts.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	ts.StartTLS()
	t.Cleanup(ts.Close)

	client := func(cert *tls.Certificate) *http.Client {
		c := ts.Client()
		tr := c.Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: tr}
	}
	list := fps(t, 3)

	good := clientCert(t, ca, caKey, instA)
	resp := rawSubmit(t, client(&good), ts.URL, "", list[0])
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("client certificate: %d, want 202", resp.StatusCode)
	}
	fp0, _ := fingerprint.Parse(list[0])
	if e, err := f.st.Entry(context.Background(), fp0); err != nil || e.Institution != instA {
		t.Fatalf("entry %+v (%v), want institution %s from the certificate", e, err, instA)
	}

	if resp := rawSubmit(t, client(nil), ts.URL, "", list[1]); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no certificate and no key: %d, want 401", resp.StatusCode)
	}
	// A certificate from another CA, sent even though the server did not ask
	// for that CA, must fail the handshake.
	bad := clientCert(t, otherCA, otherKey, instA)
	forced := client(nil)
	forced.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &bad, nil
	}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/fingerprints", bytes.NewBufferString(`{"fingerprints":["`+list[2]+`"]}`))
	if resp, err := forced.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate from another CA got %d, want a handshake failure", resp.StatusCode)
	}
	f.requireUnknown(list[2])
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func clientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestHTTPServerTimeouts: the server sets all four timeouts, and a client
// that trickles its headers (slowloris) is cut off.
func TestHTTPServerTimeouts(t *testing.T) {
	f := newFixture(t, server.Config{HeaderTimeout: 200 * time.Millisecond})
	hs := f.srv.HTTPServer("127.0.0.1:0")
	if hs.ReadHeaderTimeout != 200*time.Millisecond || hs.ReadTimeout == 0 || hs.WriteTimeout == 0 || hs.IdleTimeout == 0 {
		t.Fatalf("timeouts: header %v read %v write %v idle %v", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil { // never finishes the headers
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	if err != nil {
		t.Fatalf("the server did not close a slow client's connection: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %v, want about the 200ms header timeout", d)
	}
}
