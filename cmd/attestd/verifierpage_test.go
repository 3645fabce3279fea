package main

import (
	"bytes"
	"testing"

	"github.com/attestd/attestd/internal/web"
)

// TestVerifierPageCmd: attestd verifier-page prints the embedded page,
// byte for byte (what / serves).
func TestVerifierPageCmd(t *testing.T) {
	cmd := newVerifierPageCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), web.Page()) {
		t.Fatalf("verifier-page printed %d bytes, the page has %d", out.Len(), len(web.Page()))
	}
}
