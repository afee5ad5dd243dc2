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
// was reached.
type limitLog struct{ c chan string }

func (h limitLog) Enabled(context.Context, slog.Level) bool { return true }
func (h limitLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h limitLog) WithGroup(string) slog.Handler            { return h }
func (h limitLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "connection limit") {
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
	addr := strings.TrimPrefix(base, "http://")

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
	first, r1 := get()
	answered(r1)
	_, r2 := get()
	answered(r2)
	// Both stay open (keep-alive): the listener is full.
	select {
	case <-warned:
	case <-time.After(10 * time.Second):
		t.Fatal("no warning that the connection limit was reached, with 2 connections held and MaxConns 2")
	}
	_, r3 := get()
	first.Close()
	answered(r3)
}
