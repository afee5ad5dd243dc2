//go:build !unix

package server

import (
	"errors"
	"os"
)

// errLocked: another process holds the lock.
var errLocked = errors.New("locked")

// lockFile: no advisory lock here; a second process is not refused.
func lockFile(*os.File) error { return nil }
