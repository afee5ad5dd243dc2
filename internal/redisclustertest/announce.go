package redisclustertest

import (
	"strconv"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// StartAnnouncing starts a Redis Cluster of one master holding every slot
// that listens on 127.0.0.1, where URL seeds it, and on announce, the
// address it announces (CLUSTER SHARDS, CLUSTER SLOTS) to clients, which
// then connect there: a Cluster whose nodes are other hosts than the seed
// a client was given. announce "" announces 127.0.0.1. Skips or fails as
// Start does; the process is killed at cleanup.
func StartAnnouncing(t testing.TB, announce string) *Cluster {
	t.Helper()
	testenv.Programs(t, "a Redis Cluster", "", "redis-server", "redis-cli")
	c := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*node{}}
	t.Cleanup(c.killAll)
	extra := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}
	if announce != "" {
		// Protected mode would refuse clients from that address: no
		// password is set.
		extra = append(extra, "--bind", "127.0.0.1", announce, "--cluster-announce-ip", announce, "--protected-mode", "no")
	}
	port := c.launch(func(port int) { c.start(port, extra...) })
	if out, err := c.Run(port, "cluster", "addslotsrange", "0", "16383"); err != nil || out != "OK" {
		t.Fatalf("CLUSTER ADDSLOTSRANGE on port %s = %q, %v", strconv.Itoa(port), out, err)
	}
	c.WaitHealthy()
	return c
}
