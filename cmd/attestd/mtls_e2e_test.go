package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/attestfile"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
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
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a certificate for cn signed by ca and its key, and returns
// their paths: a server certificate for 127.0.0.1, or a client one.
func (ca *testCA) issue(t *testing.T, dir, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMTLSStamp: an institution with a client certificate and no API key
// stamps against serve --dev over HTTPS with --client-ca; its receipt
// names the certificate's CommonName. Without the certificate the server
// answers 401 (and stamp says so before asking); trusting the wrong CA is
// a TLS error that says what to do. No output holds key material.
func TestMTLSStamp(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	other := newTestCA(t, dir, "other-ca")
	srvCert, srvKey := ca.issue(t, dir, "server", true)
	cliCert, cliKey := ca.issue(t, dir, "hopital-saint-louis", false)
	s := serveDev(t, filepath.Join(dir, "data"), "--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", ca.file, "--batch-interval", "300ms")
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("serving %s, want https", s.url)
	}
	doc := filepath.Join(dir, "report.txt")
	writeFile(t, doc, "discharge summary\n")
	var outputs []string
	run := func(env []string, args ...string) (string, int) {
		out, code := runCLI(t, append([]string{"ATTESTD_SERVER=" + s.url}, env...), args...)
		outputs = append(outputs, out)
		return out, code
	}

	// Flags: 202 (stamp checks it) and a receipt naming the CommonName.
	if out, code := run(nil, "stamp", "--client-cert", cliCert, "--client-key", cliKey, "--ca", ca.file, doc); code != 0 {
		t.Fatalf("stamp with a client certificate: exit %d\n%s", code, out)
	}
	f, err := attestfile.Read(attestfile.PathFor(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Receipt == nil || f.Receipt.Institution != "hopital-saint-louis" {
		t.Fatalf("receipt %+v, want one naming hopital-saint-louis", f.Receipt)
	}
	// The environment variables, on info and upgrade too.
	env := []string{"ATTESTD_CLIENT_CERT=" + cliCert, "ATTESTD_CLIENT_KEY=" + cliKey, "ATTESTD_CA=" + ca.file}
	if out, code := run(env, "info"); code != 0 || !strings.Contains(out, "receipt_keys") {
		t.Fatalf("info with ATTESTD_CA: exit %d\n%s", code, out)
	}
	if out, code := run(env, "upgrade", "--wait", "--timeout", "60s", doc); code != 0 {
		t.Fatalf("upgrade with ATTESTD_CA: exit %d\n%s", code, out)
	}

	// No certificate and no key: stamp says so before asking; the server
	// itself answers 401.
	doc2 := filepath.Join(dir, "other.txt")
	writeFile(t, doc2, "another record\n")
	if out, code := run(nil, "stamp", "--ca", ca.file, doc2); code != exitError || !strings.Contains(out, "no API key") || !strings.Contains(out, "--client-cert") {
		t.Fatalf("stamp without a certificate or key: exit %d\n%s", code, out)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Post(s.url+"/v1/fingerprints", "application/json", strings.NewReader(`{"fingerprints":["`+strings.Repeat("ab", 32)+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /v1/fingerprints without a client certificate: %d, want 401", resp.StatusCode)
	}

	// The wrong CA: a TLS error saying what to do.
	out, code := run(nil, "stamp", "--force", "--client-cert", cliCert, "--client-key", cliKey, "--ca", other.file, doc2)
	if code != exitError || !strings.Contains(out, "not signed by a CA this client trusts") || !strings.Contains(out, "--ca") {
		t.Fatalf("stamp trusting another CA: exit %d\n%s", code, out)
	}
	// Half a pair, and a key file that is not one.
	if out, code := run(nil, "info", "--client-cert", cliCert); code != exitError || !strings.Contains(out, "--client-cert needs --client-key") {
		t.Fatalf("info with a certificate and no key: exit %d\n%s", code, out)
	}
	if out, code := run(nil, "info", "--client-cert", cliCert, "--client-key", cliCert, "--ca", ca.file); code != exitError || !strings.Contains(out, "--client-key") {
		t.Fatalf("info with a certificate as its key: exit %d\n%s", code, out)
	}

	keyPEM, err := os.ReadFile(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Split(string(keyPEM), "\n")[1] // a line of the key's base64
	for _, out := range outputs {
		if strings.Contains(out, "BEGIN") || strings.Contains(out, body) {
			t.Fatalf("output shows key material:\n%s", out)
		}
	}
}
