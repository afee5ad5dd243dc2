//go:build unix

package redisclustertest

import "syscall"

// pauseSignal and resumeSignal freeze and thaw a server process, as a
// node that stops answering without closing its connections.
const (
	pauseSignal  = syscall.SIGSTOP
	resumeSignal = syscall.SIGCONT
)
