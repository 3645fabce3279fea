package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/store"
)

// Errors the handlers return; problem maps each to its HTTP status. This is
// the one place where errors become responses. Of the store's errors,
// store.ErrNotFound becomes 404, store.ErrUnavailable and store.ErrFull
// 503 with Retry-After.
var (
	ErrBadRequest   = errors.New("bad request")        // 400
	ErrUnauthorized = errors.New("unauthorized")       // 401
	ErrForbidden    = errors.New("forbidden")          // 403: the credentials are good, the operation is not theirs to make
	ErrUndecided    = errors.New("could not decide")   // 503, with Retry-After: a verify whose chain reads failed
	errNotFoundPath = errors.New("no such route")      // 404
	errMethod       = errors.New("method not allowed") // 405
)

const problemJSON = "application/problem+json"

// storeRetryAfter is the Retry-After of a 503 for an unavailable store.
const storeRetryAfter = "5"

// errStoreUnavailable is the detail a client sees when the store cannot
// take a request.
var errStoreUnavailable = errors.New("the store is unavailable (see /readyz); nothing was recorded by this request: retry after " + storeRetryAfter + " seconds")

// problem turns err into an RFC 9457 response. Client errors carry our own
// detail text; server errors carry a generic one and the detail goes to
// the log only.
func (s *Server) problem(c *gin.Context, err error) {
	status, title := http.StatusInternalServerError, "Internal Server Error"
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		status, title = http.StatusRequestEntityTooLarge, "Request body too large"
		err = fmt.Errorf("the request body exceeds %d bytes", tooBig.Limit)
	case errors.Is(err, ErrBadRequest), errors.Is(err, fingerprint.ErrInvalid), errors.Is(err, proof.ErrInvalid), errors.Is(err, statement.ErrInvalid):
		status, title = http.StatusBadRequest, "Bad Request"
	case errors.Is(err, ErrUnauthorized):
		status, title = http.StatusUnauthorized, "Unauthorized"
		c.Header("WWW-Authenticate", `Bearer realm="attestd"`)
	case errors.Is(err, ErrForbidden):
		status, title = http.StatusForbidden, "Forbidden"
	case errors.Is(err, store.ErrUnavailable):
		// A full disk, an I/O error, Redis down or read only: nothing was
		// recorded, and a retry may succeed. The cause (a file path, a
		// Redis address) goes to the log only.
		status, title = http.StatusServiceUnavailable, "Service Unavailable"
		c.Header("Retry-After", storeRetryAfter)
		s.log.WarnContext(c.Request.Context(), "store unavailable", "route", c.FullPath(), "err", err)
		err = errStoreUnavailable
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errNotFoundPath):
		status, title = http.StatusNotFound, "Not Found"
	case errors.Is(err, errMethod):
		status, title = http.StatusMethodNotAllowed, "Method Not Allowed"
	case errors.Is(err, errURITooLong):
		status, title = http.StatusRequestURITooLong, "URI Too Long"
	case errors.Is(err, errHeadersTooLong):
		status, title = http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large"
	case errors.Is(err, ErrRateLimited):
		status, title = http.StatusTooManyRequests, "Too Many Requests"
	case errors.Is(err, store.ErrFull), errors.Is(err, ErrUndecided):
		// store.ErrFull: the pending queue is at Config.MaxPending until
		// the next seal; nothing was recorded.
		status, title = http.StatusServiceUnavailable, "Service Unavailable"
		c.Header("Retry-After", "5")
	}
	var ra *retryAfter
	if errors.As(err, &ra) {
		c.Header("Retry-After", ra.seconds())
	}
	detail := err.Error()
	if status >= 500 && !errors.Is(err, store.ErrFull) && !errors.Is(err, ErrUndecided) && err != errStoreUnavailable {
		s.log.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "err", err)
		detail = "the server could not complete the request; it has been logged"
	} else {
		s.log.DebugContext(c.Request.Context(), "request refused", "route", c.FullPath(), "status", status, "err", err)
	}
	instance := c.Request.URL.Path
	c.Header("Content-Type", problemJSON)
	c.AbortWithStatusJSON(status, api.Problem{
		Type: "about:blank", Title: title, Status: int64(status), Detail: &detail, Instance: &instance,
	})
}

// paramError adapts the generated wrapper's parameter errors.
func (s *Server) paramError(c *gin.Context, err error, _ int) {
	s.problem(c, fmt.Errorf("%w: %v", ErrBadRequest, err))
}
