package devchain

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	gethlog "github.com/ethereum/go-ethereum/log"
)

// gethLogLevel is the lowest go-ethereum log level passed on to the service's
// logger: go-ethereum is chatty at info level and below.
const gethLogLevel = slog.LevelWarn

// minLevelHandler drops records below min before they reach the wrapped
// handler, and demotes routine warnings (see demoted) to debug level.
type minLevelHandler struct {
	min  slog.Level
	next slog.Handler
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.next.Enabled(ctx, l)
}

// demoted reports whether a go-ethereum warning is routine for a dev chain and
// is passed on at debug level instead: expected in dev mode, or already
// reported to whoever caused it.
func demoted(msg string) bool {
	switch msg {
	case "P2P server will be useless, neither dialing nor listening": // no P2P is the point
		return true
	case "Head block is not reachable": // opening a fresh database
		return true
	}
	// A failed RPC call ("Served eth_sendRawTransaction ... err=nonce too
	// low"): the error went back to the caller, who handles and logs it.
	return strings.HasPrefix(msg, "Served ")
}

func (h minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return nil
	}
	if r.Level == slog.LevelWarn && demoted(r.Message) {
		r.Level = slog.LevelDebug
		if !h.next.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.next.Handle(ctx, r)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{h.min, h.next.WithAttrs(attrs)}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{h.min, h.next.WithGroup(name)}
}

// rootLogger wraps a go-ethereum logger in a distinct type. go-ethereum's
// log.SetDefault also calls slog.SetDefault when handed its own logger type,
// which would replace the whole process's default slog logger with a filtered
// one (and deadlock when the handler wraps slog's default handler). Wrapping
// keeps the change confined to go-ethereum's root logger.
type rootLogger struct{ gethlog.Logger }

var rootMu sync.Mutex

// newGethLogger returns a go-ethereum logger writing warn-and-above records to l.
func newGethLogger(l *slog.Logger) gethlog.Logger {
	h := l.Handler().WithAttrs([]slog.Attr{slog.String("component", "geth")})
	return &rootLogger{gethlog.NewLogger(minLevelHandler{min: gethLogLevel, next: h})}
}

// installRootLogger makes l go-ethereum's process-wide root logger (most of
// go-ethereum logs through it, not through node.Config.Logger) and returns a
// function that restores the previous root if l is still installed.
func installRootLogger(l gethlog.Logger) (restore func()) {
	rootMu.Lock()
	defer rootMu.Unlock()
	prev := gethlog.Root()
	if _, ok := prev.(*rootLogger); !ok {
		// Wrapped for the same reason: prev may be go-ethereum's own logger
		// type, and must not become slog's default when restored.
		prev = &rootLogger{prev}
	}
	gethlog.SetDefault(l)
	return func() {
		rootMu.Lock()
		defer rootMu.Unlock()
		if gethlog.Root() == l {
			gethlog.SetDefault(prev)
		}
	}
}
