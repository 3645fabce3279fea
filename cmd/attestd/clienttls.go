package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// The commands that talk to an attestd server (stamp, upgrade, info) can
// authenticate with a client certificate (mTLS: serve --client-ca) and
// trust a private CA for the server's certificate. withServerTLS adds the
// flags to such a command; before it runs, the files are loaded and the
// *tls.Config made of them is put into the command's context, where
// newClient finds it (client.WithTLSConfig). So there is no global state;
// and a failed certificate check the command returns is said in plain
// words, with the flag that fixes it.

// serverTLSKey is the context key of the *tls.Config built from the TLS
// flags.
type serverTLSKey struct{}

// withServerTLS adds --client-cert, --client-key and --ca (env
// ATTESTD_CLIENT_CERT, ATTESTD_CLIENT_KEY, ATTESTD_CA) to cmd and returns it.
func withServerTLS(cmd *cobra.Command) *cobra.Command {
	var cert, key, ca string
	f := cmd.Flags()
	f.StringVar(&cert, "client-cert", os.Getenv("ATTESTD_CLIENT_CERT"), "PEM client certificate for mTLS: the institution is its CommonName, no API key needed (env ATTESTD_CLIENT_CERT)")
	f.StringVar(&key, "client-key", os.Getenv("ATTESTD_CLIENT_KEY"), "the PEM private key of --client-cert (env ATTESTD_CLIENT_KEY)")
	f.StringVar(&ca, "ca", os.Getenv("ATTESTD_CA"), "PEM CA certificate(s) to trust for the server's certificate, instead of the system's (env ATTESTD_CA)")
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if prev != nil {
			if err := prev(cmd, args); err != nil {
				return err
			}
		}
		tc, err := clientTLSConfig(cert, key, ca)
		if err != nil || tc == nil {
			return err
		}
		cmd.SetContext(context.WithValue(cmd.Context(), serverTLSKey{}, tc))
		return nil
	}
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := run(cmd, args); err != nil {
			return tlsHint(err)
		}
		return nil
	}
	return cmd
}

// hasClientCert reports whether cmd authenticates with a client
// certificate (then an API key is not needed).
func hasClientCert(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("client-cert")
	return f != nil && f.Value.String() != ""
}

// clientTLSConfig loads the client certificate and the CA; nil when
// neither is given. Errors name the files, never their content.
func clientTLSConfig(cert, key, ca string) (*tls.Config, error) {
	if cert == "" && key == "" && ca == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cert != "" && key != "":
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--client-cert %s, --client-key %s: %w", cert, key, err)
		}
		tc.Certificates = []tls.Certificate{c}
	case cert != "":
		return nil, errors.New("--client-cert needs --client-key (env ATTESTD_CLIENT_KEY)")
	case key != "":
		return nil, errors.New("--client-key needs --client-cert (env ATTESTD_CLIENT_CERT)")
	}
	if ca != "" {
		pem, err := readSmallFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: %s holds no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// tlsHint adds what to do to a failed TLS handshake.
func tlsHint(err error) error {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown) || errors.As(err, &verify) && !errors.As(err, &host):
		return fmt.Errorf("TLS: the server's certificate is not signed by a CA this client trusts (give the CA that signed it with --ca or ATTESTD_CA): %w", err)
	case errors.As(err, &host):
		return fmt.Errorf("TLS: the server's certificate is not for this host name (check --server): %w", err)
	case strings.Contains(err.Error(), "remote error: tls:"):
		return fmt.Errorf("TLS: the server refused the connection (is --client-cert signed by the CA it trusts?): %w", err)
	}
	return err
}
