package redistest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// do sends one command in RESP and returns the first line of the reply.
func do(t *testing.T, addr string, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "$") && line != "$-1" {
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		line = strings.TrimSpace(line)
	}
	return line
}

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	if got, want := s.URL(), "redis://"+s.Addr()+"/0"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:PORT", s.Addr())
	}
	for _, kv := range [][2]string{{"appendonly", "yes"}, {"appendfsync", "always"}, {"save", ""}} {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "CONFIG GET %s\r\n", kv[0])
		r := bufio.NewReader(c)
		var lines []string
		for range 5 {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, strings.TrimSpace(l))
		}
		c.Close()
		if lines[4] != kv[1] {
			t.Errorf("CONFIG GET %s = %q, want %q", kv[0], lines[4], kv[1])
		}
	}

	if got := do(t, s.Addr(), "SET", "k", "acknowledged"); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	s.Kill()
	if _, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond); err == nil {
		t.Error("the server still accepts connections after Kill")
	}
	s.Restart()
	if got := do(t, s.Addr(), "GET", "k"); got != "acknowledged" {
		t.Errorf("after Kill and Restart, GET k = %q, want the acknowledged value", got)
	}
	// Restart of a running server kills it first.
	s.Restart()
	if got := do(t, s.Addr(), "GET", "k"); got != "acknowledged" {
		t.Errorf("after a second Restart, GET k = %q", got)
	}
}

func TestWithArgs(t *testing.T) {
	s := Start(t, WithArgs("--requirepass", "s3cret"))
	if got := do(t, s.Addr(), "GET", "k"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("GET without AUTH = %q, want NOAUTH", got)
	}
}
