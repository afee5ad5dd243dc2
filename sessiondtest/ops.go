package sessiondtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// Limits of QueryEvents the suite pins down.
const (
	defaultEventLimit = sessiond.DefaultEventLimit
	maxEventLimit     = sessiond.MaxEventLimit
)

// mustImplement fails t, once, unless newStore's stores implement T (an
// interface named name), so a store that lacks one reads as one failure.
func mustImplement[T any](t *testing.T, newStore func(t *testing.T) sessiond.Store, name string) {
	t.Helper()
	st := newStore(t)
	if _, ok := st.(T); !ok {
		t.Fatalf("%T does not implement sessiond.%s", st, name)
	}
}

func eventLogOf(f *fixture) sessiond.EventLog {
	f.t.Helper()
	l, ok := f.st.(sessiond.EventLog)
	if !ok {
		f.t.Fatalf("%T does not implement sessiond.EventLog", f.st)
	}
	return l
}

func outboxOf(f *fixture) sessiond.Outbox {
	f.t.Helper()
	o, ok := f.st.(sessiond.Outbox)
	if !ok {
		f.t.Fatalf("%T does not implement sessiond.Outbox", f.st)
	}
	return o
}

func bulkRevokerOf(f *fixture) sessiond.BulkRevoker {
	f.t.Helper()
	r, ok := f.st.(sessiond.BulkRevoker)
	if !ok {
		f.t.Fatalf("%T does not implement sessiond.BulkRevoker", f.st)
	}
	return r
}

// newEvent returns an event of type typ at tm with every field set, and
// Details of every JSON kind.
func newEvent(typ sessiond.EventType, subject string, sid sessiond.SessionID, tm time.Time) sessiond.Event {
	return sessiond.Event{
		ID:        sessiond.NewEventID(tm),
		Time:      tm,
		Type:      typ,
		Subject:   subject,
		SessionID: sid,
		Client:    sessiond.Client{IP: "2001:db8::7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) sessiondtest"},
		Details: map[string]any{
			"reason": "logout",
			"count":  3,
			"ratio":  0.25,
			"ok":     true,
			"none":   nil,
			"tags":   []any{"a", 1.5, false},
			"nested": map[string]any{"k": "é\u00e9 <&>", "n": []any{}},
		},
	}
}

// jsonDetails is d as a JSON decoder returns it (numbers as float64), or
// nil when d is empty: the form in which stores give Details back.
func jsonDetails(t *testing.T, d map[string]any) map[string]any {
	t.Helper()
	if len(d) == 0 {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Errorf("json.Marshal(details) = %v", err)
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Errorf("json.Unmarshal(details) = %v", err)
	}
	return out
}

// checkEvent reports every field of got that differs from want. Details are
// compared after a JSON round trip of both; empty and nil are equal.
func checkEvent(t *testing.T, op string, got, want sessiond.Event) {
	t.Helper()
	ne := func(field string, g, w any) { t.Helper(); t.Errorf("%s.%s = %v; want %v", op, field, g, w) }
	if got.ID != want.ID {
		ne("ID", got.ID, want.ID)
	}
	if !got.Time.Equal(want.Time) {
		ne("Time", got.Time, want.Time)
	} else if got.Time.Location() != time.UTC {
		ne("Time.Location()", got.Time.Location(), time.UTC)
	}
	if got.Type != want.Type {
		ne("Type", got.Type, want.Type)
	}
	if got.Subject != want.Subject {
		ne("Subject", got.Subject, want.Subject)
	}
	if got.SessionID != want.SessionID {
		ne("SessionID", got.SessionID, want.SessionID)
	}
	if got.Client != want.Client {
		ne("Client", got.Client, want.Client)
	}
	if g, w := jsonDetails(t, got.Details), jsonDetails(t, want.Details); !reflect.DeepEqual(g, w) {
		ne("Details", g, w)
	}
}

func eventIDs(es []sessiond.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// sortedByID returns a copy of es in ID order.
func sortedByID(es []sessiond.Event) []sessiond.Event {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b sessiond.Event) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// matches is the reference implementation of an EventQuery's filters.
func matches(e sessiond.Event, q sessiond.EventQuery) bool {
	return (q.Subject == "" || e.Subject == q.Subject) &&
		(q.SessionID == "" || e.SessionID == q.SessionID) &&
		(q.Type == "" || e.Type == q.Type) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.Until.IsZero() || e.Time.Before(q.Until)) &&
		(q.Cursor == "" || e.ID > q.Cursor)
}

func appendEvents(f *fixture, l sessiond.EventLog, es ...sessiond.Event) {
	f.t.Helper()
	if err := l.AppendEvents(f.ctx, es...); err != nil {
		f.t.Fatalf("AppendEvents(%d events) = %v; want nil", len(es), err)
	}
}

// queryPages runs q page by page with q.Limit and returns every event. It
// checks that each cursor is the ID of the page's last event, that only the
// last page returns "", and that no page comes back empty.
func queryPages(f *fixture, l sessiond.EventLog, q sessiond.EventQuery) []sessiond.Event {
	f.t.Helper()
	var all []sessiond.Event
	for page := 0; ; page++ {
		if page > 10_000 {
			f.t.Fatalf("QueryEvents(%+v) still returns a cursor after %d pages", q, page)
		}
		got, next, err := l.QueryEvents(f.ctx, q)
		if err != nil {
			f.t.Fatalf("QueryEvents(%+v) = %v; want nil", q, err)
		}
		if q.Limit > 0 && len(got) > q.Limit {
			f.t.Fatalf("QueryEvents(%+v) returned %d events; want at most %d", q, len(got), q.Limit)
		}
		if len(got) == 0 && page > 0 {
			f.t.Errorf("QueryEvents(%+v) page %d is empty; the previous page should have returned cursor \"\"", q, page)
		}
		all = append(all, got...)
		if next == "" {
			return all
		}
		if len(got) == 0 || next != got[len(got)-1].ID {
			f.t.Fatalf("QueryEvents(%+v) cursor = %q; want the ID of the page's last event (%v)", q, next, eventIDs(got))
		}
		q.Cursor = next
	}
}

func testEventLog(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	mustImplement[sessiond.EventLog](t, newStore, "EventLog")
	t.Run("RoundTrip", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		sid := sessiond.NewSessionID()
		full := newEvent(sessiond.EventSessionRevoked, "alice", sid, at(time.Minute))
		// An event with only the required fields, between two full ones:
		// it must not pick up what its neighbours have.
		sparse := sessiond.Event{ID: sessiond.NewEventID(at(2 * time.Minute)), Time: at(2 * time.Minute), Type: sessiond.EventBulkRevoked}
		other := newEvent(sessiond.EventSessionCreated, "bob", sessiond.NewSessionID(), at(3*time.Minute))
		other.Client = sessiond.Client{IP: "198.51.100.1", UserAgent: "curl/8.0"}
		other.Details = map[string]any{"only": "this"}
		appendEvents(f, l, full, sparse, other)

		got, next, err := l.QueryEvents(f.ctx, sessiond.EventQuery{})
		if err != nil || next != "" {
			t.Fatalf("QueryEvents({}) = %d events, cursor %q, %v; want 3, \"\", nil", len(got), next, err)
		}
		want := []sessiond.Event{full, sparse, other}
		if !slices.Equal(eventIDs(got), eventIDs(want)) {
			t.Fatalf("QueryEvents({}) = %v; want %v", eventIDs(got), eventIDs(want))
		}
		for i := range want {
			checkEvent(t, fmt.Sprintf("QueryEvents({})[%d]", i), got[i], want[i])
		}
		if len(got[1].Details) != 0 {
			t.Errorf("event appended without details came back with Details %v; want none", got[1].Details)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		if err := l.AppendEvents(f.ctx); err != nil {
			t.Errorf("AppendEvents() = %v; want nil", err)
		}
		got, next, err := l.QueryEvents(f.ctx, sessiond.EventQuery{Subject: "alice"})
		if err != nil || len(got) != 0 || next != "" {
			t.Errorf("QueryEvents on an empty log = %v, %q, %v; want none, \"\", nil", eventIDs(got), next, err)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		sa, sb := sessiond.NewSessionID(), sessiond.NewSessionID()
		types := []sessiond.EventType{sessiond.EventSessionCreated, sessiond.EventSessionRefreshed, sessiond.EventSessionRevoked}
		subjects := []string{"alice", "bob", ""}
		sessions := []sessiond.SessionID{sa, sb, ""}
		rng := rand.New(rand.NewPCG(1, 2)) // fixed: every run has the same mix
		var all []sessiond.Event
		for i := range 60 {
			// Two events per minute, so since and until fall on events.
			all = append(all, newEvent(types[rng.IntN(3)], subjects[rng.IntN(3)], sessions[rng.IntN(3)],
				at(time.Duration(i/2)*time.Minute)))
		}
		// Appended out of order, in two calls: the log orders by ID.
		shuffled := slices.Clone(all)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		appendEvents(f, l, shuffled[:25]...)
		appendEvents(f, l, shuffled[25:]...)

		between := sessiond.NewEventID(at(7*time.Minute + 30*time.Second))
		// pick has every filtered field set, far enough from both ends.
		pick := all[slices.IndexFunc(all[20:], func(e sessiond.Event) bool { return e.Subject != "" && e.SessionID != "" })+20]
		for _, c := range []struct {
			name string
			q    sessiond.EventQuery
		}{
			{"All", sessiond.EventQuery{}},
			{"Subject", sessiond.EventQuery{Subject: "alice"}},
			{"SessionID", sessiond.EventQuery{SessionID: sa}},
			{"Type", sessiond.EventQuery{Type: sessiond.EventSessionRevoked}},
			{"SinceInclusive", sessiond.EventQuery{Since: at(10 * time.Minute)}},
			{"UntilExclusive", sessiond.EventQuery{Until: at(10 * time.Minute)}},
			{"SinceUntil", sessiond.EventQuery{Since: at(4 * time.Minute), Until: at(12 * time.Minute)}},
			{"SubjectType", sessiond.EventQuery{Subject: "alice", Type: sessiond.EventSessionCreated}},
			{"SubjectSessionID", sessiond.EventQuery{Subject: "bob", SessionID: sb}},
			{"Everything", sessiond.EventQuery{Subject: pick.Subject, SessionID: pick.SessionID, Type: pick.Type,
				Since: pick.Time.Add(-5 * time.Minute), Until: pick.Time.Add(time.Minute)}},
			{"TypeSince", sessiond.EventQuery{Type: sessiond.EventSessionCreated, Since: at(9 * time.Minute)}},
			{"UnknownSubject", sessiond.EventQuery{Subject: "nobody"}},
			{"UnknownType", sessiond.EventQuery{Type: "no.such.type"}},
			{"EmptyWindow", sessiond.EventQuery{Since: at(5 * time.Minute), Until: at(5 * time.Minute)}},
			// A cursor need not be an ID the log holds (it may have been
			// deleted by retention): paging resumes after it.
			{"CursorBetween", sessiond.EventQuery{Cursor: between}},
			{"CursorSubject", sessiond.EventQuery{Cursor: between, Subject: "alice"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				var want []sessiond.Event
				for _, e := range sortedByID(all) {
					if matches(e, c.q) {
						want = append(want, e)
					}
				}
				if c.name != "UnknownSubject" && c.name != "UnknownType" && c.name != "EmptyWindow" && len(want) == 0 {
					t.Fatalf("bad test: query %+v matches nothing", c.q)
				}
				q := c.q
				q.Limit = maxEventLimit
				got, next, err := l.QueryEvents(f.ctx, q)
				if err != nil || next != "" {
					t.Fatalf("QueryEvents(%+v) = %d events, cursor %q, %v; want %d, \"\", nil", q, len(got), next, err, len(want))
				}
				if !slices.Equal(eventIDs(got), eventIDs(want)) {
					t.Fatalf("QueryEvents(%+v) =\n%v\nwant\n%v", q, eventIDs(got), eventIDs(want))
				}
				for i := range want {
					checkEvent(t, fmt.Sprintf("QueryEvents(%s)[%d]", c.name, i), got[i], want[i])
				}
				// The same, three at a time.
				q.Limit = 3
				if paged := queryPages(f, l, q); !slices.Equal(eventIDs(paged), eventIDs(want)) {
					t.Errorf("QueryEvents(%+v) paged =\n%v\nwant\n%v", q, eventIDs(paged), eventIDs(want))
				}
			})
		}
	})
	t.Run("Paging", func(t *testing.T) {
		for _, n := range []int{23, 25} { // a partial last page, and an exact multiple
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				f := setup(t, newStore)
				l := eventLogOf(f)
				var all []sessiond.Event
				for i := range n {
					// Several events share each microsecond: their order is by ID.
					all = append(all, newEvent(sessiond.EventSessionCreated, "alice", "", at(time.Duration(i/3)*time.Microsecond)))
				}
				appendEvents(f, l, all...)
				got := queryPages(f, l, sessiond.EventQuery{Limit: 5})
				want := sortedByID(all)
				if !slices.Equal(eventIDs(got), eventIDs(want)) {
					t.Errorf("paging %d events 5 at a time =\n%v\nwant each once, in ID order:\n%v", n, eventIDs(got), eventIDs(want))
				}
			})
		}
	})
	t.Run("Limit", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		const n = maxEventLimit + 50
		all := make([]sessiond.Event, n)
		for i := range all {
			tm := at(time.Duration(i) * time.Millisecond)
			all[i] = sessiond.Event{ID: sessiond.NewEventID(tm), Time: tm, Type: sessiond.EventSessionCreated, Subject: "alice"}
		}
		appendEvents(f, l, all...)
		want := sortedByID(all)
		for _, c := range []struct{ limit, want int }{
			{0, defaultEventLimit},
			{1, 1},
			{maxEventLimit, maxEventLimit},
			{maxEventLimit + 1, maxEventLimit},
			{1 << 30, maxEventLimit},
		} {
			got, next, err := l.QueryEvents(f.ctx, sessiond.EventQuery{Limit: c.limit})
			if err != nil {
				t.Errorf("QueryEvents(Limit %d) = %v; want nil", c.limit, err)
				continue
			}
			if len(got) != c.want || !slices.Equal(eventIDs(got), eventIDs(want[:c.want])) {
				t.Errorf("QueryEvents(Limit %d) = %d events; want the first %d by ID", c.limit, len(got), c.want)
				continue
			}
			if next != got[len(got)-1].ID {
				t.Errorf("QueryEvents(Limit %d) cursor = %q; want %q (more events follow)", c.limit, next, got[len(got)-1].ID)
			}
		}
		_, _, err := l.QueryEvents(f.ctx, sessiond.EventQuery{Limit: -1})
		wantErr(t, "QueryEvents(Limit -1)", err, sessiond.ErrInvalidArgument)
	})
	t.Run("DuplicateIDSkipped", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		first := newEvent(sessiond.EventSessionCreated, "alice", sessiond.NewSessionID(), at(time.Minute))
		appendEvents(f, l, first)
		again := newEvent(sessiond.EventSessionRevoked, "mallory", "", at(time.Hour))
		again.ID = first.ID
		second := newEvent(sessiond.EventSessionRevoked, "alice", "", at(2*time.Minute))
		// A retried append: the existing ID is skipped, the new one stored.
		appendEvents(f, l, again, second)
		// The same ID twice in one call: stored once, as first given.
		third := newEvent(sessiond.EventSessionRefreshed, "bob", "", at(3*time.Minute))
		thirdAgain := third
		thirdAgain.Subject = "mallory"
		appendEvents(f, l, third, thirdAgain)

		got := queryPages(f, l, sessiond.EventQuery{Limit: 10})
		want := []sessiond.Event{first, second, third}
		if !slices.Equal(eventIDs(got), eventIDs(want)) {
			t.Fatalf("after appending existing IDs, QueryEvents = %v; want %v (each once)", eventIDs(got), eventIDs(want))
		}
		for i := range want {
			checkEvent(t, fmt.Sprintf("QueryEvents[%d]", i), got[i], want[i])
		}
	})
	t.Run("DeleteEventsBefore", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		before := at(time.Hour)
		var old, kept []sessiond.Event
		for i := range 10 {
			old = append(old, newEvent(sessiond.EventSessionCreated, "alice", "", before.Add(-time.Duration(i+1)*time.Microsecond)))
		}
		for i := range 5 {
			kept = append(kept, newEvent(sessiond.EventSessionCreated, "alice", "", before.Add(time.Duration(i)*time.Minute))) // the first at before
		}
		appendEvents(f, l, append(slices.Clone(kept), old...)...)
		const limit = 3
		var counts []int
		for range 10 {
			n, err := l.DeleteEventsBefore(f.ctx, before, limit)
			if err != nil {
				t.Fatalf("DeleteEventsBefore(%v, %d) = %v; want nil", before, limit, err)
			}
			counts = append(counts, n)
			if n == 0 {
				break
			}
		}
		if !slices.Equal(counts, []int{3, 3, 3, 1, 0}) {
			t.Errorf("DeleteEventsBefore(%v, %d) calls returned %v; want [3 3 3 1 0] (10 older events)", before, limit, counts)
		}
		got := queryPages(f, l, sessiond.EventQuery{Limit: 100})
		if want := sortedByID(kept); !slices.Equal(eventIDs(got), eventIDs(want)) {
			t.Errorf("after DeleteEventsBefore, QueryEvents = %v; want the events at or after %v: %v", eventIDs(got), before, eventIDs(want))
		}
		for _, limit := range []int{0, -1} {
			n, err := l.DeleteEventsBefore(f.ctx, at(100*time.Hour), limit)
			if n != 0 || !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("DeleteEventsBefore(limit %d) = %d, %v; want 0, ErrInvalidArgument", limit, n, err)
			}
		}
		if got := queryPages(f, l, sessiond.EventQuery{Limit: 100}); len(got) != len(kept) {
			t.Errorf("after DeleteEventsBefore with a bad limit, %d events; want %d", len(got), len(kept))
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		good := newEvent(sessiond.EventSessionCreated, "alice", "", t0)
		noID := newEvent(sessiond.EventSessionCreated, "alice", "", t0)
		noID.ID = ""
		err := l.AppendEvents(f.ctx, good, noID)
		wantErr(t, "AppendEvents(event without ID)", err, sessiond.ErrInvalidArgument)
		if got, _, err := l.QueryEvents(f.ctx, sessiond.EventQuery{}); err != nil || len(got) != 0 {
			t.Errorf("after a failed AppendEvents, QueryEvents = %v, %v; want nothing stored", eventIDs(got), err)
		}
	})
	t.Run("Copies", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		e := newEvent(sessiond.EventSessionCreated, "alice", "", t0)
		want := newEvent(sessiond.EventSessionCreated, "alice", "", t0)
		want.ID = e.ID
		appendEvents(f, l, e)
		e.Details["reason"] = "mutated"
		e.Details["nested"].(map[string]any)["k"] = "mutated"
		got, _, err := l.QueryEvents(f.ctx, sessiond.EventQuery{})
		if err != nil || len(got) != 1 {
			t.Fatalf("QueryEvents = %d events, %v; want 1", len(got), err)
		}
		checkEvent(t, "QueryEvents after changing the appended event", got[0], want)
		got[0].Details["reason"] = "mutated"
		if nested, ok := got[0].Details["nested"].(map[string]any); ok {
			nested["k"] = "mutated"
		}
		again, _, _ := l.QueryEvents(f.ctx, sessiond.EventQuery{})
		if len(again) == 1 {
			checkEvent(t, "QueryEvents after changing a returned event", again[0], want)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		f := setup(t, newStore)
		l := eventLogOf(f)
		e := newEvent(sessiond.EventSessionCreated, "alice", "", t0)
		appendEvents(f, l, e)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		if err := l.AppendEvents(ctx, newEvent(sessiond.EventSessionCreated, "alice", "", t0)); err == nil {
			t.Error("AppendEvents(canceled context) = nil; want an error")
		}
		if _, _, err := l.QueryEvents(ctx, sessiond.EventQuery{}); err == nil {
			t.Error("QueryEvents(canceled context) = nil error; want an error")
		}
		if _, err := l.DeleteEventsBefore(ctx, at(time.Hour), 10); err == nil {
			t.Error("DeleteEventsBefore(canceled context) = nil error; want an error")
		}
		if got := queryPages(f, l, sessiond.EventQuery{}); !slices.Equal(eventIDs(got), []string{e.ID}) {
			t.Errorf("after calls with a canceled context, QueryEvents = %v; want %v", eventIDs(got), []string{e.ID})
		}
	})
}

// newDelivery returns a pending delivery created and due at created, with
// every field set.
func newDelivery(created time.Time) sessiond.Delivery {
	return sessiond.Delivery{
		ID:            "msg_" + string(sessiond.NewSessionID()),
		Endpoint:      "security-team",
		EventID:       sessiond.NewEventID(created),
		Payload:       []byte("{\"type\": \"session.revoked\",  \"data\":{\"z\":1,\"a\":\"\u00e9\"}}\n"),
		State:         sessiond.DeliveryPending,
		NextAttemptAt: created,
		CreatedAt:     created,
		UpdatedAt:     created,
	}
}

// checkDelivery reports every field of got that differs from want.
func checkDelivery(t *testing.T, op string, got, want sessiond.Delivery) {
	t.Helper()
	ne := func(field string, g, w any) { t.Helper(); t.Errorf("%s.%s = %v; want %v", op, field, g, w) }
	if got.ID != want.ID {
		ne("ID", got.ID, want.ID)
	}
	if got.Endpoint != want.Endpoint {
		ne("Endpoint", got.Endpoint, want.Endpoint)
	}
	if got.EventID != want.EventID {
		ne("EventID", got.EventID, want.EventID)
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		ne("Payload", string(got.Payload), string(want.Payload))
	}
	if got.State != want.State {
		ne("State", got.State, want.State)
	}
	if got.Attempts != want.Attempts {
		ne("Attempts", got.Attempts, want.Attempts)
	}
	if got.LastError != want.LastError {
		ne("LastError", got.LastError, want.LastError)
	}
	for _, c := range []struct {
		field     string
		got, want time.Time
	}{
		{"NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
	} {
		if !c.got.Equal(c.want) {
			ne(c.field, c.got, c.want)
		}
	}
}

func deliveryIDs(ds []sessiond.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func enqueue(f *fixture, o sessiond.Outbox, ds ...sessiond.Delivery) {
	f.t.Helper()
	if err := o.EnqueueDeliveries(f.ctx, ds...); err != nil {
		f.t.Fatalf("EnqueueDeliveries(%d) = %v; want nil", len(ds), err)
	}
}

func claim(f *fixture, o sessiond.Outbox, now time.Time, limit int, lease time.Duration) []sessiond.Delivery {
	f.t.Helper()
	got, err := o.ClaimDeliveries(f.ctx, now, limit, lease)
	if err != nil {
		f.t.Fatalf("ClaimDeliveries(%v, %d, %v) = %v; want nil", now, limit, lease, err)
	}
	return got
}

func finish(f *fixture, o sessiond.Outbox, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, when time.Time) {
	f.t.Helper()
	if err := o.FinishDelivery(f.ctx, id, state, attempts, next, lastErr, when); err != nil {
		f.t.Fatalf("FinishDelivery(%s, %s) = %v; want nil", id, state, err)
	}
}

// wantDelivery checks that the outbox holds want, found through
// ListDeliveries in want's state and in no other state.
func wantDelivery(f *fixture, o sessiond.Outbox, want sessiond.Delivery) {
	f.t.Helper()
	found := 0
	for _, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDelivered, sessiond.DeliveryDead} {
		ds, err := o.ListDeliveries(f.ctx, state, 1000)
		if err != nil {
			f.t.Fatalf("ListDeliveries(%s) = %v; want nil", state, err)
		}
		for _, d := range ds {
			if d.ID != want.ID {
				continue
			}
			found++
			if state != want.State {
				f.t.Errorf("delivery %s is listed as %s; want %s", want.ID, state, want.State)
			}
			checkDelivery(f.t, fmt.Sprintf("ListDeliveries(%s) entry %s", state, want.ID), d, want)
		}
	}
	if found != 1 {
		f.t.Errorf("delivery %s listed %d times; want once", want.ID, found)
	}
}

func testOutbox(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	mustImplement[sessiond.Outbox](t, newStore, "Outbox")
	t.Run("RoundTrip", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		d := newDelivery(t0)
		d.NextAttemptAt = at(time.Minute)
		d.UpdatedAt = at(time.Second)
		sparse := sessiond.Delivery{ID: "msg_sparse", Endpoint: "ops", EventID: "evt_x", State: sessiond.DeliveryPending,
			NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
		enqueue(f, o, d, sparse)
		wantDelivery(f, o, d)
		wantDelivery(f, o, sparse)
	})
	t.Run("Claim", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		now := at(10 * time.Minute)
		const lease = 30 * time.Second
		// Oldest due first: by NextAttemptAt, whatever the creation order.
		var due []sessiond.Delivery
		for i := range 4 {
			d := newDelivery(at(time.Duration(10-i) * time.Second))
			d.NextAttemptAt = at(time.Duration(i) * time.Minute)
			due = append(due, d)
		}
		atNow := newDelivery(t0) // due exactly now
		atNow.NextAttemptAt = now
		due = append(due, atNow)
		later := newDelivery(t0) // not due yet: due when the leases end
		later.NextAttemptAt = now.Add(lease)
		delivered, dead := newDelivery(t0), newDelivery(t0)
		enqueue(f, o, later, due[2], delivered, atNow, due[0], dead, due[3], due[1])
		finish(f, o, delivered.ID, sessiond.DeliveryDelivered, 1, t0, "", at(time.Second))
		finish(f, o, dead.ID, sessiond.DeliveryDead, 5, t0, "HTTP 500", at(time.Second))

		first := claim(f, o, now, 3, lease)
		if want := deliveryIDs(due[:3]); !slices.Equal(deliveryIDs(first), want) {
			t.Fatalf("ClaimDeliveries(now, 3) = %v; want the 3 due longest, in order: %v", deliveryIDs(first), want)
		}
		for i, d := range first {
			w := due[i]
			w.NextAttemptAt = now.Add(lease)
			checkDelivery(t, fmt.Sprintf("ClaimDeliveries[%d]", i), d, w)
		}
		second := claim(f, o, now, 10, lease)
		if want := deliveryIDs(due[3:]); !slices.Equal(deliveryIDs(second), want) {
			t.Fatalf("second ClaimDeliveries(now, 10) = %v; want only the unclaimed due ones: %v", deliveryIDs(second), want)
		}
		if got := claim(f, o, now.Add(lease-time.Microsecond), 10, lease); len(got) != 0 {
			t.Errorf("ClaimDeliveries within the lease = %v; want none", deliveryIDs(got))
		}
		// When the lease runs out, the claimed ones (and later) are due again.
		again := claim(f, o, now.Add(lease), 10, lease)
		if want := append(deliveryIDs(due), later.ID); !sameSet(deliveryIDs(again), want) {
			t.Errorf("ClaimDeliveries after the lease = %v; want %v", deliveryIDs(again), want)
		}
		for _, d := range again {
			if !d.NextAttemptAt.Equal(now.Add(2 * lease)) {
				t.Errorf("reclaimed %s NextAttemptAt = %v; want %v", d.ID, d.NextAttemptAt, now.Add(2*lease))
			}
		}
		d := delivered
		d.State, d.Attempts, d.NextAttemptAt, d.UpdatedAt = sessiond.DeliveryDelivered, 1, t0, at(time.Second)
		wantDelivery(f, o, d)
	})
	t.Run("Finish", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		ok, retry, dead := newDelivery(t0), newDelivery(t0), newDelivery(t0)
		enqueue(f, o, ok, retry, dead)
		claimed := claim(f, o, at(time.Minute), 10, time.Minute)
		if len(claimed) != 3 {
			t.Fatalf("ClaimDeliveries = %d; want 3", len(claimed))
		}
		when := at(90 * time.Second)
		next := at(time.Hour)
		finish(f, o, ok.ID, sessiond.DeliveryDelivered, 1, time.Time{}, "", when)
		finish(f, o, retry.ID, sessiond.DeliveryPending, 2, next, "HTTP 503 Service Unavailable", when)
		finish(f, o, dead.ID, sessiond.DeliveryDead, 8, time.Time{}, "dial tcp: connection refused", when)

		ok.State, ok.Attempts, ok.NextAttemptAt, ok.UpdatedAt = sessiond.DeliveryDelivered, 1, time.Time{}, when
		retry.State, retry.Attempts, retry.NextAttemptAt, retry.LastError, retry.UpdatedAt = sessiond.DeliveryPending, 2, next, "HTTP 503 Service Unavailable", when
		dead.State, dead.Attempts, dead.NextAttemptAt, dead.LastError, dead.UpdatedAt = sessiond.DeliveryDead, 8, time.Time{}, "dial tcp: connection refused", when
		for _, d := range []sessiond.Delivery{ok, retry, dead} {
			wantDelivery(f, o, d)
		}
		if got := claim(f, o, next.Add(-time.Microsecond), 10, time.Minute); len(got) != 0 {
			t.Errorf("ClaimDeliveries before the retry is due = %v; want none", deliveryIDs(got))
		}
		got := claim(f, o, next, 10, time.Minute)
		if !slices.Equal(deliveryIDs(got), []string{retry.ID}) {
			t.Errorf("ClaimDeliveries when the retry is due = %v; want only %s (delivered and dead are never claimed)", deliveryIDs(got), retry.ID)
		}

		err := o.FinishDelivery(f.ctx, "msg_unknown", sessiond.DeliveryDelivered, 1, time.Time{}, "", when)
		wantErr(t, "FinishDelivery(unknown ID)", err, sessiond.ErrNotFound)
		err = o.FinishDelivery(f.ctx, ok.ID, "bogus", 9, time.Time{}, "x", at(time.Hour))
		wantErr(t, "FinishDelivery(state bogus)", err, sessiond.ErrInvalidArgument)
		wantDelivery(f, o, ok)
	})
	t.Run("ListAndCount", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		var pending, dead []sessiond.Delivery
		for i := range 5 {
			d := newDelivery(at(time.Duration(i) * time.Minute))
			// Newest first means by creation, not by next attempt or update.
			d.NextAttemptAt = at(time.Duration(100-i) * time.Minute)
			pending = append(pending, d)
		}
		for i := range 3 {
			d := newDelivery(at(time.Duration(i) * time.Second))
			dead = append(dead, d)
		}
		enqueue(f, o, pending[3], dead[1], pending[0], pending[4], dead[0], pending[2], dead[2], pending[1])
		for i, d := range dead {
			finish(f, o, d.ID, sessiond.DeliveryDead, 3, time.Time{}, "gone", at(time.Duration(10-i)*time.Hour))
		}
		for _, c := range []struct {
			state sessiond.DeliveryState
			limit int
			want  []sessiond.Delivery
		}{
			{sessiond.DeliveryPending, 10, []sessiond.Delivery{pending[4], pending[3], pending[2], pending[1], pending[0]}},
			{sessiond.DeliveryPending, 2, []sessiond.Delivery{pending[4], pending[3]}},
			{sessiond.DeliveryDead, 10, []sessiond.Delivery{dead[2], dead[1], dead[0]}},
			{sessiond.DeliveryDelivered, 10, nil},
		} {
			got, err := o.ListDeliveries(f.ctx, c.state, c.limit)
			if err != nil {
				t.Errorf("ListDeliveries(%s, %d) = %v; want nil", c.state, c.limit, err)
				continue
			}
			if !slices.Equal(deliveryIDs(got), deliveryIDs(c.want)) {
				t.Errorf("ListDeliveries(%s, %d) = %v; want newest first %v", c.state, c.limit, deliveryIDs(got), deliveryIDs(c.want))
			}
		}
		for _, c := range []struct {
			state sessiond.DeliveryState
			want  int
		}{{sessiond.DeliveryPending, 5}, {sessiond.DeliveryDead, 3}, {sessiond.DeliveryDelivered, 0}} {
			if n, err := o.CountDeliveries(f.ctx, c.state); n != c.want || err != nil {
				t.Errorf("CountDeliveries(%s) = %d, %v; want %d, nil", c.state, n, err, c.want)
			}
		}
		finish(f, o, pending[0].ID, sessiond.DeliveryDelivered, 1, time.Time{}, "", at(time.Hour))
		for _, c := range []struct {
			state sessiond.DeliveryState
			want  int
		}{{sessiond.DeliveryPending, 4}, {sessiond.DeliveryDelivered, 1}} {
			if n, err := o.CountDeliveries(f.ctx, c.state); n != c.want || err != nil {
				t.Errorf("after one delivery, CountDeliveries(%s) = %d, %v; want %d, nil", c.state, n, err, c.want)
			}
		}
		for _, limit := range []int{0, -1} {
			_, err := o.ListDeliveries(f.ctx, sessiond.DeliveryPending, limit)
			wantErr(t, fmt.Sprintf("ListDeliveries(limit %d)", limit), err, sessiond.ErrInvalidArgument)
		}
	})
	t.Run("DeleteDeliveriesBefore", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		before := at(time.Hour)
		var gone, kept []sessiond.Delivery
		add := func(state sessiond.DeliveryState, updated time.Time, keep bool) {
			d := newDelivery(t0)
			enqueue(f, o, d)
			if state != sessiond.DeliveryPending {
				finish(f, o, d.ID, state, 1, time.Time{}, "", updated)
			}
			d.State, d.UpdatedAt = state, updated
			if state != sessiond.DeliveryPending {
				d.Attempts, d.NextAttemptAt = 1, time.Time{}
			}
			if keep {
				kept = append(kept, d)
			} else {
				gone = append(gone, d)
			}
		}
		for i := range 3 {
			add(sessiond.DeliveryDelivered, before.Add(-time.Duration(i+1)*time.Microsecond), false)
			add(sessiond.DeliveryDead, before.Add(-time.Duration(i+1)*time.Minute), false)
		}
		add(sessiond.DeliveryDelivered, before, true) // not before `before`
		add(sessiond.DeliveryDead, before.Add(time.Minute), true)
		add(sessiond.DeliveryPending, t0, true) // pending is never deleted, however old
		const limit = 4
		var counts []int
		for range 10 {
			n, err := o.DeleteDeliveriesBefore(f.ctx, before, limit)
			if err != nil {
				t.Fatalf("DeleteDeliveriesBefore(%v, %d) = %v; want nil", before, limit, err)
			}
			counts = append(counts, n)
			if n == 0 {
				break
			}
		}
		if !slices.Equal(counts, []int{4, 2, 0}) {
			t.Errorf("DeleteDeliveriesBefore(%v, %d) calls returned %v; want [4 2 0] (6 old delivered or dead)", before, limit, counts)
		}
		for _, d := range kept {
			wantDelivery(f, o, d)
		}
		var left []string
		for _, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDelivered, sessiond.DeliveryDead} {
			ds, _ := o.ListDeliveries(f.ctx, state, 100)
			left = append(left, deliveryIDs(ds)...)
		}
		if !sameSet(left, deliveryIDs(kept)) {
			t.Errorf("after DeleteDeliveriesBefore, the outbox holds %v; want %v", left, deliveryIDs(kept))
		}
		for _, limit := range []int{0, -1} {
			n, err := o.DeleteDeliveriesBefore(f.ctx, at(100*time.Hour), limit)
			if n != 0 || !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("DeleteDeliveriesBefore(limit %d) = %d, %v; want 0, ErrInvalidArgument", limit, n, err)
			}
		}
		if n, _ := o.CountDeliveries(f.ctx, sessiond.DeliveryDelivered); n != 1 {
			t.Errorf("after DeleteDeliveriesBefore with a bad limit, %d delivered; want 1", n)
		}
	})
	t.Run("DuplicateIDSkipped", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		d := newDelivery(t0)
		enqueue(f, o, d)
		finish(f, o, d.ID, sessiond.DeliveryDelivered, 1, time.Time{}, "", at(time.Minute))
		// A retried enqueue must not bring a delivered one back.
		again := newDelivery(at(time.Hour))
		again.ID = d.ID
		fresh, freshAgain := newDelivery(at(time.Second)), newDelivery(at(time.Hour))
		freshAgain.ID = fresh.ID
		enqueue(f, o, again, fresh, freshAgain)
		d.State, d.Attempts, d.NextAttemptAt, d.UpdatedAt = sessiond.DeliveryDelivered, 1, time.Time{}, at(time.Minute)
		wantDelivery(f, o, d)
		wantDelivery(f, o, fresh)
		if n, err := o.CountDeliveries(f.ctx, sessiond.DeliveryPending); n != 1 || err != nil {
			t.Errorf("CountDeliveries(pending) = %d, %v; want 1 (the fresh one, once)", n, err)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		noID := newDelivery(t0)
		noID.ID = ""
		wantErr(t, "EnqueueDeliveries(no ID)", o.EnqueueDeliveries(f.ctx, newDelivery(t0), noID), sessiond.ErrInvalidArgument)
		notPending := newDelivery(t0)
		notPending.State = sessiond.DeliveryDelivered
		wantErr(t, "EnqueueDeliveries(state delivered)", o.EnqueueDeliveries(f.ctx, notPending), sessiond.ErrInvalidArgument)
		if n, err := o.CountDeliveries(f.ctx, sessiond.DeliveryPending); n != 0 || err != nil {
			t.Errorf("after failed enqueues, CountDeliveries(pending) = %d, %v; want 0 (all or nothing)", n, err)
		}
		for _, c := range []struct {
			limit int
			lease time.Duration
		}{{0, time.Minute}, {-1, time.Minute}, {10, 0}, {10, -time.Second}} {
			_, err := o.ClaimDeliveries(f.ctx, t0, c.limit, c.lease)
			wantErr(t, fmt.Sprintf("ClaimDeliveries(limit %d, lease %v)", c.limit, c.lease), err, sessiond.ErrInvalidArgument)
		}
		// An empty State means pending.
		d := newDelivery(t0)
		d.State = ""
		enqueue(f, o, d)
		d.State = sessiond.DeliveryPending
		wantDelivery(f, o, d)
	})
	t.Run("Copies", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		d := newDelivery(t0)
		want := d
		want.Payload = bytes.Clone(d.Payload)
		enqueue(f, o, d)
		for i := range d.Payload {
			d.Payload[i] = 'X'
		}
		got := claim(f, o, t0, 1, time.Minute)
		if len(got) != 1 {
			t.Fatalf("ClaimDeliveries = %d; want 1", len(got))
		}
		for i := range got[0].Payload {
			got[0].Payload[i] = 'Y'
		}
		want.NextAttemptAt = t0.Add(time.Minute)
		wantDelivery(f, o, want)
		list, _ := o.ListDeliveries(f.ctx, sessiond.DeliveryPending, 1)
		if len(list) == 1 {
			for i := range list[0].Payload {
				list[0].Payload[i] = 'Z'
			}
		}
		wantDelivery(f, o, want)
	})
	t.Run("ConcurrentClaim", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		const n, workers = 100, 10
		all := make([]sessiond.Delivery, n)
		for i := range all {
			all[i] = newDelivery(at(time.Duration(i) * time.Microsecond))
		}
		enqueue(f, o, all...)
		now := at(time.Minute)
		var mu sync.Mutex
		claims := make(map[string]int)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				<-start
				for {
					got, err := o.ClaimDeliveries(f.ctx, now, 3, time.Minute)
					if err != nil {
						t.Errorf("ClaimDeliveries = %v; want nil", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					total := 0
					for _, d := range got {
						claims[d.ID]++
					}
					for _, c := range claims {
						total += c
					}
					mu.Unlock()
					if total > n {
						return // some were claimed twice: reported below
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for _, d := range all {
			if c := claims[d.ID]; c != 1 {
				t.Errorf("delivery %s claimed %d times by %d concurrent workers; want exactly once", d.ID, c, workers)
			}
		}
		if len(claims) != n {
			t.Errorf("%d distinct deliveries claimed; want %d", len(claims), n)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		f := setup(t, newStore)
		o := outboxOf(f)
		d := newDelivery(t0)
		enqueue(f, o, d)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		calls := []struct {
			name string
			call func() error
		}{
			{"EnqueueDeliveries", func() error { return o.EnqueueDeliveries(ctx, newDelivery(t0)) }},
			{"ClaimDeliveries", func() error { _, err := o.ClaimDeliveries(ctx, at(time.Hour), 10, time.Minute); return err }},
			{"FinishDelivery", func() error {
				return o.FinishDelivery(ctx, d.ID, sessiond.DeliveryDead, 9, time.Time{}, "x", at(time.Hour))
			}},
			{"ListDeliveries", func() error { _, err := o.ListDeliveries(ctx, sessiond.DeliveryPending, 10); return err }},
			{"CountDeliveries", func() error { _, err := o.CountDeliveries(ctx, sessiond.DeliveryPending); return err }},
			{"DeleteDeliveriesBefore", func() error { _, err := o.DeleteDeliveriesBefore(ctx, at(time.Hour), 10); return err }},
		}
		for _, c := range calls {
			if err := c.call(); err == nil {
				t.Errorf("%s(canceled context) = nil error; want an error", c.name)
			}
		}
		wantDelivery(f, o, d)
		if n, _ := o.CountDeliveries(f.ctx, sessiond.DeliveryPending); n != 1 {
			t.Errorf("after calls with a canceled context, %d pending; want 1", n)
		}
	})
}

// sameSet reports whether a and b hold the same strings, each once.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// checkSubjects reports whether subjects lists each of want exactly once.
func checkSubjects(t *testing.T, op string, got, want []string) {
	t.Helper()
	seen := make(map[string]bool, len(got))
	for _, s := range got {
		if seen[s] {
			t.Errorf("%s lists subject %q twice; want distinct subjects", op, s)
		}
		seen[s] = true
	}
	if !sameSet(slices.Compact(slices.Sorted(slices.Values(got))), want) {
		g := slices.Sorted(slices.Values(got))
		if len(g) > 20 {
			g = append(g[:20], "…")
		}
		w := slices.Sorted(slices.Values(want))
		if len(w) > 20 {
			w = append(w[:20], "…")
		}
		t.Errorf("%s subjects = %d %q; want %d %q", op, len(got), g, len(want), w)
	}
}

func testBulkRevoker(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	mustImplement[sessiond.BulkRevoker](t, newStore, "BulkRevoker")
	when := at(10 * time.Minute)
	// population is what each case starts from: live sessions of alice,
	// bob and carol created before, at and after cutoff, and sessions of
	// alice no revocation may touch.
	cutoff := t0
	type population struct {
		live, dead []*sessiond.Session
	}
	populate := func(f *fixture) population {
		var p population
		mk := func(subject string, created time.Time) *sessiond.Session {
			s := newSession(subject, created)
			s.IdleExpiresAt = when.Add(time.Hour)
			return s
		}
		for _, subject := range []string{"alice", "bob", "carol"} {
			p.live = append(p.live,
				mk(subject, cutoff.Add(-2*time.Hour)),
				mk(subject, cutoff.Add(-time.Microsecond)),
				mk(subject, cutoff), // not before cutoff
				mk(subject, cutoff.Add(5*time.Minute)),
			)
		}
		revoked := mk("alice", cutoff.Add(-time.Hour))
		expired := mk("alice", cutoff.Add(-time.Hour))
		expired.ExpiresAt = when // not after `when`: over
		idle := mk("alice", cutoff.Add(-time.Hour))
		idle.IdleExpiresAt = when
		dave := mk("dave", cutoff.Add(-time.Hour)) // dave's only session is expired
		dave.ExpiresAt = when.Add(-time.Minute)
		p.dead = []*sessiond.Session{revoked, expired, idle, dave}
		for _, s := range append(slices.Clone(p.live), p.dead...) {
			f.create(clone(s), newToken(sessiond.KindRefresh, s.ID, s.CreatedAt))
		}
		if _, err := f.st.Revoke(f.ctx, revoked.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
			f.t.Fatalf("Revoke(%s) = %v; want nil", revoked.ID, err)
		}
		revoked.RevokedAt, revoked.RevokeReason = t0.Add(time.Second), sessiond.ReasonLogout
		return p
	}
	selects := func(rf sessiond.RevokeFilter, s *sessiond.Session) bool {
		return (len(rf.Subjects) == 0 || slices.Contains(rf.Subjects, s.Subject)) &&
			(rf.IssuedBefore.IsZero() || s.CreatedAt.Before(rf.IssuedBefore))
	}
	for _, c := range []struct {
		name string
		f    sessiond.RevokeFilter
	}{
		{"All", sessiond.RevokeFilter{All: true}},
		{"Subjects", sessiond.RevokeFilter{Subjects: []string{"alice"}}},
		{"SubjectsSeveral", sessiond.RevokeFilter{Subjects: []string{"bob", "alice", "nobody", "bob", "dave"}}},
		{"IssuedBefore", sessiond.RevokeFilter{IssuedBefore: cutoff}},
		{"AllIssuedBefore", sessiond.RevokeFilter{All: true, IssuedBefore: cutoff}},
		{"SubjectsIssuedBefore", sessiond.RevokeFilter{Subjects: []string{"bob", "carol"}, IssuedBefore: cutoff}},
		{"AllSubjects", sessiond.RevokeFilter{All: true, Subjects: []string{"carol"}}},
		{"NoMatch", sessiond.RevokeFilter{Subjects: []string{"nobody", "dave"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t, newStore)
			r := bulkRevokerOf(f)
			p := populate(f)
			var hit, missed []*sessiond.Session
			var subjects []string
			for _, s := range p.live {
				if selects(c.f, s) {
					hit = append(hit, s)
					if !slices.Contains(subjects, s.Subject) {
						subjects = append(subjects, s.Subject)
					}
				} else {
					missed = append(missed, s)
				}
			}
			if c.name != "NoMatch" && (len(hit) == 0 || len(hit) == len(p.live) && !c.f.All) {
				t.Fatalf("bad test: %+v selects %d of %d", c.f, len(hit), len(p.live))
			}

			n, got, err := r.RevokeMatching(f.ctx, c.f, when, sessiond.ReasonIncident)
			if err != nil {
				t.Fatalf("RevokeMatching(%+v) = %v; want nil", c.f, err)
			}
			if n != len(hit) {
				t.Errorf("RevokeMatching(%+v) revoked %d; want %d", c.f, n, len(hit))
			}
			checkSubjects(t, fmt.Sprintf("RevokeMatching(%+v)", c.f), got, subjects)
			var wantRevs []sessiond.Revocation
			for _, s := range hit {
				s.RevokedAt, s.RevokeReason = when, sessiond.ReasonIncident
				wantRevs = append(wantRevs, revocation(s, when, sessiond.ReasonIncident))
			}
			for _, s := range slices.Concat(hit, missed, p.dead) {
				f.wantSession(s)
			}

			// Idempotent: the same call later revokes nothing and moves nothing.
			n, got, err = r.RevokeMatching(f.ctx, c.f, when.Add(time.Minute), sessiond.ReasonAdmin)
			if err != nil || n != 0 || len(got) != 0 {
				t.Errorf("second RevokeMatching(%+v) = %d, %q, %v; want 0, none, nil", c.f, n, got, err)
			}
			for _, s := range slices.Concat(hit, missed, p.dead) {
				f.wantSession(s)
			}
			// What every node reloads into its revoked-session set.
			revs, err := f.st.Revocations(f.ctx, when)
			if err != nil {
				t.Fatalf("Revocations(%v) = %v; want nil", when, err)
			}
			checkRevocations(t, fmt.Sprintf("Revocations(%v) after RevokeMatching", when), revs, wantRevs)
		})
	}
	t.Run("EmptyFilter", func(t *testing.T) {
		f := setup(t, newStore)
		r := bulkRevokerOf(f)
		p := populate(f)
		for _, rf := range []sessiond.RevokeFilter{{}, {Subjects: []string{}}} {
			n, got, err := r.RevokeMatching(f.ctx, rf, when, sessiond.ReasonIncident)
			if n != 0 || len(got) != 0 || !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("RevokeMatching(%+v) = %d, %q, %v; want 0, none, ErrInvalidArgument", rf, n, got, err)
			}
		}
		for _, s := range slices.Concat(p.live, p.dead) {
			f.wantSession(s)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		f := setup(t, newStore)
		r := bulkRevokerOf(f)
		p := populate(f)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		if _, _, err := r.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, when, sessiond.ReasonIncident); err == nil {
			t.Error("RevokeMatching(canceled context) = nil error; want an error")
		}
		for _, s := range slices.Concat(p.live, p.dead) {
			f.wantSession(s)
		}
	})
	t.Run("Many", func(t *testing.T) {
		// Enough sessions and subjects that a store revoking in batches
		// crosses batch boundaries, and more subjects in one filter than
		// fit a statement's bind parameters.
		f := setup(t, newStore)
		r := bulkRevokerOf(f)
		const sessions, subjects = 5000, 1250
		var all []*sessiond.Session
		for i := range sessions {
			s := newSession(fmt.Sprintf("user%04d", i%subjects), cutoff.Add(time.Duration(i%4-2)*time.Minute))
			s.IdleExpiresAt = when.Add(time.Hour)
			f.create(clone(s))
			all = append(all, s)
		}
		// First the even subjects created before cutoff, named among
		// 40,000 subjects most of which have no session.
		var names []string
		named := make(map[string]bool)
		for i := range 40_000 {
			names = append(names, fmt.Sprintf("user%04d", i*2))
			named[names[i]] = true
		}
		first := sessiond.RevokeFilter{Subjects: names, IssuedBefore: cutoff}
		inFirst := func(s *sessiond.Session) bool { return named[s.Subject] && s.CreatedAt.Before(cutoff) }
		var want []string
		wantN := 0
		for _, s := range all {
			if inFirst(s) {
				wantN++
				if !slices.Contains(want, s.Subject) {
					want = append(want, s.Subject)
				}
			}
		}
		n, got, err := r.RevokeMatching(f.ctx, first, when, sessiond.ReasonIncident)
		if err != nil || n != wantN {
			t.Fatalf("RevokeMatching(40,000 subjects, issued before) = %d, %v; want %d, nil", n, err, wantN)
		}
		checkSubjects(t, "RevokeMatching(40,000 subjects, issued before)", got, want)

		// Then everything else.
		n, got, err = r.RevokeMatching(f.ctx, sessiond.RevokeFilter{All: true}, when.Add(time.Second), sessiond.ReasonIncident)
		if err != nil || n != sessions-wantN {
			t.Fatalf("RevokeMatching(all) = %d, %v; want %d, nil", n, err, sessions-wantN)
		}
		var allSubjects []string
		for i := range subjects {
			allSubjects = append(allSubjects, fmt.Sprintf("user%04d", i))
		}
		checkSubjects(t, "RevokeMatching(all)", got, allSubjects)
		if n, _, err := r.RevokeMatching(f.ctx, sessiond.RevokeFilter{All: true}, when.Add(time.Minute), sessiond.ReasonAdmin); n != 0 || err != nil {
			t.Errorf("second RevokeMatching(all) = %d, %v; want 0, nil", n, err)
		}
		revs, err := f.st.Revocations(f.ctx, when)
		if err != nil || len(revs) != sessions {
			t.Fatalf("Revocations(%v) = %d, %v; want %d, nil", when, len(revs), err, sessions)
		}
		for _, i := range []int{0, 1, sessions / 2, sessions - 1} {
			s := all[i]
			s.RevokeReason, s.RevokedAt = sessiond.ReasonIncident, when.Add(time.Second)
			if inFirst(s) {
				s.RevokedAt = when
			}
			f.wantSession(s)
		}
	})
}
