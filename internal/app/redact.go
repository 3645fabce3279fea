package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redactHandler rewrites every log record so that none of the secret
// strings (endpoint URLs that may carry credentials) appears in its message
// or attributes, errors included: an HTTP client's error quotes the URL it
// failed to reach.
type redactHandler struct {
	inner slog.Handler
	r     *strings.Replacer
}

// redacting wraps h; urls are replaced by RedactURL of themselves. URLs
// that show nothing secret are left alone.
func redacting(h slog.Handler, urls ...string) slog.Handler {
	var pairs []string
	for _, u := range urls {
		if red := RedactURL(u); u != "" && red != u {
			pairs = append(pairs, u, red)
		}
	}
	if len(pairs) == 0 {
		return h
	}
	return &redactHandler{inner: h, r: strings.NewReplacer(pairs...)}
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Replace(rec.Message), rec.PC)
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
	return &redactHandler{inner: h.inner.WithAttrs(red), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{inner: h.inner.WithGroup(name), r: h.r}
}

// attr redacts one attribute: strings, errors and other values shown
// through their text, and groups member by member.
func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Replace(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, m := range g {
			red[i] = h.attr(m)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		text := fmt.Sprint(v.Any())
		if red := h.r.Replace(text); red != text {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
