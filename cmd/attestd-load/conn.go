package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// pool is a set of keep-alive HTTP/1.1 connections to one server. A
// request is written and its response read by the goroutine that sends
// it, on a connection it holds for that time. net/http's Transport gives
// every connection two goroutines of its own and hands each request across
// them; on two cores shared with the server under test, that was about a
// third of the generator's CPU, and the server's share is what the figures
// measure.
type pool struct {
	u       *url.URL
	host    string // Host header
	idle    chan *conn
	timeout time.Duration // per request, dial included
	dialer  net.Dialer
	tls     *tls.Config // https
}

type conn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// newPool returns a pool of at most size idle connections to server
// (http or https; tlsConf nil verifies against the system's roots).
func newPool(server string, size int, timeout time.Duration, tlsConf *tls.Config) (*pool, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	}
	tlsConf = tlsConf.Clone()
	tlsConf.ServerName, tlsConf.NextProtos = u.Hostname(), []string{"http/1.1"}
	return &pool{u: u, host: u.Host, idle: make(chan *conn, size), timeout: timeout, dialer: net.Dialer{KeepAlive: 30 * time.Second}, tls: tlsConf}, nil
}

// header is one request header.
type header struct{ name, value string }

// do sends one request and returns the response's status code and, when
// keep is set, its body (the body is read and dropped otherwise, so the
// connection can be reused). Any error closes the connection.
func (p *pool) do(ctx context.Context, method, path string, hdrs []header, body []byte, keep bool) (int, []byte, error) {
	deadline := time.Now().Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c, err := p.get(ctx, deadline)
	if err != nil {
		return 0, nil, err
	}
	// The connection's deadline bounds the request; cancelling ctx moves
	// it to now.
	if err := c.c.SetDeadline(deadline); err != nil {
		c.c.Close()
		return 0, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	status, out, reuse, err := c.roundTrip(method, p.host, path, hdrs, body, keep)
	if !stop() || err != nil || !reuse {
		c.c.Close()
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		return status, out, err
	}
	select {
	case p.idle <- c:
	default:
		c.c.Close()
	}
	return status, out, nil
}

// get returns an idle connection or dials a new one.
func (p *pool) get(ctx context.Context, deadline time.Time) (*conn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := p.dialer.DialContext(ctx, "tcp", p.u.Host)
	if err != nil {
		return nil, err
	}
	if p.u.Scheme == "https" {
		tc := tls.Client(nc, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &conn{c: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 16<<10)}, nil
}

// roundTrip writes the request and reads the whole response; reuse is
// whether the connection may carry another request.
func (c *conn) roundTrip(method, host, path string, hdrs []header, body []byte, keep bool) (status int, out []byte, reuse bool, err error) {
	w := c.bw
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\nUser-Agent: attestd-load\r\n")
	for _, h := range hdrs {
		w.WriteString(h.name)
		w.WriteString(": ")
		w.WriteString(h.value)
		w.WriteString("\r\n")
	}
	if body != nil || method == http.MethodPost {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	if keep {
		out, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, fmt.Errorf("reading the body of a %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode < 200 {
		return 0, nil, false, errors.New("unexpected informational response")
	}
	return resp.StatusCode, out, !resp.Close, nil
}

// close closes the idle connections.
func (p *pool) close() {
	for {
		select {
		case c := <-p.idle:
			c.c.Close()
		default:
			return
		}
	}
}
