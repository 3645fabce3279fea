//go:build !windows

package atomicfile

// SyncDir fsyncs the directory dir, so that the names created in it or
// renamed into it survive a power loss.
func SyncDir(dir string) error { return syncPath(dir) }
