package atomicfile

import (
	"os"
	"path/filepath"
)

// Batch replaces many files, each atomically (a temporary file renamed
// over it), and makes them all durable at once with Sync: one flush of
// each file system instead of two fsyncs a file. Until Sync returns, a
// crash may leave any of them as it was before, or (on some file systems)
// empty; a caller that must survive that keeps its own record of what is
// in flight until Sync returns (stamp's journals do).
type Batch struct {
	dirs map[string]bool
	done []string
}

// Write replaces path with data, with mode perm, without
// syncing it.
func (b *Batch) Write(path string, data []byte, perm os.FileMode) error {
	if err := replace(path, data, perm, false); err != nil {
		return err
	}
	if b.dirs == nil {
		b.dirs = map[string]bool{}
	}
	b.dirs[filepath.Dir(path)] = true
	b.done = append(b.done, path)
	return nil
}

// Sync makes every file written since the last Sync durable, with their
// names, and starts a new batch.
func (b *Batch) Sync() error {
	err := syncAll(b.done, b.dirs)
	b.dirs, b.done = nil, nil
	return err
}
