//go:build !linux

package atomicfile

// syncAll fsyncs each file, then each directory.
func syncAll(files []string, dirs map[string]bool) error {
	for _, p := range files {
		if err := syncPath(p); err != nil {
			return err
		}
	}
	for d := range dirs {
		if err := SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}
