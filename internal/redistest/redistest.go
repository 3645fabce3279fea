// Package redistest runs a real redis-server for tests: one process per
// Start, on a free 127.0.0.1 port, with its own temporary directory and the
// persistence attestd documents for "202 means durable" (AOF on, fsync
// always, no RDB snapshots).
//
// When redis-server is not installed, Start skips the test with a message
// saying so — unless the environment has CI=true, where a missing server is
// a failure: CI must run the Redis tests, never skip them silently.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the redis-server executable Start looks up in PATH.
const Binary = "redis-server"

// StartTimeout bounds how long Start and Restart wait for the server to
// answer PING (it loads its AOF first after a restart).
const StartTimeout = 20 * time.Second

// Option configures Start.
type Option func(*options)

type options struct {
	args []string
}

// WithArgs adds redis-server command-line arguments after the defaults,
// so they override them; for example WithArgs("--appendfsync", "everysec")
// or WithArgs("--requirepass", "secret").
func WithArgs(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// Server is a running redis-server. Its methods may be called from the
// test goroutine only.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for t and stops it when t ends. Besides the
// options' arguments it runs with --bind 127.0.0.1, a free port, --dir of
// a new temporary directory, --appendonly yes, --appendfsync always and
// --save "" (so only the AOF persists). It returns once the server answers
// PING.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		msg := fmt.Sprintf("redistest: %s not found in PATH (%v); install Redis (Debian: apt-get install redis-server) to run the Redis tests", Binary, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: o.args}
	t.Cleanup(s.stop)
	// The free port is found by binding and closing it, so another process
	// may take it before redis-server does; try a few ports.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.port = port
		err = s.start()
		if err == nil {
			return s
		}
		if attempt == 3 {
			t.Fatalf("redistest: %v", err)
		}
		t.Logf("redistest: attempt %d: %v; retrying on another port", attempt, err)
	}
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the server's URL, database 0: redis://127.0.0.1:PORT/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Kill kills the server with SIGKILL, as a crash would: it gets no chance
// to flush anything, so what survives is what it had fsync'd. It waits for
// the process to exit.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts the server again on the same port and directory, after a
// Kill (or, if it is still running, kills it first). It loads the same AOF,
// so every write the server acknowledged before it died is there, and
// returns once the server answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	// The old process's port may take a moment to be free again.
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// start starts redis-server on s.port in s.dir and waits for PING.
func (s *Server) start() error {
	logPath := filepath.Join(s.dir, "redis.log")
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--save", "",
		"--daemonize", "no",
		"--logfile", logPath,
		"--protected-mode", "no",
	}
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(StartTimeout)
	var pingErr error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("redis-server on port %d exited: %v; log: %s", s.port, waitErr, tail(logPath))
		default:
		}
		if pingErr = ping(s.Addr()); pingErr == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("redis-server on port %d did not answer PING within %s: %v; log: %s", s.port, StartTimeout, pingErr, tail(logPath))
}

// stop shuts the server down at the end of the test: SIGTERM (a clean
// shutdown), then SIGKILL if it takes too long.
func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// ping sends PING in RESP and expects +PONG (a server loading its AOF
// answers -LOADING; a server with a password answers -NOAUTH, which also
// means it is up).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	switch line = strings.TrimSpace(line); {
	case line == "+PONG", strings.HasPrefix(line, "-NOAUTH"):
		return nil
	default:
		return errors.New("PING answered " + line)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last lines of the log at path, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}
