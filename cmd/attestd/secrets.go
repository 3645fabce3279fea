package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// Secrets on a command line are visible to every user of the machine
// (ps, /proc/PID/cmdline). The commands take them from the environment or
// from files instead, and warn when one is passed as a flag anyway.

// maxSecretFile bounds a file holding one secret (a password, a key, an
// endpoint URL): a path to something endless (/dev/zero, a FIFO fed
// forever) is refused instead of read without end.
const maxSecretFile = 64 << 10

// readSmallFile reads a file of at most maxSecretFile bytes.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a secret file", path, maxSecretFile)
	}
	return data, nil
}

// readSecretFile reads a secret from path, without the trailing newline
// that files and Kubernetes Secrets often end in.
func readSecretFile(flag, path string) (string, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Errorf("--%s: %s is empty", flag, path)
	}
	return s, nil
}

// warnCommandLineSecret tells the user, on stderr, that a secret was given
// on the command line and what to use instead. It never prints the secret.
func warnCommandLineSecret(cmd *cobra.Command, what, instead string) {
	fmt.Fprintf(cmd.ErrOrStderr(), "attestd: warning: %s on the command line is visible to other users of this machine (ps); use %s instead\n", what, instead)
}

// apiKeyFrom picks the API key: --api-key (with a warning), then
// --api-key-file / ATTESTD_API_KEY_FILE, then ATTESTD_API_KEY. With none,
// a command with a client certificate (--client-cert) sends no key: the
// certificate names the institution.
func apiKeyFrom(cmd *cobra.Command, flagKey, file string) (string, error) {
	switch {
	case cmd.Flags().Changed("api-key"):
		warnCommandLineSecret(cmd, "--api-key", "ATTESTD_API_KEY or --api-key-file")
		if flagKey == "" {
			return "", errors.New("--api-key is empty")
		}
		return flagKey, nil
	case file != "":
		return readSecretFile("api-key-file", file)
	case os.Getenv("ATTESTD_API_KEY") != "":
		return strings.TrimRight(os.Getenv("ATTESTD_API_KEY"), "\r\n"), nil
	case hasClientCert(cmd):
		return "", nil
	}
	return "", errors.New("no API key: set ATTESTD_API_KEY or pass --api-key-file (or authenticate with a client certificate: --client-cert and --client-key)")
}

// parseMode reads octal permission bits such as 0600.
func parseMode(s string) (os.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 || n&0o600 != 0o600 {
		return 0, fmt.Errorf("--mode: %q is not octal permission bits that let the owner read and write (e.g. 0600, 0640)", s)
	}
	return os.FileMode(n), nil
}

// urlHoldsSecret reports whether an endpoint URL carries what may be a
// credential: user info, a query, or a path (RPC providers put keys there)
// other than a Redis database number.
func urlHoldsSecret(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return raw != "" // unparsable: assume the worst
	}
	path := strings.Trim(u.Path, "/")
	_, notNumber := strconv.Atoi(path)
	return u.User != nil || u.RawQuery != "" || path != "" && notNumber != nil
}
