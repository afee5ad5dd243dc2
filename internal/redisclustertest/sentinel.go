package redisclustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// Sentinel is a Redis master and one Sentinel monitoring it, two server
// processes.
type Sentinel struct {
	c        *Cluster // reuses the process bookkeeping and redis-cli helpers
	Master   int      // port
	Sentinel int      // port
}

// sentinelMaster is the name the Sentinel knows the master by.
const sentinelMaster = "sd"

// StartSentinel starts a master listening on 127.0.0.1 and on at, and a
// Sentinel on 127.0.0.1 that names the master at at: a client given the
// Sentinel (URL) connects to the master at the address the Sentinel names,
// which the URL does not hold. Skips or fails as Start does; the
// processes are killed at cleanup.
func StartSentinel(t testing.TB, at string) *Sentinel {
	t.Helper()
	testenv.Programs(t, "a Redis Sentinel", "", "redis-server", "redis-cli")
	c := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*node{}}
	t.Cleanup(c.killAll)
	s := &Sentinel{c: c}
	if at == "127.0.0.1" {
		s.Master = c.launch(func(port int) { c.start(port) })
	} else {
		// Protected mode would refuse clients from at: no password is set.
		s.Master = c.launch(func(port int) { c.start(port, "--bind", "127.0.0.1", at, "--protected-mode", "no") })
	}
	s.Sentinel = c.freePort()
	// A Sentinel rewrites its configuration file, so it must have one.
	conf := filepath.Join(c.dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %d 1\n", s.Sentinel, c.dir, sentinelMaster, at, s.Master)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: exec.Command("redis-server", conf, "--sentinel"), dir: c.dir, exited: make(chan struct{})}
	n.cmd.Stdout, n.cmd.Stderr = &n.out, &n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	c.mu.Lock()
	c.procs[s.Sentinel] = n
	c.ports = append(c.ports, s.Sentinel)
	c.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := c.Run(s.Sentinel, "sentinel", "get-master-addr-by-name", sentinelMaster)
		if err == nil && strings.HasPrefix(out, at+"\n") {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel on port %d does not name the master: %q, %v", s.Sentinel, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is a redisstore URL that reaches the master through the Sentinel
// (rueidis ParseURL's master_set), database 0.
func (s *Sentinel) URL() string {
	return "redis://127.0.0.1:" + strconv.Itoa(s.Sentinel) + "/0?master_set=" + sentinelMaster
}
