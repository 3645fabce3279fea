//go:build !windows

package atomicfile

import "os"

// SyncDir fsyncs the directory dir, so that the names created in it or
// renamed into it survive a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
