//go:build unix

package server

import "syscall"

// openNoFollow makes writeOwnerOnly refuse a symbolic link.
const openNoFollow = syscall.O_NOFOLLOW
