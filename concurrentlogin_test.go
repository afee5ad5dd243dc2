package sessiond_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

var (
	desktop = sessiond.Client{IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}
	phone   = sessiond.Client{IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Mobile Safari/604.1"}
)

// concurrentEvents returns subject's concurrent-login events once every
// login made so far has been checked: the checks run in order on one
// goroutine, so when a later login of another subject has its event, every
// earlier check is done.
func concurrentEvents(t *testing.T, h *harness, subject string) []sessiond.Event {
	t.Helper()
	before := h.events.Count(sessiond.EventConcurrentLogin)
	h.clock.Advance(time.Millisecond)
	h.create(t, "barrier", sessiond.CreateOptions{})
	h.clock.Advance(time.Millisecond)
	h.create(t, "barrier", sessiond.CreateOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.events.Await(ctx, sessiond.EventConcurrentLogin, before+1); err != nil {
		t.Fatalf("the barrier login's check: %v", err)
	}
	var out []sessiond.Event
	for _, e := range h.events.OfType(sessiond.EventConcurrentLogin) {
		if e.Subject == subject {
			out = append(out, e)
		}
	}
	return out
}

func TestManager_ConcurrentLogin(t *testing.T) {
	ctx := context.Background()
	login := func(c sessiond.Client) func(*testing.T, *harness) {
		return func(t *testing.T, h *harness) { h.create(t, "ann", sessiond.CreateOptions{Client: c}) }
	}
	tests := []struct {
		name      string
		before    func(*testing.T, *harness) // ann's earlier sessions
		client    sessiond.Client            // ann's login under test
		want      bool
		newDevice bool
	}{
		{name: "first login", client: desktop},
		{name: "a second device", before: login(desktop), client: phone, want: true, newDevice: true},
		{name: "the same device again", before: login(desktop), client: desktop, want: true},
		{name: "the other session logged out", before: func(t *testing.T, h *harness) {
			iss := h.create(t, "ann", sessiond.CreateOptions{Client: desktop})
			if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
		}, client: phone},
		{name: "the other session timed out", before: func(t *testing.T, h *harness) {
			login(desktop)(t, h)
			life := h.m.Lifetimes() // a token strategy's idle end is after its access token's
			h.clock.Advance(life.Access + life.Idle + time.Second)
		}, client: phone},
		{name: "the other session ended by the kill switch", before: func(t *testing.T, h *harness) {
			login(desktop)(t, h)
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(2 * time.Second)
		}, client: phone},
		{name: "another subject's session", before: func(t *testing.T, h *harness) {
			h.create(t, "bob", sessiond.CreateOptions{Client: desktop})
		}, client: phone},
	}
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, tt := range tests {
			t.Run(string(st)+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				if tt.before != nil {
					tt.before(t, h)
				}
				h.clock.Advance(time.Millisecond)
				iss := h.create(t, "ann", sessiond.CreateOptions{Client: tt.client})
				got := concurrentEvents(t, h, "ann")
				if !tt.want {
					if len(got) != 0 {
						t.Fatalf("events %+v, want none", got)
					}
					return
				}
				if len(got) != 1 {
					t.Fatalf("%d events, want 1: %+v", len(got), got)
				}
				e := got[0]
				if e.SessionID != iss.Session.ID || e.Client != tt.client {
					t.Errorf("event for session %s, client %+v; want the new session %s, client %+v", e.SessionID, e.Client, iss.Session.ID, tt.client)
				}
				if e.Details["live_sessions"] != 2 || e.Details["new_device"] != tt.newDevice {
					t.Errorf("details %v, want live_sessions 2, new_device %v", e.Details, tt.newDevice)
				}
				list, err := h.m.List(ctx, "ann")
				if err != nil || len(list) != 2 {
					t.Errorf("List: %d sessions, %v; want both", len(list), err)
				}
			})
		}
	}
}

// One event a subject a minute: a burst of logins is one alert.
func TestManager_ConcurrentLoginThrottled(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	for range 3 {
		h.clock.Advance(time.Millisecond)
		h.create(t, "ann", sessiond.CreateOptions{Client: desktop})
	}
	if got := concurrentEvents(t, h, "ann"); len(got) != 1 {
		t.Fatalf("%d events after three logins in a minute, want 1", len(got))
	}
	h.clock.Advance(time.Minute)
	h.create(t, "ann", sessiond.CreateOptions{Client: phone})
	got := concurrentEvents(t, h, "ann")
	if len(got) != 2 {
		t.Fatalf("%d events a minute later, want 2", len(got))
	}
	if d := got[1].Details; d["live_sessions"] != 4 || d["new_device"] != true {
		t.Errorf("details %v, want live_sessions 4, new_device true", d)
	}
}

// blockingList is a store whose reads of a subject (List, ListPage) wait
// until released (or their ctx ends): a check that cannot keep up.
type blockingList struct {
	*memstore.Store
	release chan struct{}
}

func (b blockingList) wait(ctx context.Context) error {
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b blockingList) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	return b.Store.List(ctx, subject, now)
}

func (b blockingList) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	if err := b.wait(ctx); err != nil {
		return sessiond.Page{}, err
	}
	return b.Store.ListPage(ctx, q)
}

// A login never waits for its check: over the rate, or with the queue
// full behind a slow store, checks are skipped and counted.
func TestManager_ConcurrentLoginSkipped(t *testing.T) {
	tests := []struct {
		name        string
		logins      int
		perSecond   int // logins between clock steps of a second
		least, most int64
	}{
		// 100 checks a second: the rest of that second's logins are skipped.
		{"over the rate", 150, 150, 50, 50},
		// Within the rate, the queue (1,024) and the check in progress
		// (once the checker has taken it) hold all but five or six.
		{"queue full", 1024 + 6, 100, 5, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, nil)
			st := blockingList{Store: memstore.New(), release: make(chan struct{})}
			m := h.node(t, st, func(o *sessiond.Options) { o.Events = h.events })
			for i := range tt.logins {
				if i > 0 && i%tt.perSecond == 0 {
					h.clock.Advance(time.Second)
				}
				if _, err := m.Create(context.Background(), "ann", sessiond.CreateOptions{Client: desktop}); err != nil {
					t.Fatalf("login %d: %v", i, err)
				}
			}
			if n := m.Stats().ConcurrentChecksSkipped; n < tt.least || n > tt.most {
				t.Errorf("%d checks skipped, want %d to %d", n, tt.least, tt.most)
			}
			close(st.release)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := h.events.Await(ctx, sessiond.EventConcurrentLogin, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Subject != "ann" {
				t.Errorf("event %+v, want ann's", got[0])
			}
		})
	}
}
