package redisclustertest

import (
	"net"
	"strconv"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestLaunch_PortTaken: a port picked free may be taken before the node
// binds it, or a cluster node's bus port (port + 10000) be taken already;
// the node then exits at start, or another server answers on its port.
// launch must try another port, and return one that its own node serves.
func TestLaunch_PortTaken(t *testing.T) {
	testenv.Programs(t, "a Redis server", "", "redis-server", "redis-cli")
	listen := func(t *testing.T, port int) {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	// server takes port with another redis-server started with args.
	server := func(args ...string) func(t *testing.T, port int) {
		return func(t *testing.T, port int) {
			other := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*node{}}
			t.Cleanup(other.killAll)
			other.start(port, args...)
			if err := other.up(port); err != nil {
				t.Fatal(err)
			}
		}
	}
	noInfo := []string{"--rename-command", "INFO", ""}
	for _, tt := range []struct {
		name    string
		cluster bool                         // start a cluster node (with a bus port)
		args    []string                     // the node's
		take    func(t *testing.T, port int) // takes port, or its bus port, first
	}{
		{"port held by a listener", false, nil, listen},
		{"bus port held by a listener", true, nil, func(t *testing.T, port int) { listen(t, port+10000) }},
		{"port served by another redis-server", false, nil, server()},
		{"port served by another redis-server, INFO renamed away", false, noInfo, server(noInfo...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{t: t, dir: t.TempDir(), procs: map[int]*node{}}
			t.Cleanup(c.killAll)
			taken := 0
			port := c.launch(func(port int) {
				if taken == 0 {
					taken = port
					tt.take(t, port)
				}
				if tt.cluster {
					c.startNode(port, steadyNodeTimeout)
				} else {
					c.start(port, tt.args...)
				}
			})
			if port == taken {
				t.Fatalf("launch() = %d, the port taken", port)
			}
			if err := c.up(port); err != nil {
				t.Errorf("launch() = %d, not served by its node: %v", port, err)
			}
			if live := c.Live(); len(live) != 1 || live[0] != port {
				t.Errorf("Live() = %v; want [%d]", live, port)
			}
		})
	}
}
