package sessiondtest

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// Limits of QueryEvents the suite pins down.
const (
	defaultEventLimit = sessiond.DefaultEventLimit
	maxEventLimit     = sessiond.MaxEventLimit
)

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

// checkEvent reports every field of got that differs from want, and a Time
// not in UTC. Details are compared after a JSON round trip of both; empty
// and nil are equal.
func checkEvent(t *testing.T, op string, got, want sessiond.Event) {
	t.Helper()
	if got.Time.Location() != time.UTC {
		t.Errorf("%s.Time.Location() = %v; want UTC", op, got.Time.Location())
	}
	got.Details, want.Details = jsonDetails(t, got.Details), jsonDetails(t, want.Details)
	checkFields(t, op, got, want)
}

func eventIDs(es []sessiond.Event) []string {
	return idsOf(es, func(e sessiond.Event) string { return e.ID })
}

// idsOf returns id of each of xs, in order, for messages that name what a
// call returned.
func idsOf[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

// sortedByID returns a copy of es in ID order.
func sortedByID(es []sessiond.Event) []sessiond.Event {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b sessiond.Event) int { return strings.Compare(a.ID, b.ID) })
	return out
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

// TestEventLog checks sessiond.EventLog, failing at once if newStore's
// stores do not implement it. TestStore runs it when they do. Beyond the
// EventLog doc comments it pins down:
//   - AppendEvents fails with ErrInvalidArgument, storing nothing, if an
//     event has no ID; an ID repeated within one call is stored once, as
//     first given. Details come back as a JSON decoder returns them (numbers
//     as float64); an event without Details comes back without; Time is UTC.
//   - QueryEvents: Limit 0 means 100, more than 1000 means 1000, a negative
//     Limit is ErrInvalidArgument. The cursor is the ID of the page's last
//     event when more events match, "" otherwise; a cursor the log does not
//     hold (deleted since) still resumes after it.
//   - DeleteEventsBefore fails with ErrInvalidArgument if limit is not
//     positive.
func TestEventLog(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.EventLog]{
		{"RoundTrip", eventLogRoundTrip},
		{"Empty", eventLogEmpty},
		{"Filters", eventLogFilters},
		{"Paging", eventLogPaging},
		{"Limit", eventLogLimit},
		{"DuplicateIDSkipped", eventLogDuplicateIDSkipped},
		{"DeleteEventsBefore", eventLogDeleteEventsBefore},
		{"DeleteEventsBeforeOtherIDs", eventLogDeleteEventsBeforeOtherIDs},
		{"SubMicrosecondBounds", eventLogSubMicrosecondBounds},
		{"BadInput", eventLogBadInput},
		{"Copies", eventLogCopies},
		{"CanceledContext", eventLogCanceledContext},
		{"Random", eventLogRandom},
	})
}

func eventLogRoundTrip(t *testing.T, f *fixture, l sessiond.EventLog) {
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
}

func eventLogEmpty(t *testing.T, f *fixture, l sessiond.EventLog) {
	if err := l.AppendEvents(f.ctx); err != nil {
		t.Errorf("AppendEvents() = %v; want nil", err)
	}
	got, next, err := l.QueryEvents(f.ctx, sessiond.EventQuery{Subject: "alice"})
	if err != nil || len(got) != 0 || next != "" {
		t.Errorf("QueryEvents on an empty log = %v, %q, %v; want none, \"\", nil", eventIDs(got), next, err)
	}
}

func eventLogFilters(t *testing.T, f *fixture, l sessiond.EventLog) {
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
		// Only the events without a subject (a kill switch's), alone and
		// with each other filter.
		{"NoSubject", sessiond.EventQuery{NoSubject: true}},
		{"NoSubjectType", sessiond.EventQuery{NoSubject: true, Type: sessiond.EventSessionRevoked}},
		{"NoSubjectTypeSince", sessiond.EventQuery{NoSubject: true, Type: sessiond.EventSessionCreated, Since: at(9 * time.Minute)}},
		{"NoSubjectSessionID", sessiond.EventQuery{NoSubject: true, SessionID: sa}},
		{"NoSubjectCursor", sessiond.EventQuery{NoSubject: true, Cursor: between, Until: at(25 * time.Minute)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want []sessiond.Event
			for _, e := range sortedByID(all) {
				if c.q.Matches(&e) {
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
}

func eventLogPaging(t *testing.T, f *fixture, l sessiond.EventLog) {
	for _, n := range []int{23, 25} { // a partial last page, and an exact multiple
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := setup(t, f.newStore)
			l := f.st.(sessiond.EventLog)
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
}

func eventLogLimit(t *testing.T, f *fixture, l sessiond.EventLog) {
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
}

func eventLogDuplicateIDSkipped(t *testing.T, f *fixture, l sessiond.EventLog) {
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
}

func eventLogDeleteEventsBefore(t *testing.T, f *fixture, l sessiond.EventLog) {
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
	counts := deleteBatches(t, fmt.Sprintf("DeleteEventsBefore(%v, %d)", before, limit), func() (int, error) {
		return l.DeleteEventsBefore(f.ctx, before, limit)
	})
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
}

// eventLogDeleteEventsBeforeOtherIDs: DeleteEventsBefore goes by Time,
// not by the time an ID encodes (AppendEvents takes any ID): an event
// whose ID encodes a later time than its own, old enough, is deleted, and
// one whose ID encodes an older time than its own is kept. A store that
// finds the old events by ID range (Redis) must judge those by Time.
func eventLogDeleteEventsBeforeOtherIDs(t *testing.T, f *fixture, l sessiond.EventLog) {
	before := at(time.Hour)
	old := func(id string, tm time.Time) sessiond.Event {
		e := newEvent(sessiond.EventSessionCreated, "alice", "", tm)
		e.ID = id
		return e
	}
	deleted := []sessiond.Event{
		old(sessiond.NewEventID(before.Add(time.Hour)), before.Add(-time.Hour)),      // an ID an hour after before
		old(sessiond.NewEventID(before), before.Add(-time.Microsecond)),              // an ID of before itself
		old("zz-late", before.Add(-time.Minute)),                                     // after every regular ID
		old(sessiond.NewEventID(before.Add(-time.Second)), before.Add(-time.Second)), // regular, for contrast
	}
	kept := []sessiond.Event{
		old(sessiond.NewEventID(before.Add(-time.Hour)), before),                   // an ID an hour before its time
		old(sessiond.NewEventID(before.Add(-time.Microsecond)), before),            // a microsecond before
		old("custom-early", before.Add(time.Minute)),                               // before every regular ID
		old(sessiond.NewEventID(before.Add(time.Minute)), before.Add(time.Minute)), // regular
	}
	appendEvents(f, l, append(slices.Clone(deleted), kept...)...)
	counts := deleteBatches(t, fmt.Sprintf("DeleteEventsBefore(%v, 1)", before), func() (int, error) {
		return l.DeleteEventsBefore(f.ctx, before, 1)
	})
	if !slices.Equal(counts, []int{1, 1, 1, 1, 0}) {
		t.Errorf("DeleteEventsBefore(%v, 1) calls returned %v; want [1 1 1 1 0] (4 older events)", before, counts)
	}
	got := queryPages(f, l, sessiond.EventQuery{Limit: 100})
	if want := sortedByID(kept); !slices.Equal(eventIDs(got), eventIDs(want)) {
		t.Errorf("after DeleteEventsBefore(%v), QueryEvents = %v; want the events whose Time is at or after it: %v", before, eventIDs(got), eventIDs(want))
	}
}

// eventLogSubMicrosecondBounds: stores keep microseconds, but a query's
// bounds are times at full precision (EventQuery.Matches): since is
// inclusive and until and DeleteEventsBefore's before exclusive at that
// precision, so an event a fraction of a microsecond before since is not
// returned and one before until is.
func eventLogSubMicrosecondBounds(t *testing.T, f *fixture, l sessiond.EventLog) {
	var es []sessiond.Event
	for i := 1; i <= 3; i++ {
		es = append(es, newEvent(sessiond.EventSessionCreated, "alice", "", at(time.Minute).Add(time.Duration(i)*time.Microsecond)))
	}
	appendEvents(f, l, es...)
	half := func(n int) time.Time {
		return at(time.Minute).Add(time.Duration(n)*time.Microsecond + 500*time.Nanosecond)
	}
	for _, q := range []sessiond.EventQuery{
		{Since: half(1)},
		{Until: half(1)},
		{Since: half(1), Until: half(2)},
		{Until: half(2)},
	} {
		var want []sessiond.Event
		for _, e := range es {
			if q.Matches(&e) {
				want = append(want, e)
			}
		}
		q.Limit = maxEventLimit
		got, _, err := l.QueryEvents(f.ctx, q)
		if err != nil || !slices.Equal(eventIDs(got), eventIDs(want)) {
			t.Errorf("QueryEvents(since %v, until %v) = %v, %v; want %v", q.Since, q.Until, eventIDs(got), err, eventIDs(want))
		}
	}
	if n, err := l.DeleteEventsBefore(f.ctx, half(1), 10); n != 1 || err != nil {
		t.Errorf("DeleteEventsBefore(1.5 µs) = %d, %v; want 1 (the event at 1 µs)", n, err)
	}
	if got := queryPages(f, l, sessiond.EventQuery{Limit: 100}); !slices.Equal(eventIDs(got), eventIDs(es[1:])) {
		t.Errorf("after DeleteEventsBefore(1.5 µs): %v; want %v", eventIDs(got), eventIDs(es[1:]))
	}
}

func eventLogBadInput(t *testing.T, f *fixture, l sessiond.EventLog) {
	good := newEvent(sessiond.EventSessionCreated, "alice", "", t0)
	noID := newEvent(sessiond.EventSessionCreated, "alice", "", t0)
	noID.ID = ""
	err := l.AppendEvents(f.ctx, good, noID)
	wantErr(t, "AppendEvents(event without ID)", err, sessiond.ErrInvalidArgument)
	if got, _, err := l.QueryEvents(f.ctx, sessiond.EventQuery{}); err != nil || len(got) != 0 {
		t.Errorf("after a failed AppendEvents, QueryEvents = %v, %v; want nothing stored", eventIDs(got), err)
	}
	_, _, err = l.QueryEvents(f.ctx, sessiond.EventQuery{Subject: "alice", NoSubject: true})
	wantErr(t, "QueryEvents(subject and no subject)", err, sessiond.ErrInvalidArgument)
}

func eventLogCopies(t *testing.T, f *fixture, l sessiond.EventLog) {
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
}

func eventLogCanceledContext(t *testing.T, f *fixture, l sessiond.EventLog) {
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
}

// eventLogRandom compares QueryEvents, page by page, with a plain filter
// and sort of every stored event (EventQuery.Matches), on random logs and
// queries: IDs made from the event's time and IDs of other shapes (a
// caller's own, another time's, exactly at the bounds of its time's range,
// a prefix), times at and around the query bounds, before 1970, and every
// combination of filters, cursor and page size. A store that reads time
// bounds as ranges of IDs must still return what a scan would, each event
// once, in ID order, with a cursor exactly when more follow.
func eventLogRandom(t *testing.T, f *fixture, l sessiond.EventLog) {
	rng := rand.New(rand.NewPCG(20900, 7)) // fixed: a failure reproduces
	base := t0.UnixMicro()
	base -= base % 16 // base + 15 and + 16 carry into the ID's 13th character
	// Times every store holds exactly (Redis scores are doubles: below 2^53).
	times := []int64{-1 << 40, -16, -1, 0, 1, 15, 16, 17,
		base - 17, base - 16, base - 1, base, base + 1, base + 15, base + 16, base + 31, base + 32,
		base + 1_000_000, 1 << 52}
	pick := func() int64 { return times[rng.IntN(len(times))] }
	encode := func(us int64, tail byte) string {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(us))
		for i := 8; i < 16; i++ {
			b[i] = tail
		}
		return "evt_" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	}
	idFor := func(us int64) string {
		switch rng.IntN(12) {
		case 0:
			return fmt.Sprintf("custom-%03d", rng.IntN(1000)) // before every regular ID
		case 1:
			return fmt.Sprintf("zz-%03d", rng.IntN(1000)) // after every regular ID
		case 2:
			return sessiond.NewEventID(time.UnixMicro(pick())) // another time's (or, rarely, its own)
		case 3:
			if us >= 0 {
				return encode(us, 0) // the smallest ID of its time
			}
		case 4:
			if us >= 0 {
				return encode(us+1, 0) // just past its time's IDs
			}
		case 5:
			if us >= 0 {
				return encode(us, 0xff) // the largest ID of its time
			}
		case 6:
			return "evt_" + strings.ToUpper(sessiond.NewEventID(time.UnixMicro(us))[4:])
		case 7:
			if us >= 0 {
				return encode(us, 0)[:10] // a prefix of the IDs near its time
			}
		}
		return sessiond.NewEventID(time.UnixMicro(us)) // before 1970: cannot encode its time
	}
	subjects := []string{"alice", "bob", ""}
	sessions := []sessiond.SessionID{"s1", "s2", ""}
	types := []sessiond.EventType{sessiond.EventSessionCreated, sessiond.EventSessionRevoked, "custom.type"}
	bound := func() time.Time {
		if rng.IntN(3) == 0 {
			return time.Time{}
		}
		tm := time.UnixMicro(pick())
		if rng.IntN(2) == 0 {
			tm = time.UnixMicro(base + rng.Int64N(64) - 32)
		}
		switch rng.IntN(4) {
		case 0:
			tm = tm.Add(time.Duration(rng.IntN(999)+1) * time.Nanosecond)
		case 1:
			tm = tm.Add(-time.Duration(rng.IntN(999)+1) * time.Nanosecond)
		}
		return tm
	}
	for round := range 3 {
		if round > 0 {
			l = f.newStore(t).(sessiond.EventLog)
		}
		var all []sessiond.Event
		seen := map[string]bool{}
		for range 40 + rng.IntN(120) {
			us := pick()
			if rng.IntN(3) == 0 {
				us = base + rng.Int64N(64) - 32
			}
			e := sessiond.Event{
				ID: idFor(us), Time: time.UnixMicro(us).UTC(),
				Type: types[rng.IntN(len(types))], Subject: subjects[rng.IntN(len(subjects))],
				SessionID: sessions[rng.IntN(len(sessions))],
			}
			if !seen[e.ID] { // a repeated ID is stored once, as first given
				seen[e.ID] = true
				all = append(all, e)
			}
		}
		appendEvents(f, l, all...)
		// The reference is the log as stored, read without bounds: Redis's
		// safety net (MaxEventAge) may drop the events long past, never
		// those from base on.
		stored := queryPages(f, l, sessiond.EventQuery{Limit: maxEventLimit})
		for _, e := range sortedByID(all) {
			if !e.Time.Before(time.UnixMicro(base-32)) && !slices.Contains(eventIDs(stored), e.ID) {
				t.Errorf("round %d: event %s at %v not stored", round, e.ID, e.Time)
			}
		}
		all = stored
		for range 150 {
			q := sessiond.EventQuery{Since: bound(), Until: bound(), Limit: 1 + rng.IntN(7)}
			if rng.IntN(3) == 0 {
				q.Subject = subjects[rng.IntN(2)]
			} else {
				q.NoSubject = rng.IntN(3) == 0
			}
			if rng.IntN(4) == 0 {
				q.SessionID = sessions[rng.IntN(2)]
			}
			if rng.IntN(3) == 0 {
				q.Type = types[rng.IntN(len(types))]
			}
			switch rng.IntN(4) {
			case 0:
				q.Cursor = all[rng.IntN(len(all))].ID
			case 1:
				q.Cursor = idFor(pick())
			}
			var want []string
			for i := range all {
				if q.Matches(&all[i]) {
					want = append(want, all[i].ID)
				}
			}
			if got := eventIDs(queryPages(f, l, q)); !slices.Equal(got, want) {
				t.Errorf("round %d: QueryEvents(%+v) in pages = %v; want %v", round, q, got, want)
			}
		}
	}
}
