package delayproxy_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/delayproxy"
)

// silentUpstream is a listening port that never completes a connection:
// its accept queue (backlog 0) is full, so the kernel drops the SYNs of a
// new dial, which waits for the OS's connect timeout (about two minutes),
// as a dial to a host that is down does.
func silentUpstream(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the queue: the first dial that does not complete finds it full.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 500*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i == 16 {
			t.Skip("the kernel completes every connection to a full accept queue: no silent upstream here")
		}
	}
	return port
}

// synSent reports whether a socket of this network namespace is dialing
// 127.0.0.1:port (state SYN_SENT in /proc/net/tcp).
func synSent(t *testing.T, port int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	remote := fmt.Sprintf("0100007F:%04X", port)
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == remote && f[3] == "02" {
			return true
		}
	}
	return false
}

// TestProxy_CloseDuringDial: Close ends a dial to an upstream that does
// not answer and returns, rather than wait for the OS's connect timeout
// (about two minutes; before, Close waited that long for the connection's
// goroutine).
func TestProxy_CloseDuringDial(t *testing.T) {
	port := silentUpstream(t)
	p, err := delayproxy.Start("127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", port), delayproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for !synSent(t, port) {
		if time.Now().After(deadline) {
			t.Fatal("the proxy did not start dialing the upstream within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(60 * time.Second): // well below the OS's connect timeout
		t.Fatal("Close still waiting 60s later, for the dial to an upstream that does not answer")
	}
	if synSent(t, port) {
		t.Error("the dial to the upstream is still under way after Close returned")
	}
	// The client's connection is closed with the proxy.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Error("Read after Close = nil error; want the connection closed")
	}
}
