//go:build !linux

package redisclustertest

import "syscall"

// ownGroup is nil off Linux: without Pdeathsig, a server in a group of
// its own would outlive a test binary stopped with Ctrl-C.
func ownGroup() *syscall.SysProcAttr { return nil }
