package redisclustertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/testenv"
)

// Pair is a standalone Redis master with one replica, two server
// processes on loopback: what a test needs to make a replica fall behind
// and then promote it, as a failover would.
type Pair struct {
	t       testing.TB
	c       *Cluster // reuses the process bookkeeping and redis-cli helpers
	Master  int      // port
	Replica int      // port
	mu      sync.Mutex
	stopped bool
}

// StartPair starts the master and its replica and waits until the replica
// has finished its first sync. Skips or fails as Start does. The processes
// are killed at cleanup.
func StartPair(t testing.TB) *Pair {
	t.Helper()
	testenv.Programs(t, "a Redis master and replica", "", "redis-server", "redis-cli")
	c := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*node{}}
	p := &Pair{t: t, c: c}
	t.Cleanup(func() {
		p.Continue()
		c.killAll()
	})
	// The master never drops a replica whose output buffer grows (limit
	// 0): a test makes the replica fall behind by stopping it.
	p.Master = c.launch(func(port int) { c.start(port, "--client-output-buffer-limit", "replica 0 0 0") })
	p.Replica = c.launch(func(port int) { c.start(port, "--replicaof", "127.0.0.1", strconv.Itoa(p.Master)) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := c.cli(p.Replica, "info")
		if err == nil && synced(info) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica on port %d did not sync: %v\n%s", p.Replica, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// URL is the master's redisstore URL (database 0).
func (p *Pair) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(p.Master) + "/0" }

// ReplicaURL is the replica's redisstore URL (database 0).
func (p *Pair) ReplicaURL() string { return "redis://127.0.0.1:" + strconv.Itoa(p.Replica) + "/0" }

// Stop stops the replica (SIGSTOP): it no longer reads its master's
// stream, which piles up in the master's output buffer once the sockets'
// buffers are full.
func (p *Pair) Stop() { p.signal(pauseSignal, true) }

// Continue resumes a stopped replica (SIGCONT).
func (p *Pair) Continue() { p.signal(resumeSignal, false) }

func (p *Pair) signal(sig syscall.Signal, stopped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.c.mu.Lock()
	n := p.c.procs[p.Replica]
	p.c.mu.Unlock()
	if n == nil || p.stopped == stopped {
		return
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal replica: %v", err)
	}
	p.stopped = stopped
}

// KillMaster kills the master with SIGKILL, as a crash: what it had not
// sent to the replica is lost.
func (p *Pair) KillMaster() { p.c.Kill(p.Master) }

// Promote makes the replica a master (REPLICAOF NO ONE), as a failover
// does, and waits until it serves writes.
func (p *Pair) Promote() {
	p.t.Helper()
	p.Continue()
	if out, err := p.c.Run(p.Replica, "replicaof", "no", "one"); err != nil || out != "OK" {
		p.t.Fatalf("REPLICAOF NO ONE = %q, %v", out, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := p.c.Run(p.Replica, "role")
		if err == nil && strings.HasPrefix(out, "master") {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("replica on port %d did not become a master: %q, %v", p.Replica, out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Run runs one redis-cli command against the node on port.
func (p *Pair) Run(port int, args ...string) (string, error) { return p.c.Run(port, args...) }

// WriteThenFailover makes write while the replica cannot take it (stopped,
// the master's replication buffer full), then kills the master and
// promotes the replica. Either write returns first (an error: it did not
// wait for the replica, whose copy then lacks it) or the master shows it
// blocked in WAIT, and the replica is resumed so that write can end
// before the failover. An error from write fails the test.
func (p *Pair) WriteThenFailover(what string, write func() error) {
	p.t.Helper()
	// The replica has everything so far before it stops.
	if out, err := p.Run(p.Master, "wait", "1", "10000"); err != nil || out != "1" {
		p.t.Fatalf("WAIT 1 = %q, %v; want 1", out, err)
	}
	p.Stop()
	p.fillReplicaBuffer()
	done := make(chan error, 1)
	go func() { done <- write() }()
	returned := false
	for !returned && !p.Blocked() {
		select {
		case err := <-done:
			if err != nil {
				p.t.Fatalf("%s = %v", what, err)
			}
			returned = true
		case <-time.After(2 * time.Millisecond):
		}
	}
	if returned {
		p.t.Errorf("%s returned before a replica had it", what)
	} else {
		p.Continue()
		if err := <-done; err != nil {
			p.t.Fatalf("%s = %v", what, err)
		}
	}
	p.KillMaster()
	p.Promote()
}

// Blocked reports whether a client on the master is blocked (in WAIT).
func (p *Pair) Blocked() bool { return p.c.Blocked(p.Master) }

// fillReplicaBuffer writes to the master more than the sockets between
// it and the (stopped) replica can buffer: what the master writes next
// stays in its own memory, lost if it is killed. The most Linux buffers
// is the largest receive plus send buffer (tcp_rmem and tcp_wmem's third
// fields); 48 MiB where they cannot be read. One key is overwritten, so
// the dataset stays small.
func (p *Pair) fillReplicaBuffer() {
	p.t.Helper()
	total := 0
	for _, f := range []string{"/proc/sys/net/ipv4/tcp_rmem", "/proc/sys/net/ipv4/tcp_wmem"} {
		b, err := os.ReadFile(f)
		fs := strings.Fields(string(b))
		if err != nil || len(fs) != 3 {
			total = 48 << 20
			break
		}
		n, _ := strconv.Atoi(fs[2])
		total += n
	}
	total += 16 << 20
	opt, err := rueidis.ParseURL(p.URL())
	if err != nil {
		p.t.Fatal(err)
	}
	opt.DisableCache = true
	master, err := rueidis.NewClient(opt)
	if err != nil {
		p.t.Fatal(err)
	}
	defer master.Close()
	value := strings.Repeat("x", 1<<20)
	for written := 0; written < total; written += len(value) {
		if err := master.Do(context.Background(), master.B().Set().Key("filler").Value(value).Build()).Error(); err != nil {
			p.t.Fatal(err)
		}
	}
}

// start starts a node on port, without persistence, with extra
// arguments. Replicas sync at once rather than after the default 5 s, so
// that a test can wait for their first sync to end (WaitHealthy).
func (c *Cluster) start(port int, extra ...string) {
	dir := filepath.Join(c.dir, strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "no", "--save", "", "--repl-diskless-sync-delay", "0"}, extra...)
	n := &node{cmd: exec.Command("redis-server", args...), dir: dir, exited: make(chan struct{})}
	n.cmd.Stdout, n.cmd.Stderr = &n.out, &n.out
	n.cmd.SysProcAttr = ownGroup()
	if err := n.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	c.mu.Lock()
	c.procs[port] = n
	c.ports = append(c.ports, port)
	c.mu.Unlock()
}

// Stop stops the node on port (SIGSTOP): it neither answers nor reads
// its master's stream until Continue. Cleanup kills it all the same.
func (c *Cluster) Stop(port int) { c.signal(port, pauseSignal) }

// Continue resumes a node Stop stopped (SIGCONT).
func (c *Cluster) Continue(port int) { c.signal(port, resumeSignal) }

func (c *Cluster) signal(port int, sig syscall.Signal) {
	c.mu.Lock()
	n := c.procs[port]
	c.mu.Unlock()
	if n == nil {
		return
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal node %d: %v", port, err)
	}
}

// SlotOwner returns the port of the master that serves key's slot now and
// the port of its replica (0 if it has none), as CLUSTER NODES on a live
// node reports the master, and the replica itself (ROLE) its replica: the
// other nodes' view of a replica lags, as gossip spreads, and flags it
// failing once it has missed the pings of a second, which it does on a
// busy machine (seen: "master without a replica" right after Start). A
// node stopped (Stop) does not answer: its replica is not found then.
func (c *Cluster) SlotOwner(key string) (master, replica int) {
	c.t.Helper()
	live := c.Live()
	if len(live) == 0 {
		c.t.Fatal("no live node")
	}
	out, err := c.Run(live[0], "cluster", "keyslot", key)
	if err != nil {
		c.t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	slot, err := strconv.Atoi(out)
	if err != nil {
		c.t.Fatalf("CLUSTER KEYSLOT = %q", out)
	}
	nodes, err := c.Run(live[0], "cluster", "nodes")
	if err != nil {
		c.t.Fatalf("CLUSTER NODES: %v", err)
	}
	// <id> <ip:port@bus> <flags> <master id> <ping> <pong> <epoch> <link> <slot ranges…>
	portOf := func(addr string) int {
		addr, _, _ = strings.Cut(addr, "@")
		_, p, _ := strings.Cut(addr, ":")
		n, _ := strconv.Atoi(p)
		return n
	}
	for line := range strings.Lines(nodes) {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "master") {
			continue
		}
		for _, r := range f[8:] {
			lo, hi, isRange := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 == nil && err2 == nil && a <= slot && slot <= b {
				master = portOf(f[1])
			}
		}
	}
	if master == 0 {
		c.t.Fatalf("no master serves slot %d:\n%s", slot, nodes)
	}
	for _, p := range live {
		// slave, its master's host and port, the link's state, the offset
		if role, err := askBounded(p, 10*time.Second, "role"); err == nil {
			if f := strings.Fields(role); len(f) >= 3 && f[0] == "slave" && f[2] == strconv.Itoa(master) {
				replica = p
			}
		}
	}
	return master, replica
}

// StartServer starts one standalone Redis with extra arguments (such as
// --rename-command) and returns its port once it answers, and is the
// server answering there. Skips or fails as Start does; the process is
// killed at cleanup.
func StartServer(t testing.TB, extra ...string) int {
	port, _ := StartProcess(t, extra...)
	return port
}

// StartProcess is StartServer that also returns the server's process, for
// a test that freezes it (SIGSTOP) or kills it itself: the process a
// signal reaches is the one the test's clients talk to. Killed at cleanup,
// stopped or not.
func StartProcess(t testing.TB, extra ...string) (port int, proc *os.Process) {
	t.Helper()
	testenv.Programs(t, "a Redis server", "", "redis-server", "redis-cli")
	c := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*node{}}
	t.Cleanup(c.killAll)
	port = c.launch(func(port int) { c.start(port, extra...) })
	return port, c.procs[port].cmd.Process
}
