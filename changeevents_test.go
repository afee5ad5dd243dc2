package sessiond_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// atomicSink is an AtomicSink as the server's fanout is: it hands the
// event to the store, and counts what the Manager asked of it.
type atomicSink struct {
	mu                            sync.Mutex
	prepared, committed, recorded []sessiond.Event
	refuse                        bool  // Prepare answers ok false
	fail                          error // Prepare fails
}

func (s *atomicSink) Record(_ context.Context, e sessiond.Event) error {
	if e.Type == sessiond.EventConcurrentLogin {
		return nil // a later check's, off the request's path: not what these tests count
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded = append(s.recorded, e)
	return nil
}

func (s *atomicSink) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil || s.refuse {
		return nil, nil, false, s.fail
	}
	s.prepared = append(s.prepared, e)
	d := sessiond.Delivery{ID: "msg_" + e.ID, Endpoint: "ops", EventID: e.ID, Payload: []byte("{}"),
		NextAttemptAt: e.Time, CreatedAt: e.Time, UpdatedAt: e.Time}
	return []sessiond.Event{e}, []sessiond.Delivery{d}, true, nil
}

func (s *atomicSink) Committed(_ context.Context, e sessiond.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = append(s.committed, e)
}

// sinkCase is an event sink a test runs with, and whether the store writes
// the events with the change (carried) or the sink records them after it.
type sinkCase struct {
	name    string
	sink    *atomicSink
	carried bool
}

// sinkCases are fresh sinks for each test: one that hands its writes to the
// store, and one that declines.
func sinkCases() []sinkCase {
	return []sinkCase{
		{"Carried", &atomicSink{}, true},
		{"SinkDeclines", &atomicSink{refuse: true}, false},
	}
}

// TestManager_RefreshEventWithSwap: on a ChangeEventWriter store, a hybrid
// refresh's event and delivery are written by the swap, never by Record;
// a failed refresh writes neither; a sink that declines, or fails, falls
// back to Record after the swap.
func TestManager_RefreshEventWithSwap(t *testing.T) {
	for _, tc := range append(sinkCases(), sinkCase{"PrepareFails", &atomicSink{fail: errors.New("encode")}, false}) {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Events = tc.sink })
			ctx := context.Background()
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			h.clock.Advance(time.Minute)
			next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			wantRefreshedOnce(t, h, tc, next.Session.ID)

			// The first token again, outside the reuse interval: a
			// failed swap, whose event nothing writes.
			h.clock.Advance(time.Hour)
			if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRefreshReused) {
				t.Fatalf("reused refresh = %v; want ErrRefreshReused", err)
			}
			events, _, _ := h.store.QueryEvents(ctx, sessiond.EventQuery{Type: sessiond.EventSessionRefreshed})
			if want := map[bool]int{true: 1, false: 0}[tc.carried]; len(events) != want {
				t.Fatalf("after a refused refresh, %d refreshed events stored; want %d", len(events), want)
			}
			// The reuse ended the session: its report and the revocation
			// are written by the revocation (carried), or both recorded
			// after it; never one of each.
			for _, typ := range []sessiond.EventType{sessiond.EventRefreshReused, sessiond.EventSessionRevoked} {
				stored, _, err := h.store.QueryEvents(ctx, sessiond.EventQuery{Type: typ})
				if err != nil {
					t.Fatal(err)
				}
				ds, err := refreshedDeliveries(ctx, h, stored)
				if err != nil {
					t.Fatal(err)
				}
				count := func(es []sessiond.Event) int {
					n := 0
					for _, e := range es {
						if e.Type == typ && e.SessionID == iss.Session.ID {
							n++
						}
					}
					return n
				}
				tc.sink.mu.Lock()
				rec, com := count(tc.sink.recorded), count(tc.sink.committed)
				tc.sink.mu.Unlock()
				want := [4]int{0, 0, 1, 0} // stored, deliveries, recorded, committed
				if tc.carried {
					want = [4]int{1, 1, 0, 1}
				}
				if got := [4]int{count(stored), len(ds), rec, com}; got != want {
					t.Errorf("%s: stored, deliveries, Record, Committed = %v; want %v", typ, got, want)
				}
			}
			// Again: the session is already revoked, so only the report
			// is recorded, after the (empty) change.
			if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err == nil {
				t.Fatal("refresh of a revoked session succeeded")
			}
			tc.sink.mu.Lock()
			n := 0
			for _, e := range tc.sink.recorded {
				if e.Type == sessiond.EventSessionRevoked {
					n++
				}
			}
			tc.sink.mu.Unlock()
			if n != 0 && tc.carried {
				t.Errorf("a second refresh of the revoked session recorded %d session.revoked events; want 0", n)
			}
		})
	}
}

var _ sessiond.AtomicSink = (*atomicSink)(nil)

// refreshedDeliveries returns the pending deliveries of events.
func refreshedDeliveries(ctx context.Context, h *harness, events []sessiond.Event) ([]sessiond.Delivery, error) {
	all, err := h.store.ListDeliveries(ctx, sessiond.DeliveryPending, 100)
	var out []sessiond.Delivery
	for _, d := range all {
		for _, e := range events {
			if d.EventID == e.ID {
				out = append(out, d)
			}
		}
	}
	return out, err
}

// TestManager_SessionEventsWithChange: on a ChangeRecorder store, the
// events of a login, of the session it evicts, of a rotation and of a
// revocation are written with their change, never by Record; a sink that
// declines falls back to Record after the change.
func TestManager_SessionEventsWithChange(t *testing.T) {
	for _, tc := range sinkCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				o.Events = tc.sink
				o.MaxSessions = 1
			})
			ctx := context.Background()
			first := h.create(t, "alice", sessiond.CreateOptions{})
			by := sessiond.Client{IP: "203.0.113.9", UserAgent: "second login"}
			second := h.create(t, "alice", sessiond.CreateOptions{Client: by}) // evicts first
			rotated, err := h.m.Rotate(ctx, second.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.m.Revoke(ctx, rotated.Session.ID, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			if err := h.m.Revoke(ctx, rotated.Session.ID, sessiond.ReasonAdmin); err != nil { // already revoked
				t.Fatal(err)
			}
			want := []struct {
				sid sessiond.SessionID
				typ sessiond.EventType
			}{
				{first.Session.ID, sessiond.EventSessionCreated},
				{first.Session.ID, sessiond.EventSessionRevoked}, // evicted
				{second.Session.ID, sessiond.EventSessionCreated},
				{second.Session.ID, sessiond.EventSessionRevoked}, // rotated away
				{rotated.Session.ID, sessiond.EventSessionRotated},
				{rotated.Session.ID, sessiond.EventSessionRevoked},
			}
			stored, _, err := h.store.QueryEvents(ctx, sessiond.EventQuery{Subject: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			ds, err := refreshedDeliveries(ctx, h, stored)
			if err != nil {
				t.Fatal(err)
			}
			got := tc.sink.committed
			if !tc.carried {
				got = tc.sink.recorded
				if len(stored) != 0 || len(ds) != 0 || len(tc.sink.committed) != 0 {
					t.Fatalf("store holds %d events, %d deliveries; Committed %d; want none", len(stored), len(ds), len(tc.sink.committed))
				}
			} else if len(stored) != len(want) || len(ds) != len(want) || len(tc.sink.recorded) != 0 {
				t.Fatalf("store holds %d events, %d deliveries; Record got %d; want %d, %d, 0",
					len(stored), len(ds), len(tc.sink.recorded), len(want), len(want))
			}
			count := func(sid sessiond.SessionID, typ sessiond.EventType, es []sessiond.Event) int {
				n := 0
				for _, e := range es {
					if e.SessionID == sid && e.Type == typ {
						n++
					}
				}
				return n
			}
			// The eviction names the login that ended the session (its
			// client and its session), as a logout names who logged out.
			for _, e := range got {
				if e.SessionID == first.Session.ID && e.Type == sessiond.EventSessionRevoked &&
					(e.Client != by || e.Details["reason"] != "limit" || e.Details["replaced_by"] != string(second.Session.ID)) {
					t.Errorf("eviction event: client %+v, details %v; want client %+v, reason limit, replaced_by %s", e.Client, e.Details, by, second.Session.ID)
				}
			}
			for _, w := range want {
				if n := count(w.sid, w.typ, got); n != 1 {
					t.Errorf("%s of %s reached the sink %d times; want 1", w.typ, w.sid, n)
				}
				if tc.carried {
					if n := count(w.sid, w.typ, stored); n != 1 {
						t.Errorf("%s of %s stored %d times; want 1", w.typ, w.sid, n)
					}
				}
			}
		})
	}
}

// TestManager_RevokeSubjectEventsWithChange: on a SubjectChangeRecorder,
// RevokeSubject's session.revoked events, its bulk event and their
// deliveries are written with the revocation and reach the sink through
// Committed; a sink that declines gets the same events through Record.
func TestManager_RevokeSubjectEventsWithChange(t *testing.T) {
	for _, tc := range sinkCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Events = tc.sink })
			ctx := context.Background()
			kept := h.create(t, "alice", sessiond.CreateOptions{})
			var revoked []sessiond.SessionID
			for range 3 {
				revoked = append(revoked, h.create(t, "alice", sessiond.CreateOptions{}).Session.ID)
			}
			n, err := h.m.RevokeSubject(ctx, "alice", kept.Session.ID, sessiond.ReasonAdmin)
			if err != nil || n != 3 {
				t.Fatalf("RevokeSubject = %d, %v; want 3, nil", n, err)
			}
			if n, err := h.m.RevokeSubject(ctx, "alice", kept.Session.ID, sessiond.ReasonAdmin); err != nil || n != 0 {
				t.Fatalf("second RevokeSubject = %d, %v; want 0, nil", n, err)
			}
			got := tc.sink.recorded
			if tc.carried {
				got = tc.sink.committed
				if len(tc.sink.recorded) != 0 {
					t.Errorf("Record got %d events; want none", len(tc.sink.recorded))
				}
			}
			var revs []sessiond.Event
			var bulk []sessiond.Event
			for _, e := range got {
				switch e.Type {
				case sessiond.EventSessionRevoked:
					revs = append(revs, e)
				case sessiond.EventBulkRevoked:
					bulk = append(bulk, e)
				}
			}
			if len(revs) != 3 || len(bulk) != 1 {
				t.Fatalf("sink got %d session.revoked and %d bulk events; want 3 and 1", len(revs), len(bulk))
			}
			seen := map[sessiond.SessionID]bool{}
			for _, e := range revs {
				seen[e.SessionID] = true
				if !slices.Contains(revoked, e.SessionID) || e.Subject != "alice" || e.Client != (sessiond.Client{}) ||
					len(e.Details) != 2 || e.Details["reason"] != "admin" || e.Details["revoked_at"] == nil || e.ID == "" || e.Time.IsZero() {
					t.Errorf("session.revoked = %+v; want one of %v, reason admin and revoked_at only", e, revoked)
				}
			}
			if len(seen) != 3 {
				t.Errorf("session.revoked events name %d sessions; want 3", len(seen))
			}
			b := bulk[0]
			if b.Subject != "alice" || b.SessionID != "" || len(b.Details) != 3 || b.Details["reason"] != "admin" ||
				b.Details["count"] != 3 || b.Details["except"] != string(kept.Session.ID) {
				t.Errorf("bulk event = %+v; want alice, reason admin, count 3, except %s", b, kept.Session.ID)
			}
			stored, _, err := h.store.QueryEvents(ctx, sessiond.EventQuery{Subject: "alice", Type: sessiond.EventBulkRevoked})
			if err != nil {
				t.Fatal(err)
			}
			ds, err := refreshedDeliveries(ctx, h, stored)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.carried]; len(stored) != want || len(ds) != want {
				t.Errorf("store holds %d bulk events, %d of their deliveries; want %d", len(stored), len(ds), want)
			}
			for _, sid := range revoked {
				stored, _, err := h.store.QueryEvents(ctx, sessiond.EventQuery{SessionID: sid, Type: sessiond.EventSessionRevoked})
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: 1, false: 0}[tc.carried]; len(stored) != want {
					t.Errorf("store holds %d session.revoked of %s; want %d", len(stored), sid, want)
				}
			}
		})
	}
}

// TestManager_NoRotationRefreshEventWithTouch: with NoRotation a hybrid
// refresh writes only the session's activity, and on a TouchRecorder store
// its event and delivery go in that same write, never through Record; a
// sink that declines falls back to Record after it.
func TestManager_NoRotationRefreshEventWithTouch(t *testing.T) {
	for _, tc := range sinkCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				o.Events = tc.sink
				o.NoRotation = true
			})
			ctx := context.Background()
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			h.clock.Advance(time.Minute)
			next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			if next.RefreshToken != iss.RefreshToken {
				t.Fatal("NoRotation refresh issued a new refresh token")
			}
			s, err := h.store.Get(ctx, iss.Session.ID)
			if err != nil || !s.LastActiveAt.Equal(h.clock.Now()) {
				t.Fatalf("Get after refresh = %v, %v; want LastActiveAt %v", s, err, h.clock.Now())
			}
			wantRefreshedOnce(t, h, tc, iss.Session.ID)
		})
	}
}

// wantRefreshedOnce checks what one refresh of session sid left: with a
// carried sink, its session.refreshed event and delivery in the store and
// the event committed, never recorded; otherwise the event recorded after
// the change and nothing in the store.
func wantRefreshedOnce(t *testing.T, h *harness, tc sinkCase, sid sessiond.SessionID) {
	t.Helper()
	ctx := context.Background()
	events, _, err := h.store.QueryEvents(ctx, sessiond.EventQuery{Type: sessiond.EventSessionRefreshed})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := refreshedDeliveries(ctx, h, events)
	if err != nil {
		t.Fatal(err)
	}
	var refreshed []sessiond.Event
	for _, e := range tc.sink.recorded {
		if e.Type == sessiond.EventSessionRefreshed {
			refreshed = append(refreshed, e)
		}
	}
	if tc.carried {
		if len(events) != 1 || len(ds) != 1 || events[0].SessionID != sid {
			t.Fatalf("store holds %d refreshed events, %d deliveries; want 1 and 1 of the session", len(events), len(ds))
		}
		var committed []sessiond.Event // the create's event is committed too
		for _, e := range tc.sink.committed {
			if e.Type == sessiond.EventSessionRefreshed {
				committed = append(committed, e)
			}
		}
		if len(refreshed) != 0 || len(committed) != 1 || committed[0].ID != events[0].ID {
			t.Fatalf("Record got %d refreshed events, Committed %d; want 0 and the stored one", len(refreshed), len(tc.sink.committed))
		}
	} else {
		if len(events) != 0 || len(ds) != 0 || len(refreshed) != 1 || len(tc.sink.committed) != 0 {
			t.Fatalf("store %d events %d deliveries, Record %d, Committed %d; want 0, 0, 1, 0",
				len(events), len(ds), len(refreshed), len(tc.sink.committed))
		}
	}
}
