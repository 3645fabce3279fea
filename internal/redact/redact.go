// Package redact keeps the credentials of endpoint URLs (chain JSON-RPC
// providers put API keys in the path or the query, Redis URLs carry
// passwords, any URL may carry user:password@) out of everything attestd
// shows: logs, errors, problem details and verify results.
//
// It works by parsing, not by knowing the secret: every URL found in a
// text is reduced to scheme://host, followed by "/…" when anything (user
// info, path, query, fragment) was removed. That also catches the forms
// the exact URL never appears in, such as the "user:***@" that net/http
// prints, a URL quoted by *url.Error, or a URL re-encoded by a library.
package redact

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Marker follows scheme://host when something was removed from a URL.
const Marker = "/…"

// URL shows an endpoint URL without what may be a credential: the user
// info, the path, the query and the fragment. "https://u:p@rpc.example/v3/KEY"
// is shown as "https://rpc.example/…". A URL that does not parse, or has no
// host, is shown as "(not shown)"; "" stays "".
func URL(raw string) string {
	if raw == "" {
		return ""
	}
	if red, ok := reduce(raw); ok {
		return red
	}
	return "(not shown)"
}

// reduce parses raw and returns scheme://host[/…], or false when raw is
// not a URL with a host.
func reduce(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		out += Marker
	}
	return out, true
}

// scheme finds where a URL starts: an RFC 3986 scheme and "://".
var scheme = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://`)

// Text returns s with every URL in it reduced as URL does. A URL ends at
// white space, a quote, '<', '>' or a backquote; one that follows a double
// quote is taken as a Go-quoted string (how *url.Error prints its URL), so
// that an escaped quote inside it cannot end it early. Trailing
// punctuation (".", ",", ":", …, and unbalanced closing brackets) is kept
// as text. A URL that does not parse is shown as "scheme://…".
func Text(s string) string {
	locs := scheme.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, loc := range locs {
		start := loc[0]
		if start < last { // inside a URL already replaced
			continue
		}
		name := s[start : loc[1]-len("://")]
		if start > 0 && s[start-1] == '"' && (start < 2 || s[start-2] != '\\') {
			if q, err := strconv.QuotedPrefix(s[start-1:]); err == nil {
				if raw, err := strconv.Unquote(q); err == nil {
					b.WriteString(s[last : start-1])
					b.WriteString(strconv.Quote(reduceOr(raw, name)))
					last = start - 1 + len(q)
					continue
				}
			}
		}
		end := start + strings.IndexFunc(s[start:], terminates)
		if end < start {
			end = len(s)
		}
		core, tail := trimPunct(s[start:end])
		b.WriteString(s[last:start])
		b.WriteString(reduceOr(core, name))
		b.WriteString(tail)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// reduceOr reduces raw, or shows only its scheme when it does not parse.
func reduceOr(raw, scheme string) string {
	if red, ok := reduce(raw); ok {
		return red
	}
	return scheme + ":/" + Marker
}

func terminates(r rune) bool {
	switch r {
	case '"', '\'', '<', '>', '`':
		return true
	}
	return unicode.IsSpace(r)
}

// trimPunct splits trailing punctuation off a URL found in text: what
// follows a URL in a sentence or an error ("…/v3/KEY: connection
// refused"), the backslash of an escaped quote, and closing brackets that
// were not opened inside it.
func trimPunct(u string) (core, tail string) {
	end := len(u)
	for end > 0 {
		c := u[end-1]
		switch c {
		case '.', ',', ';', ':', '!', '?', '\\':
		case ')':
			if strings.Count(u[:end], "(") >= strings.Count(u[:end], ")") {
				return u[:end], u[end:]
			}
		case ']':
			if strings.Count(u[:end], "[") >= strings.Count(u[:end], "]") {
				return u[:end], u[end:]
			}
		case '}':
			if strings.Count(u[:end], "{") >= strings.Count(u[:end], "}") {
				return u[:end], u[end:]
			}
		default:
			return u[:end], u[end:]
		}
		end--
	}
	return u[:end], u[end:]
}

// Error returns err with its message redacted by Text. errors.Is and
// errors.As still see err and everything it wraps; only the text changes.
// An error whose message shows no URL is returned as it is, nil as nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Text(msg)
	if red == msg {
		return err
	}
	return &redacted{err: err, msg: red}
}

type redacted struct {
	err error
	msg string
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
