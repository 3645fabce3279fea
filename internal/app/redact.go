package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/attestd/attestd/internal/redact"
)

// redactHandler rewrites every log record so that no endpoint URL shows
// more than scheme://host in its message or attributes, errors included:
// an HTTP client's error quotes the URL it failed to reach, in forms (a
// "user:***@" password, a re-encoded query) that differ from the
// configured string. Every URL is reduced by parsing (redact.Text); as a
// second line, the secret parts of the configured URLs (a password, query
// values, a long path segment such as a provider key) are replaced
// wherever they appear, for an endpoint that echoes them without a URL.
type redactHandler struct {
	inner slog.Handler
	known *strings.Replacer // nil: no configured secret part
}

// redacting wraps h; urls are the configured endpoint URLs whose secret
// parts are also replaced where they appear on their own.
func redacting(h slog.Handler, urls ...string) slog.Handler {
	var pairs []string
	for _, u := range urls {
		for _, s := range secretParts(u) {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	rh := &redactHandler{inner: h}
	if len(pairs) > 0 {
		rh.known = strings.NewReplacer(pairs...)
	}
	return rh
}

// secretParts lists the parts of an endpoint URL that may be a credential
// and are distinctive enough to be replaced wherever they appear: the
// password, query values and path segments of at least 8 characters (an
// RPC provider's key; "v3" or a database number are left alone).
func secretParts(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) >= 8 {
			out = append(out, s)
		}
	}
	if p, ok := u.User.Password(); ok {
		add(p)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v)
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		add(seg)
	}
	return out
}

func (h *redactHandler) text(s string) string {
	s = redact.Text(s)
	if h.known != nil {
		s = h.known.Replace(s)
	}
	return s
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &redactHandler{inner: h.inner.WithAttrs(red), known: h.known}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{inner: h.inner.WithGroup(name), known: h.known}
}

// attr redacts one attribute: strings, errors and other values shown
// through their text, and groups member by member.
func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, m := range g {
			red[i] = h.attr(m)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		text := fmt.Sprint(v.Any())
		if red := h.text(text); red != text {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
