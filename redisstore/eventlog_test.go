package redisstore_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// queryAll pages through q three at a time (or q.Limit) and returns the IDs.
func queryAll(t *testing.T, st *redisstore.Store, q sessiond.EventQuery) []string {
	t.Helper()
	var ids []string
	for page := 0; ; page++ {
		if page > 10_000 {
			t.Fatalf("QueryEvents(%+v) pages without end", q)
		}
		got, next, err := st.QueryEvents(t.Context(), q)
		if err != nil {
			t.Fatalf("QueryEvents(%+v) = %v", q, err)
		}
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if next == "" {
			return ids
		}
		q.Cursor = next
	}
}

func wantIDs(all []sessiond.Event, q sessiond.EventQuery) []string {
	var ids []string
	for _, e := range all {
		if q.Matches(&e) {
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestStore_EventIrregularIDs checks time filters over events whose ID
// does not encode their time (not from sessiond.NewEventID), which the
// store cannot find by ID range: a few are merged into the ranged walk,
// many turn the ranged walk off.
func TestStore_EventIrregularIDs(t *testing.T) {
	t.Parallel()
	for _, odd := range []int{12, redisstore.OddEventsMax + 1} {
		t.Run(fmt.Sprint(odd), func(t *testing.T) {
			t.Parallel()
			st := newStore(t, redisstore.Options{})
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
			var all []sessiond.Event
			for i := range 60 {
				all = append(all, sessiond.Event{ID: sessiond.NewEventID(at(i)), Time: at(i), Type: sessiond.EventSessionCreated,
					Subject: []string{"alice", "bob"}[i%2]})
			}
			for i := range odd {
				e := sessiond.Event{Time: at(i % 60), Type: sessiond.EventSessionRevoked, Subject: []string{"alice", "bob"}[i%2]}
				switch i % 3 {
				case 0: // sorts before every regular ID
					e.ID = fmt.Sprintf("a-%05d", i)
				case 1: // sorts after
					e.ID = fmt.Sprintf("z-%05d", i)
				case 2: // a regular-looking ID of another time
					e.ID = sessiond.NewEventID(at(59 - i%60))
				}
				all = append(all, e)
			}
			for chunk := range slices.Chunk(all, 500) {
				if err := st.AppendEvents(t.Context(), chunk...); err != nil {
					t.Fatalf("AppendEvents() = %v", err)
				}
			}
			for _, q := range []sessiond.EventQuery{
				{Since: at(10)},
				{Until: at(10)},
				{Since: at(20), Until: at(40)},
				{Since: at(20), Until: at(40), Subject: "alice"},
				{Since: at(20), Until: at(40), Type: sessiond.EventSessionRevoked},
				{Since: at(55), Cursor: sessiond.NewEventID(at(30))},
				{Until: at(1), Cursor: "m"},
			} {
				for _, limit := range []int{3, 1000} {
					q.Limit = limit
					got, want := queryAll(t, st, q), wantIDs(all, q)
					if !slices.Equal(got, want) {
						t.Errorf("QueryEvents(%+v) paged = %d events %v; want %d %v", q, len(got), got, len(want), want)
					}
				}
			}
		})
	}
}

// TestStore_EventLongWalk checks a query whose matches are spread over
// more index entries than one script reads.
func TestStore_EventLongWalk(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 2*redisstore.EventScanBudget + 500
	var all []sessiond.Event
	for i := range n {
		tm := t0.Add(time.Duration(i) * time.Millisecond)
		typ := sessiond.EventSessionCreated
		if i%(n/4) == 7 {
			typ = sessiond.EventSessionRevoked
		}
		all = append(all, sessiond.Event{ID: sessiond.NewEventID(tm), Time: tm, Type: typ, Subject: "alice"})
		// A bigger type index, so the walk takes alice's.
		tm = tm.Add(time.Microsecond)
		all = append(all, sessiond.Event{ID: sessiond.NewEventID(tm), Time: tm, Type: sessiond.EventSessionRevoked, Subject: "bob"})
	}
	for chunk := range slices.Chunk(all, 1000) {
		if err := st.AppendEvents(t.Context(), chunk...); err != nil {
			t.Fatalf("AppendEvents() = %v", err)
		}
	}
	for _, q := range []sessiond.EventQuery{
		{Subject: "alice", Type: sessiond.EventSessionRevoked, Limit: 1},
		{Subject: "alice", Type: sessiond.EventSessionRevoked, Limit: 1000},
		{Subject: "alice", Type: sessiond.EventSessionRevoked, Since: t0.Add(time.Second), Limit: 2},
	} {
		got, want := queryAll(t, st, q), wantIDs(all, q)
		if len(want) < 2 || !slices.Equal(got, want) {
			t.Errorf("QueryEvents(%+v) paged = %v; want %v", q, got, want)
		}
	}
}

// withOldEvent returns a store with the given MaxEventAge, the time now,
// and the event it holds, two hours older.
func withOldEvent(t *testing.T, maxAge time.Duration) (*redisstore.Store, time.Time, sessiond.Event) {
	t.Helper()
	st := newStore(t, redisstore.Options{MaxEventAge: maxAge})
	t0 := now()
	old := sessiond.Event{ID: sessiond.NewEventID(t0.Add(-2 * time.Hour)), Time: t0.Add(-2 * time.Hour), Type: sessiond.EventSessionCreated}
	if err := st.AppendEvents(t.Context(), old); err != nil {
		t.Fatalf("AppendEvents() = %v", err)
	}
	return st, t0, old
}

// TestStore_MaxEventAge checks the safety net behind retention: one append
// and one enqueue in SweepEvery deletes what is older than MaxEventAge by
// Redis's clock.
func TestStore_MaxEventAge(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		age  time.Duration
		kept bool
	}{{time.Hour, false}, {-1, true}} {
		t.Run(fmt.Sprint(c.age), func(t *testing.T) {
			t.Parallel()
			st, t0, old := withOldEvent(t, c.age)
			ctx := t.Context()
			var want []string
			if c.kept {
				want = append(want, old.ID)
			}
			for i := range redisstore.SweepEvery {
				at := t0.Add(time.Duration(i) * time.Microsecond)
				e := sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated}
				if err := st.AppendEvents(ctx, e); err != nil {
					t.Fatalf("AppendEvents() = %v", err)
				}
				want = append(want, e.ID)
			}
			if got := queryAll(t, st, sessiond.EventQuery{}); !slices.Equal(got, want) {
				t.Errorf("events = %v; want %v", got, want)
			}

			d := sessiond.Delivery{ID: "old", NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
			pending := sessiond.Delivery{ID: "pending", NextAttemptAt: t0.Add(-3 * time.Hour), CreatedAt: t0.Add(-3 * time.Hour), UpdatedAt: t0.Add(-3 * time.Hour)}
			if err := st.EnqueueDeliveries(ctx, d, pending); err != nil {
				t.Fatalf("EnqueueDeliveries() = %v", err)
			}
			if err := st.FinishDelivery(ctx, d.ID, sessiond.DeliveryDead, 3, time.Time{}, "x", t0.Add(-2*time.Hour)); err != nil {
				t.Fatalf("FinishDelivery() = %v", err)
			}
			for i := range redisstore.SweepEvery {
				if err := st.EnqueueDeliveries(ctx, sessiond.Delivery{ID: fmt.Sprint("new", i), NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					t.Fatalf("EnqueueDeliveries() = %v", err)
				}
			}
			deadN, _ := st.CountDeliveries(ctx, sessiond.DeliveryDead)
			pendingN, _ := st.CountDeliveries(ctx, sessiond.DeliveryPending)
			if wantDead, wantPending := map[bool]int{true: 1, false: 0}[c.kept], 1+redisstore.SweepEvery; deadN != wantDead || pendingN != wantPending {
				t.Errorf("after %d enqueues, %d dead, %d pending; want %d, %d (pending ones are never swept)",
					redisstore.SweepEvery, deadN, pendingN, wantDead, wantPending)
			}
		})
	}
}

// TestStore_MaxEventAgeWithChanges checks that logins and refreshes, which
// write their events in their own script, keep up the safety net: within
// SweepEvery of them, what is older than MaxEventAge is gone.
func TestStore_MaxEventAgeWithChanges(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Create", "Refresh"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, t0, old := withOldEvent(t, time.Hour)
			ctx := t.Context()
			s := newSession("alice", t0)
			tok := newToken(sessiond.KindRefresh, s.ID, t0)
			if _, err := st.CreateRecorded(ctx, s, 0, false, sessiond.ChangeRecords{}, nil, tok); err != nil {
				t.Fatalf("CreateRecorded() = %v", err)
			}
			for i := range redisstore.SweepEvery {
				at := t0.Add(time.Duration(i+1) * time.Microsecond)
				ev := []sessiond.Event{{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated}}
				var err error
				if name == "Create" {
					_, err = st.CreateRecorded(ctx, newSession("bob", t0), 0, false, sessiond.ChangeRecords{Events: ev}, nil)
				} else {
					next := newToken(sessiond.KindRefresh, s.ID, at)
					err = st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: tok.Hash, Next: next, Now: at,
						LastActiveAt: at, IdleExpiresAt: s.IdleExpiresAt, Events: ev})
					tok = next
				}
				if err != nil {
					t.Fatalf("%s %d = %v", name, i, err)
				}
			}
			got := queryAll(t, st, sessiond.EventQuery{})
			if len(got) != redisstore.SweepEvery || slices.Contains(got, old.ID) {
				t.Errorf("events after %d writes = %v; want %d, not %s (older than MaxEventAge)", redisstore.SweepEvery, got, redisstore.SweepEvery, old.ID)
			}
		})
	}
}

// TestFirstEventID_Lua checks the scripts' first_event_id, with which the
// safety net finds old regular events by ID, against Go's firstEventID.
func TestFirstEventID_Lua(t *testing.T) {
	t.Parallel()
	c := rawClient(t)
	script := rueidis.NewLuaScript(redisstore.EventPrelude + "return first_event_id(tonumber(ARGV[1]))")
	for _, us := range []int64{1, 15, 16, 31, 32, 1 << 40, now().UnixMicro(), 1<<53 - 1} {
		got, err := script.Exec(t.Context(), c, nil, []string{strconv.FormatInt(us, 10)}).ToString()
		if want := redisstore.FirstEventID(us); err != nil || got != want {
			t.Errorf("first_event_id(%d) = %q, %v; want %q", us, got, err, want)
		}
	}
}

// TestStore_DeleteEventsBefore_Layout: regular events are found by ID,
// irregular ones by their Time even when their ID sorts among old regular
// ones, and events stored when every event had a time entry (before
// 2026-12-04) are each deleted once.
func TestStore_DeleteEventsBefore_Layout(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		limit int
		want  []int
	}{
		{1, []int{1, 1, 1, 0}},
		{3, []int{3, 0}}, // legacy from time, then from ids: once
	} {
		t.Run(fmt.Sprint("limit=", c.limit), func(t *testing.T) {
			t.Parallel()
			prefix := randomPrefix()
			st := newStore(t, redisstore.Options{Prefix: prefix})
			raw := rawClient(t)
			ctx := t.Context()
			t0 := now()
			ev := func(id string, at time.Time) sessiond.Event {
				return sessiond.Event{ID: id, Time: at, Type: sessiond.EventSessionCreated}
			}
			old := ev(sessiond.NewEventID(t0.Add(-time.Hour)), t0.Add(-time.Hour))
			legacy := ev(sessiond.NewEventID(t0.Add(-2*time.Hour)), t0.Add(-2*time.Hour))
			// An irregular ID among the old regular ones, of an event after t0.
			young := ev(sessiond.NewEventID(t0.Add(-90*time.Minute)), t0.Add(time.Minute))
			oddOld := ev("custom-1", t0.Add(-time.Minute))
			fresh := ev(sessiond.NewEventID(t0.Add(time.Second)), t0.Add(time.Second))
			if err := st.AppendEvents(ctx, old, legacy, young, oddOld, fresh); err != nil {
				t.Fatalf("AppendEvents() = %v", err)
			}
			timeKey := prefix + ":{" + prefix + ":ev}:time"
			// The earlier layout: a time entry for the regular event too.
			if err := raw.Do(ctx, raw.B().Zadd().Key(timeKey).ScoreMember().ScoreMember(float64(legacy.Time.UnixMicro()), legacy.ID).Build()).Error(); err != nil {
				t.Fatalf("ZADD time = %v", err)
			}
			var counts []int
			for len(counts) < 6 {
				n, err := st.DeleteEventsBefore(ctx, t0, c.limit)
				if err != nil {
					t.Fatalf("DeleteEventsBefore() = %v", err)
				}
				counts = append(counts, n)
				if n == 0 {
					break
				}
			}
			if !slices.Equal(counts, c.want) {
				t.Errorf("DeleteEventsBefore(t0, %d) calls returned %v; want %v (old, legacy, custom-1)", c.limit, counts, c.want)
			}
			got := queryAll(t, st, sessiond.EventQuery{})
			if want := []string{young.ID, fresh.ID}; !slices.Equal(got, want) {
				t.Errorf("events left = %v; want %v", got, want)
			}
			if n, err := raw.Do(ctx, raw.B().Zcard().Key(timeKey).Build()).AsInt64(); err != nil || n != 1 {
				t.Errorf("ZCARD time = %d, %v; want 1 (the irregular event left)", n, err)
			}
		})
	}
}
