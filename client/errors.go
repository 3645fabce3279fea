package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/receipt"
)

// ProblemError is an answer of the server that is not a success: an RFC
// 9457 problem (status, title, detail) or, from something in front of the
// server that does not speak problem+json, the status and the start of the
// body. Find it with errors.As:
//
//	var pe *client.ProblemError
//	if errors.As(err, &pe) && pe.StatusCode == http.StatusTooManyRequests {
//		time.Sleep(pe.RetryAfter)
//	}
type ProblemError struct {
	Op         string // what the client was doing: "submitting", "fetching the proof", "info"
	StatusCode int    // the HTTP status: 400 a malformed request, 401 no or a wrong key, 404 unknown, 429 too many, 503 try later
	Title      string // the problem's title, or the status text
	Detail     string // the problem's explanation, if any
	// RetryAfter is when the server asks to be asked again (429, 503),
	// from its Retry-After header; 0 when it does not say.
	RetryAfter time.Duration
}

func (e *ProblemError) Error() string {
	d := ""
	if e.Detail != "" {
		d = ": " + e.Detail
	}
	return fmt.Sprintf("%s: %d %s%s", e.Op, e.StatusCode, e.Title, d)
}

// ErrUnknownFingerprint is wrapped (with the 404 [*ProblemError]) by the
// error of [Client.Status] and [Client.Upgrade] when the server does not
// know the fingerprint: never submitted to it, or lost by a server
// restored from an older backup ([Client.Resubmit]).
var ErrUnknownFingerprint = errors.New("the server does not know this fingerprint")

// ErrInvalidReceipt is wrapped by the errors of [Client.Submit] and
// [Client.Resubmit] when a receipt the server gave is not signed by a key
// the server publishes for its time, or is not for the fingerprint
// submitted: the fingerprint may well be recorded, but there is no receipt
// to rely on.
var ErrInvalidReceipt = receipt.ErrInvalid

// problem makes the *ProblemError of a response that is not a success.
func problem(op string, resp *http.Response, body []byte) error {
	e := &ProblemError{Op: op}
	if resp == nil {
		return e
	}
	e.StatusCode = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var p api.Problem
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		e.Title = p.Title
		if p.Detail != nil {
			e.Detail = *p.Detail
		}
		return e
	}
	e.Title = http.StatusText(resp.StatusCode)
	if e.Title == "" {
		e.Title = "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	e.Detail = fmt.Sprintf("%.200s", strings.TrimSpace(string(body)))
	return e
}
