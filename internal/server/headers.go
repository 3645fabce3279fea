package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Header limits. net/http refuses a request whose request line and header
// block exceed HardMaxHeaderBytes itself, with a plain-text 431 written
// before any handler runs; limitHeaders refuses one above MaxHeaderBytes,
// well below that, with an RFC 9457 problem, so that every client that
// stays under net/http's limit gets problem+json.
const (
	MaxHeaderBytes     = 64 << 10
	HardMaxHeaderBytes = http.DefaultMaxHeaderBytes // 1 MiB, http.Server.MaxHeaderBytes
)

var (
	errURITooLong     = errors.New("URI too long")                    // 414
	errHeadersTooLong = errors.New("request header fields too large") // 431
)

// headerBytes is the size of r's request line and header fields as sent
// (each field "Name: value\r\n"), as net/http counts them.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	for name, vs := range r.Header {
		for _, v := range vs {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + len(r.Host) + len("Host: \r\n")
}

// limitHeaders answers 414 for a request-target, and 431 for a request
// line and header block, longer than MaxHeaderBytes.
func (s *Server) limitHeaders(c *gin.Context) {
	switch r := c.Request; {
	case len(r.RequestURI) > MaxHeaderBytes:
		s.problem(c, fmt.Errorf("%w: the request target has %d bytes, at most %d", errURITooLong, len(r.RequestURI), MaxHeaderBytes))
	case headerBytes(r) > MaxHeaderBytes:
		s.problem(c, fmt.Errorf("%w: the request line and header fields have %d bytes, at most %d", errHeadersTooLong, headerBytes(r), MaxHeaderBytes))
	}
}
