package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemeHint: an endpoint given without a scheme is refused with what
// was probably meant, by the client commands (newClient) and where chain
// endpoints are dialled (verify, checkpoint), before any connection; IPC
// paths and full URLs are left alone, and nothing but a plain host:port
// is echoed.
func TestSchemeHint(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	writeFile(t, keyFile, "atk_not-a-real-key-0123456789\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"info", "--server", "127.0.0.1:8080"}, "has no scheme: did you mean http://127.0.0.1:8080?"},
		{[]string{"upgrade", "--server", "localhost:8080", "x.attest"}, "did you mean http://localhost:8080?"},
		{[]string{"stamp", "--server", "attest.example.org:443", "--api-key-file", keyFile, "x"}, "did you mean https://attest.example.org:443?"},
		{[]string{"info", "--server", "attest.example.org"}, "did you mean https://attest.example.org?"},
		{[]string{"checkpoint", "--rpc", "127.0.0.1:8545"}, "--rpc 127.0.0.1:8545 has no scheme: did you mean http://127.0.0.1:8545?"},
		{[]string{"checkpoint", "--rpc", "http://127.0.0.1:1", "--rpc", "[::1]:8545"}, "did you mean http://[::1]:8545?"},
	} {
		var out bytes.Buffer
		root := newRoot(&out, &out)
		root.SetArgs(tc.args)
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8080", "https://rpc.example/v3/KEY", "/run/geth.ipc", "geth.ipc", "user:secret@rpc.example:8545/KEY", ""} {
		if err := needScheme("--rpc", ok, false); err != nil {
			t.Errorf("needScheme(%q): %v", ok, err)
		}
	}
	if err := needScheme("--server", "user:secret@attest.example:443", true); err != nil {
		t.Errorf("a host with user info: %v (it must not be echoed)", err)
	}
}
