package sessiond_test

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestManager_RevokeSubjectEventsCarryClient: the session.revoked event of
// each session RevokeSubject ends records that session's client, as
// Revoke's does (the IP and User-Agent it was issued to), on every store
// and whether the store writes the events with the change or not. They
// were recorded without any, so the security event log of a subject-wide
// revocation (the API's DELETE /v1/subjects/{subject}/sessions, the CLI's
// sessions revoke-subject) named no address.
func TestManager_RevokeSubjectEventsCarryClient(t *testing.T) {
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			for _, mode := range sinkModes {
				t.Run(mode.name, func(t *testing.T) {
					c := newCluster(t, ms, 1, mode.carry, mode.sink)
					m, ctx := c.nodes[0], context.Background()
					clients := []sessiond.Client{
						{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
						{IP: "2001:db8::2", UserAgent: "curl/8.5.0"},
						{IP: "198.51.100.9", UserAgent: "kept"},
					}
					want := map[sessiond.SessionID]sessiond.Client{}
					var kept sessiond.SessionID
					for i, cl := range clients {
						iss, err := m.Create(ctx, "erin", sessiond.CreateOptions{Client: cl})
						if err != nil {
							t.Fatal(err)
						}
						if i == len(clients)-1 {
							kept = iss.Session.ID
						} else {
							want[iss.Session.ID] = cl
						}
					}
					if n, err := m.RevokeSubject(ctx, "erin", kept, sessiond.ReasonAdmin); err != nil || n != len(want) {
						t.Fatalf("RevokeSubject = %d, %v; want %d", n, err, len(want))
					}
					c.sink.mu.Lock()
					defer c.sink.mu.Unlock()
					seen := 0
					for _, e := range c.sink.got {
						if e.Type != sessiond.EventSessionRevoked {
							continue
						}
						seen++
						if w, ok := want[e.SessionID]; !ok || e.Client != w {
							t.Errorf("session.revoked of %s: client %+v; want %+v (the session's)", e.SessionID, e.Client, w)
						}
					}
					if seen != len(want) {
						t.Errorf("%d session.revoked events; want %d", seen, len(want))
					}
				})
			}
		})
	}
}
