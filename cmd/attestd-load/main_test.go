package main

import (
	"io"
	"strings"
	"testing"
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
