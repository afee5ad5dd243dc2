package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/redisclustertest"
)

// chain is one client's refresh chain, as the client saw it.
type chain struct {
	session sessiond.SessionID
	token   sessiond.Secret // the last refresh token a response handed back
	acked   int             // refreshes answered 200
	last    time.Time       // last_active_at in the last answer
}

// refreshUntilKilled runs one refresh loop per chain against n, and kills
// n once killAt refreshes in all were acknowledged. took gets each
// acknowledged answer before it is counted (false: stop that loop). It
// returns when every loop has stopped, and fails t if the load stopped
// before the kill.
func refreshUntilKilled(t *testing.T, n *node, chains []*chain, killAt int64, took func(*chain, *client.TokenResponse) bool) {
	t.Helper()
	c := n.client()
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
				if !took(ch, tr) {
					return
				}
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
}

// login is one client's loop of logins and logouts, as the client saw it.
type login struct {
	subject string               // the subject of this worker's next login
	created []sessiond.SessionID // logins answered 201
	revoked int                  // how many of created were revoked with a 204
	// pending: the kill interrupted a revocation of created[revoked]
	// (revoking) or the login of subject (neither).
	revoking bool
}

// TestE2E_CrashKeepsRefreshAndEvent kills `sessiond serve` with SIGKILL
// in the middle of a load of refreshes (32 clients) and of logins and
// logouts (8 clients), restarts it on the same store, and checks, client by
// client, that the changes and their events agree. Every refresh a client
// saw acknowledged has its session.refreshed event, and a refresh the kill
// interrupted has its event exactly when its rotation was stored (the
// client's last token then counts as reused, with no grace: reuse_interval
// is 0s). Every login and logout acknowledged has its session.created or
// session.revoked event; one the kill interrupted has its event exactly
// when the session (or its revocation) was stored.
func TestE2E_CrashKeepsRefreshAndEvent(t *testing.T) {
	t.Parallel()
	const (
		clients = 32
		logins  = 8
		killAt  = 240 // acknowledged refreshes before the kill
	)
	for _, b := range crashBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
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
			var wg sync.WaitGroup
			workers := make([]*login, logins)
			for w := range workers {
				workers[w] = &login{}
				l := workers[w]
				wg.Go(func() {
					for k := 0; ; k++ {
						l.subject = fmt.Sprintf("crash-login-%d-%d", w, k)
						tr, err := c.CreateSession(context.Background(), client.CreateRequest{Subject: l.subject})
						if err != nil {
							return
						}
						l.created = append(l.created, tr.Session.ID)
						l.revoking = true
						if err := c.RevokeSession(context.Background(), tr.Session.ID); err != nil {
							return
						}
						l.revoking = false
						l.revoked++
					}
				})
			}
			refreshUntilKilled(t, n, chains, killAt, func(ch *chain, tr *client.TokenResponse) bool {
				ch.token = tr.RefreshToken
				return true
			})
			wg.Wait() // the login loops, which end with the server

			n2 := startNode(t, nc)
			b.settle(t)
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
			for w, l := range workers {
				checkLogins(t, c2, w, l)
			}
			n2.stop()
		})
	}
}

// crashBackend is a backend for the crash tests, with what to wait for
// after the restart before the event log is complete.
type crashBackend struct {
	backend
	settle func(t *testing.T)
}

// crashBackends are backends(t) and a Redis Cluster (three masters with a
// replica each). On a Cluster a change's records are kept pending in its
// slot and moved after it; what a kill left pending is moved by the
// restarted node's first sweep, pendingAge (10 s) after it opens the
// store (docs/redisstore.md), so the check waits until no pending hash is
// left on any master: the sweep moves a block to the event log before it
// deletes its field, and Redis drops a hash with its last field.
func crashBackends(t *testing.T) []crashBackend {
	var out []crashBackend
	for _, b := range backends(t) {
		out = append(out, crashBackend{b, func(*testing.T) {}})
	}
	var cluster *redisclustertest.Cluster
	return append(out, crashBackend{backend{"redis-cluster", func(t testing.TB) []string {
		cluster = redisclustertest.Start(t)
		return []string{"SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + cluster.URL()}
	}}, func(t *testing.T) {
		if left := pendingHashes(t, cluster); left != "" {
			t.Logf("pending hashes the kill left:\n%s", left)
		}
		// Polled every 250 ms, not eventually's 10: each look is a
		// redis-cli process per master, CPU the sweep itself needs.
		for end := time.Now().Add(60 * time.Second); pendingHashes(t, cluster) != ""; time.Sleep(250 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("pending hashes left 60s after the restart (the restarted node's sweep runs 10s after it opens the store):\n%s", pendingHashes(t, cluster))
			}
		}
	}})
}

// pendingHashes returns the pending hashes (the default prefix's) on the
// cluster's masters, one a line; "" when there are none.
func pendingHashes(t *testing.T, cluster *redisclustertest.Cluster) string {
	t.Helper()
	var keys []string
	for _, port := range cluster.Masters() {
		out, err := cluster.Run(port, "--scan", "--pattern", "sd:{*}:pending")
		if err != nil {
			t.Fatalf("SCAN for pending hashes on port %d: %v", port, err)
		}
		if out != "" {
			keys = append(keys, out)
		}
	}
	return strings.Join(keys, "\n")
}

// checkLogins checks one login worker's sessions against the event log.
func checkLogins(t *testing.T, c *client.Client, w int, l *login) {
	t.Helper()
	for i, id := range l.created {
		if n := countEvents(t, c, client.EventQuery{SessionID: id, Type: sessiond.EventSessionCreated}); n != 1 {
			t.Errorf("login worker %d: acknowledged login %s has %d session.created events; want 1", w, id, n)
		}
		revokedEvents := countEvents(t, c, client.EventQuery{SessionID: id, Type: sessiond.EventSessionRevoked})
		_, err := c.GetSession(t.Context(), id)
		live := err == nil
		if err != nil && !errors.Is(err, sessiond.ErrNotFound) {
			t.Fatalf("GetSession(%s) = %v", id, err)
		}
		switch {
		case i < l.revoked: // logout acknowledged
			if live || revokedEvents != 1 {
				t.Errorf("login worker %d: acknowledged logout of %s: live %v, %d session.revoked events; want revoked and 1",
					w, id, live, revokedEvents)
			}
		case l.revoking: // the logout the kill interrupted
			if live != (revokedEvents == 0) || revokedEvents > 1 {
				t.Errorf("login worker %d: interrupted logout of %s: live %v with %d session.revoked events",
					w, id, live, revokedEvents)
			}
		}
	}
	if l.revoking {
		return
	}
	// The login the kill interrupted: stored exactly when its event is.
	created := countEvents(t, c, client.EventQuery{Subject: l.subject, Type: sessiond.EventSessionCreated})
	ss, err := c.ListSessions(t.Context(), l.subject)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != created || created > 1 {
		t.Errorf("login worker %d: interrupted login of %s: %d sessions, %d session.created events", w, l.subject, len(ss), created)
	}
}

// countEvents counts the events q selects.
func countEvents(t *testing.T, c *client.Client, q client.EventQuery) int {
	t.Helper()
	n := 0
	q.Limit = 1000
	for {
		page, next, err := c.ListEvents(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page)
		if next == "" {
			return n
		}
		q.Cursor = next
	}
}

// refreshedEvents counts the session.refreshed events of session id.
func refreshedEvents(t *testing.T, c *client.Client, id sessiond.SessionID) int {
	t.Helper()
	return countEvents(t, c, client.EventQuery{SessionID: id, Type: sessiond.EventSessionRefreshed})
}

// TestE2E_CrashKeepsNoRotationRefreshAndEvent is the crash test for
// refreshes that keep their token (refresh.rotation: false), whose only
// store write is the session's activity: SIGKILL in the middle of 32
// clients' refreshes, a restart on the same store, then, chain by chain,
// the activity and the session.refreshed events must agree. The client
// knows the activity of its last acknowledged refresh (the answer's
// last_active_at); the refresh the kill interrupted, if any, left both its
// event and a later activity, or neither.
func TestE2E_CrashKeepsNoRotationRefreshAndEvent(t *testing.T) {
	t.Parallel()
	const (
		clients = 32
		killAt  = 240 // acknowledged refreshes before the kill
	)
	for _, b := range crashBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			nc := nodeConfig{dataDir: t.TempDir(), env: b.env(t), yaml: "refresh:\n  rotation: false\n"}
			n := startNode(t, nc)
			ctx := t.Context()
			c := n.client()
			chains := make([]*chain, clients)
			for i := range chains {
				tr, err := c.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("crash-keep-%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				chains[i] = &chain{session: tr.Session.ID, token: tr.RefreshToken, last: tr.Session.LastActiveAt}
			}
			refreshUntilKilled(t, n, chains, killAt, func(ch *chain, tr *client.TokenResponse) bool {
				if tr.RefreshToken != ch.token {
					t.Errorf("refresh with rotation off handed back another refresh token")
					return false
				}
				ch.last = tr.Session.LastActiveAt
				return true
			})

			n2 := startNode(t, nc)
			b.settle(t)
			c2 := n2.client()
			for i, ch := range chains {
				events := refreshedEvents(t, c2, ch.session)
				s, err := c2.GetSession(ctx, ch.session)
				if err != nil {
					t.Fatalf("chain %d: GetSession = %v", i, err)
				}
				later := s.LastActiveAt.After(ch.last)
				switch {
				case events == ch.acked && !later: // nothing of the interrupted refresh stored
				case events == ch.acked+1 && later: // all of it stored, unacknowledged
				default:
					t.Errorf("chain %d: %d refreshes acknowledged (last active %v); stored: %d session.refreshed events, last active %v",
						i, ch.acked, ch.last, events, s.LastActiveAt)
				}
			}
			n2.stop()
		})
	}
}
