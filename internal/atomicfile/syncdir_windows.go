package atomicfile

// SyncDir does nothing on Windows: a directory cannot be flushed there
// (FlushFileBuffers wants a handle with write access, which a directory
// does not give: "Access is denied", go.dev/issue/75541), and NTFS
// journals its directory entries itself.
func SyncDir(string) error { return nil }
