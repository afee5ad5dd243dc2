package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_PendingRecords checks the Cluster path's guarantee against a
// node killed between a change and the move of its records: every change
// kind keeps its records pending in the same script; nothing reaches the
// event log or the outbox until a sweep moves them; the sweep leaves
// records younger than its age alone, moves the others once (again: once,
// even when the same records are pending a second time, as when two nodes
// sweep at once), skips a malformed entry without losing the rest, and
// leaves nothing pending.
func TestStore_PendingRecords(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	redisstore.BatchBySlot(st)
	testPendingRecords(t, st)
}

func testPendingRecords(t *testing.T, st *redisstore.Store) {
	redisstore.HoldPending(st)
	ctx := t.Context()
	t0 := now()
	var want []string // event IDs the changes carried
	var deliveries int
	records := func(subject string, id sessiond.SessionID) sessiond.ChangeRecords {
		e := sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionRevoked, Subject: subject, SessionID: id}
		want = append(want, e.ID)
		deliveries++
		return sessiond.ChangeRecords{Events: []sessiond.Event{e}, Deliveries: []sessiond.Delivery{{ID: "d" + e.ID,
			EventID: e.ID, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}}}
	}
	pendingIs := func(stage string, n int) {
		t.Helper()
		if got, err := redisstore.PendingRecords(ctx, st); err != nil || got != n {
			t.Fatalf("after %s: %d changes' records pending, %v; want %d", stage, got, err, n)
		}
	}

	// A login with its records, then one that evicts it under a limit of
	// one: two blocks, the second login's and its eviction's.
	first := newSession("erin", t0)
	tok := newToken(sessiond.KindRefresh, first.ID, t0)
	if _, err := st.CreateRecorded(ctx, first, 0, false, records("erin", first.ID), nil, tok); err != nil {
		t.Fatalf("CreateRecorded() = %v", err)
	}
	pendingIs("a login", 1)
	second := newSession("erin", t0)
	evicted, err := st.CreateRecorded(ctx, second, 1, true, records("erin", second.ID),
		func(r sessiond.Revocation) sessiond.ChangeRecords { return records("erin", r.SessionID) })
	if err != nil || len(evicted) != 1 || evicted[0].SessionID != first.ID {
		t.Fatalf("CreateRecorded(limit 1, evict) = %v, %v; want the first session evicted", evicted, err)
	}
	pendingIs("a login that evicts", 3)

	// A refresh, a touch, a revocation, a subject's revocation.
	frank := newSession("frank", t0)
	frank.Strategy = sessiond.StrategyHybrid
	ftok := newToken(sessiond.KindRefresh, frank.ID, t0)
	if err := st.Create(ctx, frank, ftok); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	rec := records("frank", frank.ID)
	next := newToken(sessiond.KindRefresh, frank.ID, t0.Add(time.Minute))
	if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: ftok.Hash, Next: next, Now: t0.Add(time.Minute),
		GraceSince: t0.Add(time.Minute), LastActiveAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(time.Hour),
		Events: rec.Events, Deliveries: rec.Deliveries}); err != nil {
		t.Fatalf("SwapRefresh() = %v", err)
	}
	pendingIs("a refresh", 4)
	if err := st.TouchRecorded(ctx, frank.ID, t0.Add(2*time.Minute), t0.Add(time.Hour), records("frank", frank.ID)); err != nil {
		t.Fatalf("TouchRecorded() = %v", err)
	}
	pendingIs("a touch", 5)
	if _, ok, err := st.RevokeRecorded(ctx, frank.ID, t0.Add(3*time.Minute), sessiond.ReasonLogout,
		func(s *sessiond.Session) sessiond.ChangeRecords { return records("frank", s.ID) }); err != nil || !ok {
		t.Fatalf("RevokeRecorded() = %v, %v; want recorded", ok, err)
	}
	pendingIs("a revocation", 6)
	if _, err := st.RevokeSubjectRecorded(ctx, "erin", "", t0.Add(3*time.Minute), sessiond.ReasonAdmin,
		func(revs []sessiond.Revocation) sessiond.ChangeRecords { return records("erin", revs[0].SessionID) }); err != nil {
		t.Fatalf("RevokeSubjectRecorded() = %v", err)
	}
	pendingIs("a subject's revocation", 7)
	// A change of the API key set (a revoking document: its own script,
	// and the replicas' wait), its records pending in the document's slot.
	if _, err := st.PutMetaRecorded(ctx, "api_keys", []byte("{}"), 0, records("frank", "")); err != nil {
		t.Fatalf("PutMetaRecorded() = %v", err)
	}
	pendingIs("a key set's change", 8)
	// One that loses its compare-and-swap keeps nothing pending.
	if _, err := st.PutMetaRecorded(ctx, "api_keys", []byte("{}"), 0, sessiond.ChangeRecords{
		Events: []sessiond.Event{{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventAPIKeyCreated, Subject: "frank"}}}); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("PutMetaRecorded(moved version) = %v; want ErrConflict", err)
	}
	pendingIs("a key set's lost compare-and-swap", 8)
	// A change that fails keeps nothing pending.
	if err := st.TouchRecorded(ctx, frank.ID, t0.Add(4*time.Minute), t0.Add(time.Hour), sessiond.ChangeRecords{
		Events: []sessiond.Event{{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionRefreshed, Subject: "frank"}}}); err == nil {
		t.Fatal("TouchRecorded(revoked session) = nil; want ErrRevoked")
	}
	pendingIs("a refused touch", 8)

	stored := func() ([]string, int) {
		t.Helper()
		var ids []string
		for _, s := range []string{"erin", "frank"} {
			ids = append(ids, queryAll(t, st, sessiond.EventQuery{Subject: s})...)
		}
		ds, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 1000)
		if err != nil {
			t.Fatalf("ListDeliveries() = %v", err)
		}
		return ids, len(ds)
	}
	if ids, n := stored(); len(ids) != 0 || n != 0 {
		t.Fatalf("before a sweep: %d events and %d deliveries stored; want none (held pending)", len(ids), n)
	}

	c := redisstore.ClientOf(st)
	// Malformed entries (not JSON; a bad block) are left where they are,
	// and the sweep goes on.
	bad := redisstore.PendingKey(st, "erin")
	if err := c.Do(ctx, c.B().Hset().Key(bad).FieldValue().FieldValue("junk", `{"at":1,"b":["9"]}`).FieldValue("junk2", "not JSON").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if n, err := redisstore.SweepPending(ctx, st, time.Hour); err != nil || n != 0 {
		t.Fatalf("SweepPending(an hour) = %d, %v; want 0: the records are younger", n, err)
	}
	// Keep one change's records to pend them again after the sweep.
	again, err := c.Do(ctx, c.B().Hgetall().Key(redisstore.PendingKey(st, "frank")).Build()).AsStrMap()
	if err != nil || len(again) == 0 {
		t.Fatalf("HGETALL frank's pending hash = %v, %v", again, err)
	}
	if n, err := redisstore.SweepPending(ctx, st, 0); err != nil || n != 8 {
		t.Fatalf("SweepPending(0) = %d, %v; want 8", n, err)
	}
	check := func(stage string) {
		t.Helper()
		ids, n := stored()
		slices.Sort(ids)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(ids, w) {
			t.Errorf("after %s: events %v; want each change's once: %v", stage, ids, w)
		}
		if n != deliveries {
			t.Errorf("after %s: %d deliveries pending; want %d", stage, n, deliveries)
		}
	}
	check("the sweep")
	pendingIs("the sweep", 2) // the malformed entries
	if v, err := c.Do(ctx, c.B().Hget().Key(bad).Field("junk").Build()).ToString(); err != nil || v == "" {
		t.Errorf("malformed entry = %q, %v; want it left in place", v, err)
	}
	if err := c.Do(ctx, c.B().Hdel().Key(bad).Field("junk", "junk2").Build()).Error(); err != nil {
		t.Fatal(err)
	}

	// The same records pending again are stored once.
	for f, v := range again {
		if err := c.Do(ctx, c.B().Hset().Key(redisstore.PendingKey(st, "frank")).FieldValue().FieldValue(f, v).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := redisstore.SweepPending(ctx, st, 0); err != nil || n != len(again) {
		t.Fatalf("SweepPending(again) = %d, %v; want %d", n, err, len(again))
	}
	check("a second move of the same records")
	pendingIs("the second sweep", 0)
}

// TestStore_PendingRecordsMoved: without a crash, a change's own call
// moves its records, and the fields are deleted soon after (in a batch):
// nothing stays pending and the events are stored; those still queued for
// deletion when the store closes are deleted by Close.
func TestStore_PendingRecordsMoved(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	redisstore.BatchBySlot(st)
	ctx := context.Background()
	t0 := now()
	s := newSession("gina", t0)
	e := sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionCreated, Subject: "gina", SessionID: s.ID}
	if _, err := st.CreateRecorded(ctx, s, 0, false, sessiond.ChangeRecords{Events: []sessiond.Event{e}}, nil); err != nil {
		t.Fatalf("CreateRecorded() = %v", err)
	}
	if got := queryAll(t, st, sessiond.EventQuery{Subject: "gina"}); len(got) != 1 || got[0] != e.ID {
		t.Errorf("events %v; want [%s]", got, e.ID)
	}
	if !eventually(5*time.Second, func() bool { n, err := redisstore.PendingRecords(ctx, st); return err == nil && n == 0 }) {
		n, err := redisstore.PendingRecords(ctx, st)
		t.Errorf("pending = %d, %v; want 0", n, err)
	}
	// Many changes, then Close at once: Close deletes what is queued.
	other := newStore(t, redisstore.Options{Prefix: redisstore.PrefixOf(st)})
	redisstore.BatchBySlot(other)
	for i := range 300 {
		s := newSession(fmt.Sprintf("gina-%d", i), t0)
		e := sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionCreated, Subject: s.Subject, SessionID: s.ID}
		if _, err := other.CreateRecorded(ctx, s, 0, false, sessiond.ChangeRecords{Events: []sessiond.Event{e}}, nil); err != nil {
			t.Fatalf("CreateRecorded() = %v", err)
		}
	}
	other.Close()
	if n, err := redisstore.PendingRecords(ctx, st); err != nil || n != 0 {
		t.Errorf("after Close: pending = %d, %v; want 0", n, err)
	}
}
