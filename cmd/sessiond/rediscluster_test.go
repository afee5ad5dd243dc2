package main

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/redisclustertest"
)

// TestE2E_RedisClusterFailover (issue 18): a node on a Redis Cluster of
// three masters with a replica each, clients logging in and refreshing; a
// master is killed (SIGKILL) and the cluster promotes its replica. The
// node serves again without a restart. Redis replicates asynchronously,
// so a write acknowledged just before the kill can be missing from the
// promoted replica: the test reports how many were (docs/operations.md),
// and fails only if the node does not recover.
func TestE2E_RedisClusterFailover(t *testing.T) {
	cluster := redisclustertest.Start(t)
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey,
		"SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + cluster.URL()}})
	load := startLoginLoad(t, n.client(), 4)
	load.waitAcked(t, 40, "load running on the cluster")

	masters := cluster.Masters()
	if len(masters) != 3 {
		t.Fatalf("cluster has masters %v; want 3", masters)
	}
	cluster.Kill(masters[0])
	killed := time.Now()
	eventually(t, 60*time.Second, "the killed master's replica promoted", func() bool { return len(cluster.Masters()) == 3 })
	cluster.WaitHealthy()
	t.Logf("cluster healthy again %v after the kill", time.Since(killed))
	// Clients keep being served, on every slot: after the failover no call
	// goes unanswered. A refresh may still be refused (4xx) when the
	// rotation it follows was lost with the old master: that is the loss
	// counted below, not a node that lost the topology.
	load.waitAcked(t, 40, "load acknowledged again after the failover")
	unservedBefore := load.unserved.Load()
	load.waitAcked(t, 80, "load on the healed cluster")
	if f := load.unserved.Load() - unservedBefore; f != 0 {
		t.Errorf("%d calls went unserved (transport error or 5xx) on the healed cluster; want 0 (the node follows the new topology)", f)
	}
	load.stop()
	lost := load.check(t, n.client())
	t.Logf("redis cluster failover: %d acknowledged writes lost (asynchronous replication)", lost)
	n.stop()
}
