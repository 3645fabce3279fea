package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The spec, api/openapi.yaml, and a router over it: loaded once for all
// the tests of the package.
var spec = sync.OnceValues(func() (*specRouter, error) {
	doc, err := openapi3.NewLoader().LoadFromFile("../../api/openapi.yaml")
	if err != nil {
		return nil, err
	}
	// The verifier page (GET /, /verifier.html) is HTML: its body is a string.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &specRouter{doc: doc, router: r}, nil
})

type specRouter struct {
	doc    *openapi3.T
	router routers.Router
}

// specOptions validate what the spec says: every status a response has
// must be declared, and string formats (date-time, byte) are checked.
var specOptions = &openapi3filter.Options{
	IncludeResponseStatus:   true,
	MultiError:              true,
	SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
}

// checkResponse checks a response the server gave to req against
// api/openapi.yaml: its status is one the operation declares, its
// declared headers are present and well-formed, and its body has the
// declared media type and matches the declared schema. A request for
// which the spec has no operation (an unknown path, a trailing slash, a
// wrong method) must get a 404 or 405 problem document; a request-target
// or header block over the server's limit a 414 or 431 one.
func (s *specRouter) checkResponse(req *http.Request, resp *http.Response, body []byte) error {
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fmt.Errorf("a redirect (%d to %q): the spec has none", resp.StatusCode, resp.Header.Get("Location"))
	}
	var route *routers.Route
	var params map[string]string
	var err error = &routers.RouteError{Reason: "no operation for this method"}
	switch {
	case strings.HasSuffix(req.URL.Path, "/") && req.URL.Path != "/": // the router would take "/v1/info/" for "/v1/info"
		err = &routers.RouteError{Reason: "no path of the spec ends in a slash"}
	case slices.Contains(standardMethods, req.Method): // the router panics on others
		route, params, err = s.router.FindRoute(req)
	}
	if err != nil {
		if re := (*routers.RouteError)(nil); !errors.As(err, &re) {
			return fmt.Errorf("finding the operation: %w", err)
		}
		if !slices.Contains([]int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusRequestURITooLong, http.StatusRequestHeaderFieldsTooLarge}, resp.StatusCode) {
			return fmt.Errorf("the spec has no operation for it (%v), and the status is %d, not a 404 or 405 problem", err, resp.StatusCode)
		}
		return s.checkProblem(resp, body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: specOptions},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                specOptions,
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

var standardMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// checkProblem checks a problem+json body against the spec's Problem.
func (s *specRouter) checkProblem(resp *http.Response, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json", resp.Header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return s.doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableFormatValidation(), openapi3.VisitAsResponse())
}

// specTransport is the HTTP transport of the server tests' client: every
// response it carries is checked against api/openapi.yaml, and one that
// does not match fails the test.
type specTransport struct {
	t    testing.TB
	next http.RoundTripper
}

func (s specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the caller sees the same error reading the rest
	}
	sr, err := spec()
	if err == nil {
		err = sr.checkResponse(req, resp, body)
	}
	if err != nil {
		s.t.Errorf("%s %s: the %d response does not match api/openapi.yaml: %v\nbody: %.2000s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// TestResponsesAreCheckedAgainstTheSpec: the fixture's client fails a test
// on a response that the spec does not describe.
func TestResponsesAreCheckedAgainstTheSpec(t *testing.T) {
	sr, err := spec()
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	resp := func(status int, ct string, hdr ...string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ct}}}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	const js, problem = "application/json; charset=utf-8", "application/problem+json"
	fpPath := "/v1/fingerprints/042f3736a430e42afc99d9c5f5c346dbd4aaaf8560acc0607c02973449ac5875"
	for _, c := range []struct {
		name   string
		req    *http.Request
		resp   *http.Response
		body   string
		wantOK bool
	}{
		{"a pending status", get(fpPath), resp(200, js), `{"fingerprint":"042f3736a430e42afc99d9c5f5c346dbd4aaaf8560acc0607c02973449ac5875","status":"pending"}`, true},
		{"a status missing its status", get(fpPath), resp(200, js), `{"fingerprint":"042f3736a430e42afc99d9c5f5c346dbd4aaaf8560acc0607c02973449ac5875"}`, false},
		{"an unknown status", get(fpPath), resp(200, js), `{"fingerprint":"042f3736a430e42afc99d9c5f5c346dbd4aaaf8560acc0607c02973449ac5875","status":"lost"}`, false},
		{"an uppercase fingerprint", get(fpPath), resp(200, js), `{"fingerprint":"042F3736A430E42AFC99D9C5F5C346DBD4AAAF8560ACC0607C02973449AC5875","status":"pending"}`, false},
		{"a status as problem+json", get(fpPath), resp(200, problem), `{"fingerprint":"042f3736a430e42afc99d9c5f5c346dbd4aaaf8560acc0607c02973449ac5875","status":"pending"}`, false},
		{"an undeclared status code", get(fpPath), resp(http.StatusTeapot, problem), `{"type":"about:blank","title":"I'm a teapot","status":418}`, false},
		{"a 404 problem", get(fpPath), resp(404, problem), `{"type":"about:blank","title":"Not Found","status":404,"detail":"no"}`, true},
		{"a 404 that is no problem", get(fpPath), resp(404, problem), `{"title":"Not Found"}`, false},
		{"a 404 problem for an unknown path", get("/v1/nothing"), resp(404, problem), `{"type":"about:blank","title":"Not Found","status":404}`, true},
		{"a 301 for a trailing slash", get("/v1/info/"), resp(301, "text/html"), `<a href="/v1/info">Moved Permanently</a>.`, false},
		{"a 200 for an unknown path", get("/v1/nothing"), resp(200, js), `{}`, false},
		{"a 503 without Retry-After", &http.Request{Method: http.MethodPost, URL: get("/v1/fingerprints").URL, Header: http.Header{}},
			resp(503, problem), `{"type":"about:blank","title":"Service Unavailable","status":503}`, false},
		{"a 503 with Retry-After", &http.Request{Method: http.MethodPost, URL: get("/v1/fingerprints").URL, Header: http.Header{}},
			resp(503, problem, "Retry-After", "5"), `{"type":"about:blank","title":"Service Unavailable","status":503}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := sr.checkResponse(c.req, c.resp, []byte(c.body))
			if (err == nil) != c.wantOK {
				t.Errorf("checkResponse = %v, want ok %v", err, c.wantOK)
			}
		})
	}
}
