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
)

// dropProxy forwards each connection to the server; while drop is set it
// forwards the request and lets the server answer, then closes the
// client's connection without passing the answer on: the server acted,
// the client never hears of it.
type dropProxy struct {
	ln   net.Listener
	drop atomic.Bool
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
}

// TestE2E_LostAnswers: a client whose answers are lost after the server
// acted sends the call again (docs/lifecycle.md, "Clients on unreliable
// networks"). A refresh sent again inside reuse_interval is taken and
// leaves one live chain; past it, the session ends as reuse with a stable
// code; a revocation sent again answers the same and records one event.
func TestE2E_LostAnswers(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, nodeConfig{env: append(b.env(t), "SESSIOND_LIFETIMES_REUSE_INTERVAL=1s")})
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
		})
	}
}
