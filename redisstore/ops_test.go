package redisstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_BatchBySlot runs the conformance suite with bulk work batched
// by slot, as on a Redis Cluster, where one script may touch one slot only.
func TestStore_BatchBySlot(t *testing.T) {
	redisURL(t)
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
		st := newStore(t, redisstore.Options{})
		redisstore.BatchBySlot(st)
		return st
	})
}

func TestKeySlot(t *testing.T) {
	// The values of CLUSTER KEYSLOT.
	for tag, want := range map[string]int{"123456789": 12739, "foo": 12182, "bar": 5061, "": 0} {
		if got := redisstore.KeySlot(tag); got != want {
			t.Errorf("KeySlot(%q) = %d; want %d", tag, got, want)
		}
	}
}

// TestStore_CountLive follows the live count through everything that
// changes it: a touch moving the idle expiry either way, a refresh, each
// kind of revocation, absolute expiry and garbage collection.
func TestStore_CountLive(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	ctx := t.Context()
	t0 := now()
	count := func(at time.Time) map[sessiond.Strategy]int {
		t.Helper()
		got, err := st.CountLive(ctx, at)
		if err != nil {
			t.Fatalf("CountLive(%v) = %v", at, err)
		}
		for k, v := range got {
			if v == 0 {
				delete(got, k)
			}
		}
		return got
	}
	want := func(what string, at time.Time, db, hybrid int) {
		t.Helper()
		w := map[sessiond.Strategy]int{}
		if db > 0 {
			w[sessiond.StrategyDatabase] = db
		}
		if hybrid > 0 {
			w[sessiond.StrategyHybrid] = hybrid
		}
		if got := count(at); !mapsEqual(got, w) {
			t.Errorf("%s: CountLive(t0+%v) = %v; want %v", what, at.Sub(t0), got, w)
		}
	}
	create := func(subject string, strategy sessiond.Strategy, tokens ...sessiond.Token) *sessiond.Session {
		t.Helper()
		s := newSession(subject, t0)
		s.Strategy = strategy
		for i := range tokens {
			tokens[i].SessionID = s.ID
		}
		if err := st.Create(ctx, s, tokens...); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		return s
	}
	if got := count(t0); len(got) != 0 {
		t.Errorf("CountLive on an empty store = %v; want none", got)
	}

	touched := create("alice", sessiond.StrategyDatabase)
	lowered := create("alice", sessiond.StrategyDatabase)
	refreshTok := newToken(sessiond.KindRefresh, "", t0)
	refreshed := create("bob", sessiond.StrategyHybrid, refreshTok)
	create("bob", sessiond.StrategyHybrid)
	revoked := create("carol", sessiond.StrategyHybrid)
	dead := newSession("carol", t0)
	dead.RevokedAt, dead.RevokeReason = t0, sessiond.ReasonAdmin
	if err := st.Create(ctx, dead); err != nil {
		t.Fatalf("Create(revoked) = %v", err)
	}
	want("created", t0, 2, 3)

	// Idle expiry is t0+30m, absolute t0+8h (newSession).
	if err := st.Touch(ctx, touched.ID, t0.Add(20*time.Minute), t0.Add(50*time.Minute)); err != nil {
		t.Fatalf("Touch() = %v", err)
	}
	if err := st.Touch(ctx, lowered.ID, t0.Add(time.Minute), t0.Add(10*time.Minute)); err != nil {
		t.Fatalf("Touch() = %v", err)
	}
	next := newToken(sessiond.KindRefresh, refreshed.ID, t0.Add(time.Minute))
	if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: refreshTok.Hash, Next: next, Now: t0.Add(time.Minute),
		GraceSince: t0.Add(time.Minute), LastActiveAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(40 * time.Minute)}); err != nil {
		t.Fatalf("SwapRefresh() = %v", err)
	}
	if _, err := st.Revoke(ctx, revoked.ID, t0.Add(time.Minute), sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	want("at t0+5m", t0.Add(5*time.Minute), 2, 2)
	want("lowered idle expiry passed", t0.Add(15*time.Minute), 1, 2)
	want("original idle expiry passed", t0.Add(35*time.Minute), 1, 1)
	want("refreshed idle expiry passed", t0.Add(45*time.Minute), 1, 0)
	want("touched idle expiry passed", t0.Add(55*time.Minute), 0, 0)

	// Revocations of every kind leave the count at once.
	for range 3 {
		create("dave", sessiond.StrategyDatabase)
	}
	want("dave's", t0, 5, 2)
	if _, err := st.RevokeSubject(ctx, "dave", "", t0, sessiond.ReasonAdmin); err != nil {
		t.Fatalf("RevokeSubject() = %v", err)
	}
	want("RevokeSubject", t0, 2, 2)
	for range 2 {
		create("erin", sessiond.StrategyHybrid)
	}
	extra := newSession("erin", t0)
	extra.Strategy = sessiond.StrategyHybrid
	if evicted, err := st.CreateLimited(ctx, extra, 1, true); err != nil || len(evicted) != 2 {
		t.Fatalf("CreateLimited(max 1) = %d evicted, %v; want 2", len(evicted), err)
	}
	want("CreateLimited", t0, 2, 3)
	if n, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"bob"}}, t0, sessiond.ReasonIncident); err != nil || n != 2 {
		t.Fatalf("RevokeMatching(bob) = %d, %v; want 2", n, err)
	}
	want("RevokeMatching", t0, 2, 1)
	want("absolute expiry", t0.Add(8*time.Hour), 0, 0)

	// DeleteExpired takes idle-expired sessions out (their entries go).
	if n, err := st.DeleteExpired(ctx, t0.Add(15*time.Minute), 100); err != nil || n != 1 {
		t.Fatalf("DeleteExpired(t0+15m) = %d, %v; want 1 (lowered)", n, err)
	}
	want("after DeleteExpired", t0, 1, 1)
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// matches is the reference of an EventQuery's filters (sessiondtest's).
func matches(e sessiond.Event, q sessiond.EventQuery) bool {
	return (q.Subject == "" || e.Subject == q.Subject) &&
		(q.SessionID == "" || e.SessionID == q.SessionID) &&
		(q.Type == "" || e.Type == q.Type) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.Until.IsZero() || e.Time.Before(q.Until)) &&
		(q.Cursor == "" || e.ID > q.Cursor)
}

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
		if matches(e, q) {
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

// TestStore_OpsKeys checks the key layout of the event log and the outbox
// (docs/redisstore.md): every key in its own hash tag, and nothing left
// behind once retention has deleted everything.
func TestStore_OpsKeys(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	raw := rawClient(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sid := sessiond.NewSessionID()
	events := []sessiond.Event{
		{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionCreated, Subject: "a{b}c", SessionID: sid,
			Details: map[string]any{"k": "v"}},
		{ID: "custom", Time: t0, Type: sessiond.EventBulkRevoked},
	}
	if err := st.AppendEvents(ctx, events...); err != nil {
		t.Fatalf("AppendEvents() = %v", err)
	}
	ds := []sessiond.Delivery{
		{ID: "d1", Endpoint: "ops", EventID: events[0].ID, Payload: []byte("{}"), NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0},
		{ID: "d2", Endpoint: "ops", EventID: events[1].ID, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0},
	}
	if err := st.EnqueueDeliveries(ctx, ds...); err != nil {
		t.Fatalf("EnqueueDeliveries() = %v", err)
	}
	if err := st.FinishDelivery(ctx, "d1", sessiond.DeliveryDelivered, 1, time.Time{}, "", t0); err != nil {
		t.Fatalf("FinishDelivery() = %v", err)
	}
	evTag, obTag := prefix+":{"+prefix+":ev}:", prefix+":{"+prefix+":ob}:"
	want := []string{
		evTag + "e:" + events[0].ID, evTag + "e:custom", evTag + "ids", evTag + "time", evTag + "odd",
		evTag + "sub:a{b}c", evTag + "sess:" + string(sid),
		evTag + "type:" + string(sessiond.EventSessionCreated), evTag + "type:" + string(sessiond.EventBulkRevoked),
		obTag + "d:d1", obTag + "d:d2", obTag + "due", obTag + "st:pending", obTag + "st:delivered", obTag + "done",
	}
	if got := keys(t, raw, prefix); !sameStrings(got, want) {
		t.Errorf("keys = %v; want %v", slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
	}
	if n, err := st.DeleteEventsBefore(ctx, t0.Add(time.Second), 100); n != 2 || err != nil {
		t.Fatalf("DeleteEventsBefore() = %d, %v; want 2", n, err)
	}
	if err := st.FinishDelivery(ctx, "d2", sessiond.DeliveryDead, 1, time.Time{}, "x", t0); err != nil {
		t.Fatalf("FinishDelivery() = %v", err)
	}
	if n, err := st.DeleteDeliveriesBefore(ctx, t0.Add(time.Second), 100); n != 2 || err != nil {
		t.Fatalf("DeleteDeliveriesBefore() = %d, %v; want 2", n, err)
	}
	if got := keys(t, raw, prefix); len(got) != 0 {
		t.Errorf("after deleting every event and delivery, keys = %v; want none", got)
	}
}

func sameStrings(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// TestStore_MaxEventAge checks the safety net behind retention: appends
// and enqueues delete what is older than MaxEventAge by Redis's clock.
func TestStore_MaxEventAge(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		age  time.Duration
		kept bool
	}{{time.Hour, false}, {-1, true}} {
		t.Run(fmt.Sprint(c.age), func(t *testing.T) {
			t.Parallel()
			st := newStore(t, redisstore.Options{MaxEventAge: c.age})
			ctx := t.Context()
			t0 := now()
			old := sessiond.Event{ID: sessiond.NewEventID(t0.Add(-2 * time.Hour)), Time: t0.Add(-2 * time.Hour), Type: sessiond.EventSessionCreated}
			fresh := sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionCreated}
			for _, e := range []sessiond.Event{old, fresh} {
				if err := st.AppendEvents(ctx, e); err != nil {
					t.Fatalf("AppendEvents() = %v", err)
				}
			}
			want := []string{fresh.ID}
			if c.kept {
				want = []string{old.ID, fresh.ID}
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
			if err := st.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "new", NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatalf("EnqueueDeliveries() = %v", err)
			}
			deadN, _ := st.CountDeliveries(ctx, sessiond.DeliveryDead)
			pendingN, _ := st.CountDeliveries(ctx, sessiond.DeliveryPending)
			if wantDead := map[bool]int{true: 1, false: 0}[c.kept]; deadN != wantDead || pendingN != 2 {
				t.Errorf("after an enqueue, %d dead, %d pending; want %d, 2 (pending ones are never swept)", deadN, pendingN, wantDead)
			}
		})
	}
}

// TestStore_RevokeMatchingQuiet checks that a bulk revocation publishes
// nothing on the revocation feed (the Manager's watermark carries it) but
// is in Revocations, and that the client-side cache of the same store does
// not serve the sessions as they were.
func TestStore_RevokeMatchingQuiet(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	a := newStore(t, redisstore.Options{Prefix: prefix, ClientCache: time.Minute})
	b := newStore(t, redisstore.Options{Prefix: prefix})
	ctx := t.Context()
	t0 := now()
	got := make(chan sessiond.Revocation, 16)
	if err := b.SubscribeRevocations(ctx, func(r sessiond.Revocation) { got <- r }, func() {}); err != nil {
		t.Fatalf("SubscribeRevocations() = %v", err)
	}
	var toks []sessiond.Token
	for i := range 5 {
		s := newSession(fmt.Sprintf("user%d", i), t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		if err := a.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		toks = append(toks, tok)
	}
	time.Sleep(2100 * time.Millisecond) // past the store's own-write guard
	for _, tok := range toks {
		for range 2 { // the second from the client-side cache
			if _, s, err := a.Lookup(ctx, tok.Hash); err != nil || s.Revoked() {
				t.Fatalf("Lookup() = %v, %v; want a live session", s, err)
			}
		}
	}
	n, subjects, err := a.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t0.Add(time.Second), sessiond.ReasonIncident)
	if err != nil || n != 5 || len(subjects) != 5 {
		t.Fatalf("RevokeMatching(all) = %d, %v, %v; want 5, 5 subjects", n, subjects, err)
	}
	for _, tok := range toks {
		if _, s, err := a.Lookup(ctx, tok.Hash); err != nil || !s.Revoked() {
			t.Errorf("Lookup() right after RevokeMatching = revoked %t, %v; want revoked", s != nil && s.Revoked(), err)
		}
	}
	revs, err := b.Revocations(ctx, t0)
	if err != nil || len(revs) != 5 {
		t.Errorf("Revocations() = %d, %v; want 5", len(revs), err)
	}
	// A revocation published after the bulk one arrives alone.
	s := newSession("zed", t0)
	if err := a.Create(ctx, s); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	if _, err := a.Revoke(ctx, s.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	select {
	case r := <-got:
		if r.SessionID != s.ID {
			t.Errorf("feed delivered %+v first; want only %s (bulk revocations are not published)", r, s.ID)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the feed delivered nothing within 2s")
	}
	select {
	case r := <-got:
		t.Errorf("feed delivered %+v too", r)
	case <-time.After(100 * time.Millisecond):
	}
}
