//go:build !unix

package redisclustertest

import "syscall"

// Windows has no signal that freezes a process: Stop and Continue fail
// the test there (Process.Signal refuses anything but Kill), while the
// rest of the package builds, so `go build ./...` does too.
const (
	pauseSignal  = syscall.Signal(-1)
	resumeSignal = syscall.Signal(-1)
)
