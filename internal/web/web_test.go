package web

import (
	"regexp"
	"strings"
	"testing"
)

// TestPage checks the embedded page is there and self-contained: no
// element loads anything from elsewhere (no src or href to a URL, no
// stylesheet link, no CSS url()), its policy pins its one script and one
// style by hash, and it carries the labels the clerk's instructions name.
// (Whether it is what web/ builds is `make check-web`'s to check.)
func TestPage(t *testing.T) {
	p := string(Page())
	if len(p) < 10_000 || !strings.HasPrefix(p, "<!doctype html>") {
		t.Fatalf("embedded page: %d bytes, starts %.40q", len(p), p)
	}
	for _, re := range []string{
		`(?i)<[a-z]+[^>]*\s(src|href|action|srcset|poster|data)\s*=`,
		`(?i)<link\b`, `(?i)<iframe\b`, `(?i)<img\b`, `(?i)@import`, `(?i)url\(\s*['"]?(https?:|//)`,
	} {
		if m := regexp.MustCompile(re).FindString(p); m != "" {
			t.Errorf("the page loads something from elsewhere: %q matches %s", m, re)
		}
	}
	if n := strings.Count(p, "<script"); n != 1 {
		t.Errorf("%d <script> elements, want the one inlined bundle", n)
	}
	csp := CSP()
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-", "connect-src *", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
	for _, label := range []string{`>Document</label>`, `>Proof (.attest)</label>`, `>Trusted block hash</label>`, `role="status"`} {
		if !strings.Contains(p, label) {
			t.Errorf("the page has no %s", label)
		}
	}
}
