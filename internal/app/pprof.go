package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// listenPprof opens the profiling listener. Profiles show what the
// process is doing and are served without authentication, so only a
// loopback address is accepted.
func listenPprof(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &ConfigError{"PprofListen", err}
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, &ConfigError{"PprofListen", fmt.Errorf("%q is not a loopback address (profiles are served without authentication)", host)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen: %w", err)
	}
	return ln, nil
}

// servePprof serves net/http/pprof's handlers on ln until ln is closed;
// not /debug/pprof/cmdline, since a command line can hold a credential.
func servePprof(ln net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := hs.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Warn("pprof server", "err", err)
	}
}
