//go:build !unix

package server

// syncDir: a directory cannot be synced here; the renamed file's own
// sync is what writeOwnerOnly has.
func syncDir(string) error { return nil }
