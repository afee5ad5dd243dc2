//go:build !unix

package server

// openNoFollow: no such flag here; writePendingKey's check of the opened
// file still refuses what is not a regular file.
const openNoFollow = 0

// syncDir: a directory cannot be synced here; the moved file's own sync
// is what writePendingKey has.
func syncDir(string) error { return nil }
