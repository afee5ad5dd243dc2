package redisclustertest_test

import (
	"syscall"
	"testing"

	"github.com/sessiond/sessiond/internal/redisclustertest"
)

// TestStartProcess_OwnGroup: a server runs in a process group of its own,
// not the test's, so that the SIGCONT the kernel sends to the test's
// group when it becomes orphaned (the shell that ran go test in the
// background exits) does not resume a server a test has stopped. Seen:
// TestStore_DeadlineWhileReconnectingQuietly (redisstore) waited 30 s for
// the keepalive to give up on a Redis that answered again.
func TestStartProcess_OwnGroup(t *testing.T) {
	_, proc := redisclustertest.StartProcess(t)
	pgid, err := syscall.Getpgid(proc.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if own := syscall.Getpgrp(); pgid == own {
		t.Errorf("redis-server %d in process group %d, the test's; want a group of its own", proc.Pid, pgid)
	}
}
