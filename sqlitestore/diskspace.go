package sqlitestore

import (
	"fmt"
	"path/filepath"
)

// diskHint describes the file system holding the database, for an error
// of the disk (full, read-only, failing I/O): how much room is left on it
// and whether it is mounted read-only, e.g. "16 KiB free on the file
// system of /var/lib/sessiond". SQLite says "database or disk is full"
// only when a file it writes cannot grow; a -shm it cannot extend at open
// (a full disk at start) or a write a read-only file system refuses it
// reports as "disk I/O error (N)", which reads like a failing disk. ""
// when the file system cannot be asked (another OS, an error).
func (s *Store) diskHint() string {
	if s.path == "" {
		return ""
	}
	dir := filepath.Dir(s.path)
	free, readOnly, ok := fileSystem(dir)
	switch {
	case !ok:
		return ""
	case readOnly:
		return "the file system of " + dir + " is read-only"
	}
	return bytesText(free) + " free on the file system of " + dir
}

// bytesText writes n bytes in KiB, MiB or GiB, whichever keeps the number
// readable.
func bytesText(n uint64) string {
	switch {
	case n < 10<<20:
		return fmt.Sprintf("%d KiB", n>>10)
	case n < 10<<30:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
