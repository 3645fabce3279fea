// Package crashpoint kills the process at named points, for the crash
// consistency tests: with ATTESTD_CRASH_AT=<name> (optionally <name>:<n>
// for the n-th time the point is reached) the process sends itself
// SIGKILL there — no deferred function, flush or shutdown runs, exactly
// as if the machine lost power at that instant. Without the variable Hit
// is a no-op costing one atomic load.
package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// The points, in the order a fingerprint meets them.
const (
	Acknowledged    = "acknowledged"     // submissions durable, 202 not yet sent
	Sealed          = "sealed"           // batch committed, anchorers not yet told
	AnchorSigned    = "anchor-signed"    // signed tx persisted, not yet broadcast
	AnchorBroadcast = "anchor-broadcast" // tx broadcast, broadcast time not yet recorded
	AnchorMined     = "anchor-mined"     // mined state recorded

	// The embedded store's index (internal/store/bolt), in the background.
	RunWritten = "index-run-written" // a new run synced, not yet listed in the main file
	RunsListed = "index-runs-listed" // the list of runs committed, replaced runs not yet deleted
)

var (
	target string
	after  int64 = 1
	hits   atomic.Int64
)

func init() {
	spec := os.Getenv("ATTESTD_CRASH_AT")
	if spec == "" {
		return
	}
	name, n, ok := strings.Cut(spec, ":")
	target = name
	if ok {
		if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > 0 {
			after = v
		}
	}
}

// Hit kills the process if name is the configured crash point and this is
// its configured occurrence.
func Hit(name string) {
	if target == "" || name != target {
		return
	}
	if hits.Add(1) == after {
		// SIGKILL on Unix (TerminateProcess on Windows, where attestd's
		// release binaries also run, without these tests).
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Kill()
		}
		select {} // the signal is delivered before this returns in practice
	}
}
