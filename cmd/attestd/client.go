package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/attestd/attestd/client"
)

const (
	defaultServer = "http://127.0.0.1:8080"
	defaultRPC    = "http://127.0.0.1:8545"
)

// newClient returns the client of server (package client: strict JSON,
// receipts and proofs checked), with the bearer key when one is set and
// the client certificate and CA of the command's TLS flags when ctx
// carries them (withServerTLS).
func newClient(ctx context.Context, server, apiKey string) (*client.Client, error) {
	if err := needScheme("the server URL (--server, ATTESTD_SERVER)", server, true); err != nil {
		return nil, err
	}
	var opts []client.Option
	if apiKey != "" {
		opts = append(opts, client.WithAPIKey(apiKey))
	}
	if tc, ok := ctx.Value(serverTLSKey{}).(*tls.Config); ok {
		opts = append(opts, client.WithTLSConfig(tc))
	}
	return client.New(server, opts...)
}

// needScheme refuses an endpoint URL without a scheme ("127.0.0.1:8080"),
// which would otherwise fail later with a cryptic error (or, for
// JSON-RPC, be taken for an IPC socket path), and says what was probably
// meant. A plain host:port (or, with bareHost, a host name alone) is
// echoed in the hint; anything else (a path, something that may hold a
// credential) is left to the dialler.
func needScheme(what, raw string, bareHost bool) error {
	if strings.Contains(raw, "://") || raw == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(raw)
	if err != nil {
		if !bareHost || strings.ContainsAny(raw, "/\\@?#: ") {
			return nil // a path (an IPC socket), or not a host at all: leave it to the dialler
		}
		host = raw
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil || strings.ContainsAny(host, "/\\@?#") {
		return nil
	}
	scheme := "https://"
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		scheme = "http://"
	}
	return fmt.Errorf("%s %s has no scheme: did you mean %s%s?", what, raw, scheme, raw)
}
