//go:build unix

package server

import (
	"errors"
	"os"
	"syscall"
)

// errLocked: another process holds the lock.
var errLocked = errors.New("locked")

// lockFile takes an exclusive POSIX record lock on f without waiting. Such
// a lock belongs to the process: another process is refused, while the
// same process may take it again (tests run several nodes in one process
// on one file, each its own Run). It ends when the process does, a crash
// included, or when the process closes any descriptor of the file.
func lockFile(f *os.File) error {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
		return errLocked
	}
	return err
}
