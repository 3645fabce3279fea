// Package web holds the web verifier page: one self-contained HTML file
// (scripts and styles inlined, nothing loaded from anywhere), built from
// web/ by `npm run build` (esbuild) and committed here, so that `go build`
// needs no npm. `make check-web` checks the committed file is what the
// build produces from web/.
//
// The server serves it at / and /verifier.html (internal/server), and
// `attestd verifier-page` prints it: saved to disk it works from file://
// with no server at all.
package web

import (
	_ "embed"
	"regexp"
	"sync"
)

//go:embed verifier.html
var page []byte

// Page returns the page (the caller must not modify it).
func Page() []byte { return page }

var metaCSP = regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]+)">`)

// CSP returns the Content-Security-Policy the server sends with the page:
// the one the page carries in its <meta> element (scripts and styles
// pinned by their SHA-256, no other source but connect-src *, which the
// JSON-RPC endpoints the user enters need), plus what only a header can
// say (frame-ancestors: the page may not be framed).
var CSP = sync.OnceValue(func() string {
	m := metaCSP.FindSubmatch(page)
	if m == nil { // TestPage fails on such a page; refuse everything rather than serve it open
		return "default-src 'none'; frame-ancestors 'none'"
	}
	return string(m[1]) + "; frame-ancestors 'none'"
})
