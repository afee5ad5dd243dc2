package delayproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/delayproxy"
)

// echo starts a line echo server: each line read is written back.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, l); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T, o delayproxy.Options) *delayproxy.Proxy {
	t.Helper()
	p, err := delayproxy.Start("127.0.0.1:0", echo(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip writes msg (one or more lines) and reads back as many lines.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	for range strings.Count(msg, "\n") {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
}

func TestProxy_Turnarounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []string // each sent whole, then its answers read
		want int64
	}{
		{"one", []string{"a\n"}, 1},
		{"sequential", []string{"a\n", "b\n", "c\n"}, 3},
		{"pipelined", []string{"a\nb\nc\n"}, 1},
		{"mixed", []string{"a\nb\n", "c\n"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, delayproxy.Options{})
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for _, m := range tc.msgs {
				roundTrip(t, c, r, m)
			}
			if got := p.Stats(); got.Turnarounds != tc.want || got.Conns != 1 {
				t.Errorf("Stats() = %+v; want %d turnarounds on 1 connection", got, tc.want)
			}
			p.Reset()
			if got := p.Stats(); got != (delayproxy.Stats{}) {
				t.Errorf("Stats() after Reset = %+v; want zero", got)
			}
		})
	}
}

// TestProxy_Tap: Tap sees every chunk a client sends, those that follow
// on a connection without an answer between (a frozen store, commands
// pipelined) too, where Trace sees only the turnaround's first.
func TestProxy_Tap(t *testing.T) {
	var mu sync.Mutex
	var tapped, traced string
	grew := make(chan struct{}, 16)
	p := start(t, delayproxy.Options{
		Tap: func(_ string, b []byte) {
			mu.Lock()
			tapped += string(b)
			mu.Unlock()
			grew <- struct{}{}
		},
		Trace: func(_ string, b []byte) {
			mu.Lock()
			traced += string(b)
			mu.Unlock()
		},
	})
	p.Freeze()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return tapped, traced
	}
	for _, msg := range []string{"a\n", "b\n"} {
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		// One chunk each: the next is written only once this one was read.
		select {
		case <-grew:
		case <-time.After(10 * time.Second):
			t.Fatalf("%q written 10 s ago never reached Tap", msg)
		}
	}
	if tap, trace := got(); tap != "a\nb\n" || trace != "a\n" {
		t.Errorf("frozen: tapped %q, traced %q; want %q, %q", tap, trace, "a\nb\n", "a\n")
	}
	p.Thaw()
	r := bufio.NewReader(c)
	for range 2 {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
}

// The delay is a lower bound (the proxy sleeps until each chunk is due),
// so asserting it cannot flake on a slow machine.
func TestProxy_RTT(t *testing.T) {
	const rtt = 40 * time.Millisecond
	var mu sync.Mutex
	var traced []string
	p := start(t, delayproxy.Options{RTT: rtt, Trace: func(_ string, b []byte) {
		mu.Lock()
		traced = append(traced, string(b))
		mu.Unlock()
	}})
	if p.RTT() != rtt {
		t.Errorf("RTT() = %v; want %v", p.RTT(), rtt)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	t0 := time.Now()
	roundTrip(t, c, r, "a\n")
	roundTrip(t, c, r, "b\n")
	if el := time.Since(t0); el < 2*rtt {
		t.Errorf("two round trips took %v; want at least %v", el, 2*rtt)
	}
	mu.Lock()
	if strings.Join(traced, "") != "a\nb\n" {
		t.Errorf("traced %q; want the two requests", traced)
	}
	mu.Unlock()
	p.SetRTT(-time.Second)
	if p.RTT() != 0 {
		t.Errorf("RTT() after SetRTT(negative) = %v; want 0", p.RTT())
	}
}

func TestProxy_BadTarget(t *testing.T) {
	p, err := delayproxy.Start("127.0.0.1:0", "127.0.0.1:1", delayproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("Read through a proxy whose target refuses = %v; want io.EOF", err)
	}
}

func TestStart_BadAddress(t *testing.T) {
	if _, err := delayproxy.Start("not an address", "127.0.0.1:1", delayproxy.Options{}); err == nil {
		t.Error("Start(bad address) = nil error; want one")
	}
}

// Close ends open connections and returns: the goroutines are joined.
func TestProxy_CloseWithOpenConnection(t *testing.T) {
	p := start(t, delayproxy.Options{})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, bufio.NewReader(c), "a\n")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close = nil error; want the connection closed")
	}
}

// TestProxy_Freeze: a frozen proxy forwards nothing, its connections
// open, until Thaw, which forwards what it held; Close ends a freeze.
func TestProxy_Freeze(t *testing.T) {
	p := start(t, delayproxy.Options{})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip(t, c, r, "a\n")

	p.Freeze()
	if _, err := io.WriteString(c, "b\n"); err != nil {
		t.Fatal(err)
	}
	// A short look: nothing may come back while frozen.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if l, err := r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read while frozen = %q, %v; want nothing (deadline exceeded)", l, err)
	}
	c.SetReadDeadline(time.Time{})
	p.Thaw()
	if l, err := r.ReadString('\n'); err != nil || l != "b\n" {
		t.Fatalf("read after Thaw = %q, %v; want the held line", l, err)
	}

	p.Freeze()
	if _, err := io.WriteString(c, "c\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close of a frozen proxy still waiting after 30s")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := r.ReadString('\n'); err == nil {
		t.Errorf("read after Close = %q; want the connection closed", l)
	}
}
