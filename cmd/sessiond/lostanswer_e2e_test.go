package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/gateway"
)

// dropProxy forwards each connection to the server; while drop is set it
// forwards the request and lets the server answer, then closes the
// client's connection without passing the answer on: the server acted,
// the client never hears of it.
type dropProxy struct {
	ln   net.Listener
	drop atomic.Bool
	// stall: while set (with drop), the client's connection is kept open
	// and silent instead of closed, as a link that went dead does: the
	// client learns of it only at its own timeout.
	stall atomic.Bool
}

func newDropProxy(t testing.TB, upstream string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, upstream)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *dropProxy) serve(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go io.Copy(u, c)
	if !p.drop.Load() {
		io.Copy(c, u)
		return
	}
	// The server's first bytes mean it has acted; then the answer is lost.
	var b [1]byte
	_ = u.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = u.Read(b[:])
	if p.stall.Load() {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, c) // until the client gives up
	}
}

// TestE2E_LostAnswers: a client whose answers are lost after the server
// acted sends the call again (docs/lifecycle.md, "Clients on unreliable
// networks"). A refresh sent again inside reuse_interval is taken and
// leaves one live chain; past it, the session ends as reuse with a stable
// code; a revocation sent again answers the same and records one event.
func TestE2E_LostAnswers(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, nodeConfig{env: append(b.env(t), "SESSIOND_LIFETIMES_REUSE_INTERVAL=1s",
				"SESSIOND_LIMITS_MAX_SESSIONS=1", "SESSIOND_LIMITS_POLICY=reject")})
			px := newDropProxy(t, n.addr)
			ctx := context.Background()
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			flaky, err := client.New("http://"+px.ln.Addr().String(), n.apiKey(), client.WithHTTPClient(hc))
			if err != nil {
				t.Fatal(err)
			}
			direct := n.client()
			lost := func(op string, call func() error) {
				t.Helper()
				px.drop.Store(true)
				defer px.drop.Store(false)
				var e *client.Error
				if err := call(); err == nil || errors.As(err, &e) {
					t.Fatalf("%s with its answer lost = %v; want a transport error", op, err)
				}
			}

			tok, err := direct.CreateSession(ctx, client.CreateRequest{Subject: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			lost("refresh", func() error { _, err := flaky.Refresh(ctx, tok.RefreshToken, nil); return err })
			retried, err := flaky.Refresh(ctx, tok.RefreshToken, nil)
			if err != nil {
				t.Fatalf("refresh sent again inside reuse_interval = %v; want new tokens", err)
			}
			if ss, err := direct.ListSessions(ctx, "alice"); err != nil || len(ss) != 1 {
				t.Fatalf("alice's sessions after a retried refresh = %d, %v; want 1", len(ss), err)
			}
			time.Sleep(1200 * time.Millisecond) // past reuse_interval
			next, err := flaky.Refresh(ctx, retried.RefreshToken, nil)
			if err != nil {
				t.Fatalf("refresh of the retry's token = %v; want new tokens", err)
			}

			// Past the interval the retired token is reuse: the first
			// answer says so, later ones that the session is revoked.
			lost("refresh", func() error { _, err := flaky.Refresh(ctx, next.RefreshToken, nil); return err })
			time.Sleep(1200 * time.Millisecond)
			for i, want := range []error{sessiond.ErrRefreshReused, sessiond.ErrRevoked} {
				if _, err := flaky.Refresh(ctx, next.RefreshToken, nil); !errors.Is(err, want) {
					t.Errorf("refresh %d past reuse_interval = %v; want %v", i+1, err, want)
				}
			}
			evs, _, err := direct.ListEvents(ctx, client.EventQuery{Subject: "alice", Type: "session.refresh_token_reused"})
			if err != nil || len(evs) != 1 {
				t.Errorf("session.refresh_token_reused events = %d, %v; want 1", len(evs), err)
			}

			// A revocation sent again answers the same, recorded once.
			bob, err := direct.CreateSession(ctx, client.CreateRequest{Subject: "bob"})
			if err != nil {
				t.Fatal(err)
			}
			lost("revoke", func() error { return flaky.RevokeSession(ctx, bob.Session.ID) })
			if err := flaky.RevokeSession(ctx, bob.Session.ID); err != nil {
				t.Errorf("revoke sent again = %v; want 204", err)
			}
			if err := flaky.RevokeToken(ctx, bob.RefreshToken, ""); err != nil {
				t.Errorf("token revocation of a revoked session = %v; want 200", err)
			}
			evs, _, err = direct.ListEvents(ctx, client.EventQuery{Subject: "bob", Type: "session.revoked"})
			if err != nil || len(evs) != 1 {
				t.Errorf("session.revoked events = %d, %v; want 1", len(evs), err)
			}

			// A login sent again with its Idempotency-Key, under reject
			// with max_sessions 1: the retry gets a session, and the one
			// the lost answer carried is gone instead of locking carol out.
			login := client.CreateRequest{Subject: "carol", IdempotencyKey: client.NewIdempotencyKey()}
			lost("login", func() error { _, err := flaky.CreateSession(ctx, login); return err })
			got, err := flaky.CreateSession(ctx, login)
			if err != nil {
				t.Fatalf("login sent again with its key = %v; want a session", err)
			}
			if ss, err := direct.ListSessions(ctx, "carol"); err != nil || len(ss) != 1 || ss[0].ID != got.Session.ID {
				t.Errorf("carol's sessions after a retried login = %v, %v; want the retry's alone", ss, err)
			}
			evs, _, err = direct.ListEvents(ctx, client.EventQuery{Subject: "carol", Type: "session.revoked"})
			if err != nil || len(evs) != 1 || evs[0].Details["reason"] != "retried" {
				t.Errorf("carol's session.revoked events = %v, %v; want one, reason retried", evs, err)
			}
		})
	}
}

// TestE2E_StalledRefresh: on the default configuration (reuse_interval
// 5s), a refresh whose answer is lost on a connection that goes silent,
// sent again as the browser clients do (the first attempt given up after
// gateway.FirstAttemptTimeout, the retry a second later), keeps the
// session; a replay of the token after the interval is still theft.
func TestE2E_StalledRefresh(t *testing.T) {
	n := startNode(t, nodeConfig{})
	px := newDropProxy(t, n.addr)
	ctx := context.Background()
	direct := n.client()
	viaProxy := func(timeout time.Duration) *client.Client {
		hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		c, err := client.New("http://"+px.ln.Addr().String(), n.apiKey(), client.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tok, err := direct.CreateSession(ctx, client.CreateRequest{Subject: "dana"})
	if err != nil {
		t.Fatal(err)
	}
	first := gateway.FirstAttemptTimeout(5 * time.Second) // the default reuse_interval
	px.drop.Store(true)
	px.stall.Store(true)
	_, err = viaProxy(first).Refresh(ctx, tok.RefreshToken, nil)
	px.drop.Store(false)
	px.stall.Store(false)
	var e *client.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("refresh on a silent connection = %v; want a timeout", err)
	}
	time.Sleep(time.Second) // the clients' pause before the retry
	retried, err := viaProxy(15*time.Second).Refresh(ctx, tok.RefreshToken, nil)
	if err != nil {
		t.Fatalf("refresh sent again after a silent answer = %v; want new tokens", err)
	}
	if ss, err := direct.ListSessions(ctx, "dana"); err != nil || len(ss) != 1 {
		t.Fatalf("dana's sessions after a stalled refresh = %d, %v; want 1", len(ss), err)
	}
	if _, err := direct.Refresh(ctx, retried.RefreshToken, nil); err != nil {
		t.Errorf("refresh of the retry's token = %v; want new tokens", err)
	}
	// Past the interval the first token is theft, as before.
	time.Sleep(5*time.Second - first)
	if _, err := direct.Refresh(ctx, tok.RefreshToken, nil); !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Errorf("replay of the first token past reuse_interval = %v; want %v", err, sessiond.ErrRefreshReused)
	}
}
