// Package redisclustertest starts a private Redis Cluster on loopback for
// tests: three masters with one replica each, as redis-cli --cluster
// create lays them out. Imported only by _test.go files.
package redisclustertest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// Cluster is a running Redis Cluster of six server processes.
type Cluster struct {
	t     testing.TB
	dir   string
	mu    sync.Mutex
	procs map[int]*node // by port; nil once killed
	ports []int
}

// node is one redis-server process.
type node struct {
	cmd    *exec.Cmd
	dir    string             // its working directory, its own
	out    testenv.SyncBuffer // what it printed: why it exited
	exited chan struct{}      // closed once it has
}

// Start starts the cluster and waits until every node reports it ok. It
// skips the test when redis-server or redis-cli is missing, or fails it
// under SESSIOND_TEST_REQUIRE=1. The processes are killed at cleanup.
//
// Its nodes take a master for failed only after Redis's default node
// timeout (15 s): a node of a loaded test machine may not be scheduled
// for a second, and with a short timeout its peers failed it over and
// the cluster answered CLUSTERDOWN to a test that killed nothing. A test
// that kills a master and waits for its replica to take over uses
// StartFailover.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return start(t, steadyNodeTimeout)
}

// StartFailover is Start with a node timeout of a second, so that a
// killed master's replica takes over within seconds. A node a loaded
// machine leaves unscheduled that long is failed over too: a test using
// it waits for the cluster to be whole again rather than assuming it
// stays so.
func StartFailover(t testing.TB) *Cluster {
	t.Helper()
	return start(t, failoverNodeTimeout)
}

const (
	steadyNodeTimeout   = 15 * time.Second // Redis's default
	failoverNodeTimeout = time.Second
)

func start(t testing.TB, nodeTimeout time.Duration) *Cluster {
	t.Helper()
	testenv.Programs(t, "a Redis Cluster", "", "redis-server", "redis-cli")
	c := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*node{}}
	t.Cleanup(c.killAll)
	for range 6 {
		c.launch(func(port int) { c.startNode(port, nodeTimeout) })
	}
	args := []string{"--cluster", "create"}
	for _, p := range c.ports {
		args = append(args, "127.0.0.1:"+strconv.Itoa(p))
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy()
	return c
}

// startNode starts a cluster node on port that takes a peer for failed
// after nodeTimeout without its answer.
func (c *Cluster) startNode(port int, nodeTimeout time.Duration) {
	// No persistence: the replicas are the copies this cluster keeps.
	c.start(port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10),
		// A replica of a busy test machine may have lost its link for a
		// while; it must still take over.
		"--cluster-replica-validity-factor", "0",
		// DEBUG lets a test make a node load a dataset.
		"--enable-debug-command", "local")
}

// launch starts a node with start on a free port and returns the port
// once the node answers. A port free a moment ago (testenv.FreePort) may
// be taken before the node binds it, and a cluster node also binds its
// port + 10000 for the bus, which nothing checked: another test's server
// or the local end of any connection may hold either (seen under load:
// a node exited at start, and its cluster never formed). The node then
// exits at once, or another server answers on its port: up tells, and
// launch tries another port.
func (c *Cluster) launch(start func(port int)) int {
	c.t.Helper()
	const tries = 5
	for i := 1; ; i++ {
		port := c.freePort()
		start(port)
		err := c.up(port)
		if err == nil {
			return port
		}
		if i == tries {
			c.t.Fatalf("redis-server: %v (%d ports tried)", err, tries)
		}
		c.t.Logf("redis-server: %v; trying another port", err)
		c.Kill(port)
		c.mu.Lock()
		delete(c.procs, port)
		c.ports = slices.DeleteFunc(c.ports, func(p int) bool { return p == port })
		c.mu.Unlock()
	}
}

// freePort is a port free a moment ago that is neither a port of c's
// nodes nor a cluster bus port of one (port + 10000), nor one whose bus
// port Redis refuses (above 65535).
func (c *Cluster) freePort() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		port := testenv.FreePort(c.t)
		if port+10000 <= 65535 && !slices.ContainsFunc(c.ports, func(p int) bool { return p == port || p+10000 == port || p == port+10000 }) {
			return port
		}
	}
}

// up waits until the node started on port answers, and that it is the
// process answering on port; it returns an error if the node exited
// first (with the last of what it printed), or no process of its own
// answers there within 20 s.
func (c *Cluster) up(port int) error {
	c.mu.Lock()
	n := c.procs[port]
	c.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-n.exited:
			out := strings.Split(strings.TrimSpace(n.out.String()), "\n")
			return fmt.Errorf("on port %d exited at start: %s", port, strings.Join(out[max(len(out)-2, 0):], "\n"))
		default:
		}
		ours, err := n.answers(port)
		if ours {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("on port %d: no answer of its own within 20s: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answers reports whether the server answering on port is n: the one
// whose process ID INFO gives, or, where INFO is renamed away, whose
// directory CONFIG gives; where both are, any that answers PING.
func (n *node) answers(port int) (bool, error) {
	// Bounded: whatever holds the port may accept and never answer; up
	// asks again.
	ask := func(args ...string) (string, error) { return askBounded(port, 2*time.Second, args...) }
	info, err := ask("info", "server")
	if err != nil {
		return false, err
	}
	if pid := infoValue(info, "process_id"); pid != "" {
		return pid == strconv.Itoa(n.cmd.Process.Pid), fmt.Errorf("process %s answers", pid)
	}
	dir, err := ask("config", "get", "dir")
	if err != nil {
		return false, err
	}
	if name, value, ok := strings.Cut(dir, "\n"); ok && name == "dir" {
		return value == n.dir, fmt.Errorf("a server in %s answers", value)
	}
	pong, err := ask("ping")
	return err == nil && pong == "PONG", err
}

// askBounded runs one redis-cli command against the server on port, for
// at most timeout, and returns its output trimmed.
func askBounded(port int, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

func (c *Cluster) cli(port int, args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...).Output()
	return string(out), err
}

// WaitHealthy waits until every live node reports cluster_state:ok and
// all 16384 slots are served, and every replica has finished its sync: a
// replica loading its master's data answers LOADING (seen in CI, where the
// first sync started 5 s into the tests).
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range c.Live() {
		for {
			out, err := c.cli(p, "cluster", "info")
			if err == nil && strings.Contains(out, "cluster_state:ok") && strings.Contains(out, "cluster_slots_ok:16384") {
				var info string
				info, err = c.cli(p, "info")
				if err == nil && synced(info) {
					break
				}
				out += info
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("redis cluster node %d not ok: %v\n%s", p, err, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// infoValue is the value of name in an INFO answer, "" without it.
func infoValue(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// synced reports whether an INFO answer shows a node not loading and, if
// a replica, linked to its master with no sync under way.
func synced(info string) bool {
	// "\n": async_loading:0 must not pass for loading:0.
	if !strings.Contains(info, "\nloading:0") {
		return false
	}
	if strings.Contains(info, "role:slave") {
		return strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_sync_in_progress:0")
	}
	return true
}

// Live returns the ports of the nodes not killed.
func (c *Cluster) Live() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, p := range c.ports {
		if c.procs[p] != nil {
			out = append(out, p)
		}
	}
	return out
}

// URL is a redisstore URL naming every node (rueidis ParseURL reads the
// extra ones from addr=).
func (c *Cluster) URL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redis://127.0.0.1:%d/0", c.ports[0])
	for i, p := range c.ports[1:] {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		fmt.Fprintf(&b, "addr=127.0.0.1:%d", p)
	}
	return b.String()
}

// Masters returns the ports of the live nodes that are masters now.
func (c *Cluster) Masters() []int { return c.withRole("master") }

// Replicas returns the ports of the live nodes that are replicas now.
func (c *Cluster) Replicas() []int { return c.withRole("slave") }

// withRole returns the ports of the live nodes whose ROLE answer starts
// with role.
func (c *Cluster) withRole(role string) []int {
	var out []int
	for _, p := range c.Live() {
		if r, err := c.cli(p, "role"); err == nil && strings.HasPrefix(r, role) {
			out = append(out, p)
		}
	}
	return out
}

// Kill kills the node on port with SIGKILL, as a crash.
func (c *Cluster) Kill(port int) {
	c.mu.Lock()
	n := c.procs[port]
	c.procs[port] = nil
	c.mu.Unlock()
	if n != nil {
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// Blocked reports whether a client on the node on port is blocked (in
// WAIT).
func (c *Cluster) Blocked(port int) bool {
	c.t.Helper()
	info, err := c.Run(port, "info", "clients")
	if err != nil {
		c.t.Fatalf("INFO clients on port %d: %v", port, err)
	}
	for line := range strings.Lines(info) {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
			return n != "0"
		}
	}
	return false
}

// Run runs one redis-cli command against the node on port.
func (c *Cluster) Run(port int, args ...string) (string, error) {
	out, err := c.cli(port, args...)
	return string(bytes.TrimSpace([]byte(out))), err
}

func (c *Cluster) killAll() {
	for _, p := range c.ports {
		c.Kill(p)
	}
}
