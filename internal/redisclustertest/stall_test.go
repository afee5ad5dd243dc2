package redisclustertest_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/redisclustertest"
)

// TestStart_StalledMasterKeepsItsSlots: a master that is not scheduled for
// a few seconds, as on a loaded CI machine, is not failed over, and the
// cluster never answers CLUSTERDOWN meanwhile. With a node timeout of a
// second (what only StartFailover keeps) its peers failed it, its replica
// took over, and a test that killed nothing saw CLUSTERDOWN.
func TestStart_StalledMasterKeepsItsSlots(t *testing.T) {
	cluster := redisclustertest.Start(t)
	masters := cluster.Masters()
	if len(masters) != 3 {
		t.Fatalf("masters = %v; want 3", masters)
	}
	stalled, other := masters[0], masters[1]
	replica := 0
	for _, p := range cluster.Replicas() {
		// slave, its master's host and port, …
		if role, err := cluster.Run(p, "role"); err == nil {
			if f := strings.Fields(role); len(f) >= 3 && f[2] == strconv.Itoa(stalled) {
				replica = p
			}
		}
	}
	if replica == 0 {
		t.Fatalf("master %d has no replica", stalled)
	}

	// The stall: SIGSTOP for 5 s, five times the old node timeout, a
	// third of the one Start keeps. Meanwhile another master must never
	// report the cluster failed.
	cluster.Stop(stalled)
	stopped := true
	defer func() {
		if stopped {
			cluster.Continue(stalled)
		}
	}()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if info, err := cluster.Run(other, "cluster", "info"); err == nil && strings.Contains(info, "cluster_state:fail") {
			t.Errorf("master %d reported cluster_state:fail while master %d was stalled (not killed)", other, stalled)
			break
		}
	}
	cluster.Continue(stalled)
	stopped = false
	if role, err := cluster.Run(replica, "role"); err != nil || !strings.HasPrefix(role, "slave") {
		t.Errorf("after master %d stalled: its replica %d has role %q, %v; want still a replica (no failover)", stalled, replica, role, err)
	}
	cluster.WaitHealthy()
}
