//go:build !unix

package server

// openNoFollow: no such flag here; writePendingKey's check of the opened
// file still refuses what is not a regular file, but a symbolic link to a
// regular file is replaced by the key file (its target left alone).
const openNoFollow = 0

// syncDir: a directory cannot be synced here; the moved file's own sync
// is what writePendingKey has.
func syncDir(string) error { return nil }
