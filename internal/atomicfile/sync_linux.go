package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncAll flushes the file system of each directory once (syncfs(2)):
// files and directory entries alike.
func syncAll(_ []string, dirs map[string]bool) error {
	seen := map[uint64]bool{}
	for d := range dirs {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return err
		}
		if seen[st.Dev] {
			continue
		}
		seen[st.Dev] = true
		f, err := os.Open(d)
		if err != nil {
			return err
		}
		err = unix.Syncfs(int(f.Fd()))
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
