package redisclustertest

import "syscall"

// ownGroup is how a server starts: in a process group of its own, so that
// a signal to the test's group does not reach it. The kernel sends SIGHUP
// and SIGCONT to every process of a group that becomes orphaned while one
// of them is stopped (go test run in the background by a shell that then
// exits): a server a test had stopped (Stop, SIGSTOP) answered again, and
// the test waited for a silence that never came. Killed when the test
// binary exits (Pdeathsig), as it was with the test's group on Ctrl-C.
func ownGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
