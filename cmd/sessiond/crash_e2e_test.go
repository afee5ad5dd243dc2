package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

// chain is one client's rotating refresh chain, as the client saw it.
type chain struct {
	session sessiond.SessionID
	token   sessiond.Secret // the last refresh token a response handed back
	acked   int             // refreshes answered 200
}

// TestE2E_CrashKeepsRefreshAndEvent kills `sessiond serve` with SIGKILL
// in the middle of a refresh load from concurrent clients, restarts it on
// the same store, and checks, chain by chain, that the rotations and the
// session.refreshed events agree: every refresh a client saw acknowledged
// has its event, and a refresh the kill interrupted has its event exactly
// when its rotation was stored (the client's last token then counts as
// reused, with no grace: reuse_interval is 0s).
func TestE2E_CrashKeepsRefreshAndEvent(t *testing.T) {
	const (
		clients = 32
		killAt  = 240 // acknowledged refreshes before the kill
	)
	for _, b := range backends(t) {
		if b.name == "redis" {
			continue // its swap does not carry events yet (see docs/PERFORMANCE.md)
		}
		t.Run(b.name, func(t *testing.T) {
			nc := nodeConfig{dataDir: t.TempDir(), env: b.env(t),
				yaml: "lifetimes:\n  reuse_interval: 0s\n"}
			n := startNode(t, nc)
			ctx := t.Context()
			c := n.client()
			chains := make([]*chain, clients)
			for i := range chains {
				tr, err := c.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("crash-%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				chains[i] = &chain{session: tr.Session.ID, token: tr.RefreshToken}
			}
			var total atomic.Int64
			var killed sync.Once
			var wg sync.WaitGroup
			for _, ch := range chains {
				wg.Go(func() {
					for {
						tr, err := c.Refresh(context.Background(), ch.token, nil)
						if err != nil {
							return // the server is gone; this refresh's outcome is unknown
						}
						ch.token = tr.RefreshToken
						ch.acked++
						if total.Add(1) >= killAt {
							killed.Do(n.kill)
						}
					}
				})
			}
			wg.Wait()
			if total.Load() < killAt {
				t.Fatalf("the load stopped after %d refreshes, before the kill\n%s", total.Load(), n.log.String())
			}

			n2 := startNode(t, nc)
			c2 := n2.client()
			for i, ch := range chains {
				before := refreshedEvents(t, c2, ch.session)
				_, err := c2.Refresh(ctx, ch.token, nil)
				switch {
				case err == nil: // the interrupted refresh (if any) was not stored
					if before != ch.acked {
						t.Errorf("chain %d: %d refreshes acknowledged and not one more stored, but %d session.refreshed events",
							i, ch.acked, before)
					}
					if after := refreshedEvents(t, c2, ch.session); after != before+1 {
						t.Errorf("chain %d: a refresh after the restart left %d events; want %d", i, after, before+1)
					}
				case errors.Is(err, sessiond.ErrRefreshReused): // it was stored, unacknowledged
					if before != ch.acked+1 {
						t.Errorf("chain %d: %d refreshes acknowledged plus the interrupted one stored, but %d session.refreshed events",
							i, ch.acked, before)
					}
				default:
					t.Errorf("chain %d: refresh with the last acknowledged token after the restart: %v", i, err)
				}
			}
			n2.stop()
		})
	}
}

// refreshedEvents counts the session.refreshed events of session id.
func refreshedEvents(t *testing.T, c *client.Client, id sessiond.SessionID) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		page, next, err := c.ListEvents(t.Context(), client.EventQuery{SessionID: id, Type: sessiond.EventSessionRefreshed,
			Cursor: cursor, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n += len(page)
		if next == "" {
			return n
		}
		cursor = next
	}
}
