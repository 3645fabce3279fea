// Package atomicfile replaces files so that a crash leaves either the old
// content or the new, never half of it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to a temporary file beside path with mode perm,
// fsyncs it, renames it over path and fsyncs the directory, so the new
// name survives a power loss too.
func Write(path string, data []byte, perm os.FileMode) error {
	if err := replace(path, data, perm, true); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// replace writes data to a temporary file beside path with mode perm
// (fsynced when sync is set) and renames it over path.
func replace(path string, data []byte, perm os.FileMode, sync bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil && sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		// Only a failed write leaves the temporary file: removing it after
		// every rename cost a folder stamp two failing system calls a file.
		os.Remove(tmp.Name())
	}
	return err
}

// syncPath fsyncs the file (or, where the OS allows it, the directory) at p.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
