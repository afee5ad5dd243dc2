package server_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
)

// limitLog passes on the messages of warnings that the connection limit
// was reached, on the listener named (any when empty).
type limitLog struct {
	c        chan string
	listener string
}

func (h limitLog) Enabled(context.Context, slog.Level) bool { return true }
func (h limitLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h limitLog) WithGroup(string) slog.Handler            { return h }
func (h limitLog) Handle(_ context.Context, r slog.Record) error {
	listener := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "listener" {
			listener = a.Value.String()
		}
		return true
	})
	if strings.Contains(r.Message, "connection limit") && (h.listener == "" || h.listener == listener) {
		select {
		case h.c <- r.Message:
		default:
		}
	}
	return nil
}

// TestRun_ConnectionLimit: the API listener holds at most MaxConns
// connections; one more waits, and is served once another closes.
func TestRun_ConnectionLimit(t *testing.T) {
	warned := make(chan string, 1)
	base := servertest.Run(t, server.Options{Config: servertest.Config(t), InsecureDev: true, MaxConns: 2,
		Logger: slog.New(limitLog{c: warned})})
	heldAndWaiting(t, strings.TrimPrefix(base, "http://"), 2, warned)
}

// TestRun_AdminConnectionLimit: the admin listener (server.admin_listen)
// is bounded as well, by its own share: idle keep-alive connections to it
// cannot take the descriptors the store needs. With AdminMaxConns 2, a
// third connection waits until one of the two closes.
func TestRun_AdminConnectionLimit(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.Server.AdminListen = "127.0.0.1:0"
	warned := make(chan string, 1)
	admin := make(chan string, 1)
	servertest.Run(t, server.Options{Config: cfg, InsecureDev: true, AdminMaxConns: 2,
		AdminListening: func(a string) { admin <- a },
		Logger:         slog.New(limitLog{c: warned, listener: "admin"})})
	heldAndWaiting(t, <-admin, 2, warned)
}

// heldAndWaiting holds n keep-alive connections to addr, waits for the
// warning that the listener is full, then shows that one more connection
// is answered once one of the n closes.
func heldAndWaiting(t *testing.T, addr string, n int, warned <-chan string) {
	t.Helper()
	// get sends GET /healthz on a new connection, left open.
	get := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// Fails the test instead of hanging it if an answer never comes.
		if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: sessiond\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	answered := func(r *bufio.Reader) {
		t.Helper()
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz = %d; want 200", resp.StatusCode)
		}
	}
	var first net.Conn
	for i := range n {
		c, r := get()
		answered(r)
		if i == 0 {
			first = c
		}
	}
	// All stay open (keep-alive): the listener is full.
	select {
	case <-warned:
	case <-time.After(10 * time.Second):
		t.Fatalf("no warning that the connection limit was reached, with %d connections held and a limit of %d", n, n)
	}
	_, r := get()
	first.Close()
	answered(r)
}
