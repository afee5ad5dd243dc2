// Package redisclustertest starts a private Redis Cluster on loopback for
// tests: three masters with one replica each, as redis-cli --cluster
// create lays them out. Imported only by _test.go files.
package redisclustertest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	procs map[int]*exec.Cmd // by port; nil once killed
	ports []int
}

// Start starts the cluster and waits until every node reports it ok. It
// skips the test when redis-server or redis-cli is missing, or fails it
// under SESSIOND_TEST_REQUIRE=1. The processes are killed at cleanup.
func Start(t testing.TB) *Cluster {
	t.Helper()
	testenv.Programs(t, "a Redis Cluster", "", "redis-server", "redis-cli")
	c := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*exec.Cmd{}}
	t.Cleanup(c.killAll)
	for len(c.ports) < 6 {
		// A port freed a moment ago may come back before the node started
		// on it has bound it (seen in CI: two nodes given one port); each
		// node also takes its port + 10000 for the cluster bus.
		port := testenv.FreePort(t)
		if slices.ContainsFunc(c.ports, func(p int) bool { return p == port || p+10000 == port || p == port+10000 }) {
			continue
		}
		c.ports = append(c.ports, port)
		c.startNode(port)
	}
	for _, p := range c.ports {
		c.waitPing(p)
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

func (c *Cluster) startNode(port int) {
	dir := filepath.Join(c.dir, strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	// A short node timeout makes failover quick; no persistence: the
	// replicas are the copies this cluster keeps.
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "1000",
		// A replica of a busy test machine may have lost its link for a
		// while; it must still take over.
		"--cluster-replica-validity-factor", "0", "--appendonly", "no", "--save", "",
		// Replicas sync at once rather than after the default 5 s, so
		// WaitHealthy can wait for their first sync to end; DEBUG lets a
		// test make a node load a dataset.
		"--repl-diskless-sync-delay", "0", "--enable-debug-command", "local")
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[port] = cmd
	c.mu.Unlock()
}

func (c *Cluster) waitPing(port int) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := c.cli(port, "ping"); err == nil && strings.TrimSpace(out) == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("redis on port %d does not answer", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	cmd := c.procs[port]
	c.procs[port] = nil
	c.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
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
