//go:build unix

package server

import "syscall"

// openFileLimit is the process's soft limit on open file descriptors, 0
// when it cannot be read (an unlimited one is capped by maxConns).
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
