package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRefusesOtherHosts(t *testing.T) {
	for _, s := range []string{"http://localhost:8080", "http://10.0.0.1:8080", "http://[::1]:8080", "http://example.com", "ftp://127.0.0.1", "http://127.0.0.2:8080"} {
		if err := checkServer(s); err == nil {
			t.Errorf("checkServer(%q) accepted", s)
		}
	}
	if err := checkServer("http://127.0.0.1:8080"); err != nil {
		t.Errorf("checkServer(127.0.0.1): %v", err)
	}
	err := run([]string{"read", "--server", "http://example.com", "--run-id", "x", "--population", "1"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("run against another host: %v", err)
	}
}

func TestBounded(t *testing.T) {
	for _, args := range [][]string{
		{"submit", "--api-key", "k", "--requests", "0"},
		{"submit", "--api-key", "k", "--duration", "0"},
	} {
		if err := run(args, io.Discard); err == nil || !strings.Contains(err.Error(), "bounded") {
			t.Errorf("run %q: %v, want a refusal of an unbounded run", args, err)
		}
	}
}

// TestReadOpenLoop: with --rate, requests go out on schedule whatever the
// answers, and a request's latency counts from when it was due. The server
// here takes 20 ms per request on 2 connections (100/s) and is offered
// 200/s, so the queue grows by 1 request every 10 ms: the last of 100 is
// due at 0.5 s and answered at about 1 s. A closed loop would show 20 ms.
func TestReadOpenLoop(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(w, `{"fingerprint":%q}`, strings.TrimPrefix(r.URL.Path, "/v1/fingerprints/"))
	}))
	defer ts.Close()
	report := func(args ...string) map[string]any {
		t.Helper()
		var out bytes.Buffer
		args = append([]string{"read", "--server", ts.URL, "--run-id", "r", "--population", "1000", "--conns", "2", "--requests", "100", "--duration", "30s", "--check", "--json"}, args...)
		if err := run(args, &out); err != nil {
			t.Fatalf("run %q: %v\n%s", args, err, out.Bytes())
		}
		var rep map[string]any
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	closed := report()
	open := report("--rate", "200")
	if n := open["requests"].(float64); n != 100 {
		t.Fatalf("open loop: %v requests answered, want 100", n)
	}
	// Bounds from below only: a busy machine makes every latency longer,
	// never shorter, so these cannot pass or fail by the machine's load.
	if p := closed["p99_ms"].(float64); p < 20 {
		t.Errorf("closed loop p99 %.1f ms, below the server's own 20 ms", p)
	}
	if p := open["p99_ms"].(float64); p < 300 {
		t.Errorf("open loop at twice the server's capacity: p99 %.1f ms, want the queue's wait (about 500) counted", p)
	}
	if r := open["rate"].(float64); r != 200 {
		t.Errorf("report rate %v, want 200", r)
	}
	for _, args := range [][]string{{"--rate", "-1"}, {"--rate", "10", "--api-key", "k"}} {
		mode := "read"
		if len(args) > 2 {
			mode = "submit"
		}
		if err := run(append([]string{mode, "--server", ts.URL, "--run-id", "r", "--population", "1"}, args...), io.Discard); err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("run %s %q: %v, want a refusal naming --rate", mode, args, err)
		}
	}
}

// TestFloor: the floor server answers POST /v1/fingerprints with the fixed
// receipt-sized body, refuses a non-loopback address, and stops after its
// duration.
func TestFloor(t *testing.T) {
	if err := run([]string{"floor", "--listen", "0.0.0.0:0", "--duration", "1s"}, io.Discard); err == nil {
		t.Fatal("floor listened on a non-loopback address")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- run([]string{"floor", "--listen", addr, "--duration", "2s"}, io.Discard) }()
	var resp *http.Response
	for resp == nil {
		resp, err = http.Post("http://"+addr+"/v1/fingerprints", "application/json", strings.NewReader(`{"fingerprints":["ab"]}`))
		if err != nil {
			select {
			case err := <-done:
				t.Fatalf("floor ended: %v", err)
			default:
			}
			resp = nil
			runtime.Gosched()
		}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !bytes.Equal(body, floorAnswer) || !json.Valid(body) {
		t.Fatalf("floor answered %d %q", resp.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("floor after its duration: %v", err)
	}
}
