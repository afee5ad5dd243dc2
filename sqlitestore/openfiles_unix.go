//go:build unix

package sqlitestore

import "syscall"

// openFileLimit is the process's soft limit on open files, 0 when unknown.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
