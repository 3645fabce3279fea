package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// floorAnswer is the size and shape of attestd's answer to a request of
// one fingerprint (a version 3 receipt in a tree of about 100): the floor
// server writes it for every request.
var floorAnswer = []byte(`{"receipts":[{"version":3,"salt":"` + strings.Repeat("5a", 16) + `","fingerprint":"` + strings.Repeat("ab", 32) +
	`","institution":"dev","received_at":"2026-12-07T16:00:00.123456789Z","deadline":"2026-12-07T16:11:00.123456789Z","key_id":"0123456789abcdef","tree_size":100,"tree_index":42,"tree_path":[` +
	strings.TrimSuffix(strings.Repeat(`"`+strings.Repeat("cd", 32)+`",`, 7), ",") + `],"signature":"` + strings.Repeat("A", 86) + `=="}]}`)

// floor is the floor mode: an HTTP server that answers POST
// /v1/fingerprints with floorAnswer and does nothing else: no
// authentication, parsing, store or signature. Driven by submit with the
// same flags as attestd, it measures what Go's HTTP server and the load
// generator alone cost on this machine, the ceiling of any attestd built
// on net/http. It listens on a loopback address and exits after
// --duration.
func floor(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("attestd-load floor", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18999", "address (loopback only)")
	dur := fs.Duration("duration", time.Minute, "exit after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("floor: --listen %q is not a loopback address", *listen)
	}
	if *dur <= 0 {
		return errors.New("floor: --duration must be > 0")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/fingerprints", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusAccepted)
		w.Write(floorAnswer)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	go func() { <-ctx.Done(); hs.Close() }()
	fmt.Fprintf(stdout, "floor server on %s for %s\n", ln.Addr(), *dur)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
