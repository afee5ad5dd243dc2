package redisstore_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestTouchRecorder_BatchBySlot runs the TouchRecorder suite on the
// Cluster path (the touch keeps the records pending, then they move).
func TestTouchRecorder_BatchBySlot(t *testing.T) {
	redisURL(t)
	sessiondtest.TestTouchRecorder(t, func(t *testing.T) sessiond.Store {
		st := newStore(t, redisstore.Options{})
		redisstore.BatchBySlot(st)
		return st
	})
}

// TestStore_TouchRecordedIndexes: TouchRecorded moves the session's live
// index entry to its new idle expiry as Touch does, and leaves its GC
// entry, which only moves earlier, whether the one script does it (a
// single Redis) or the activity script beside the touch (a Cluster), and
// stores the records.
func TestStore_TouchRecordedIndexes(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		prefix, c, ctx, t0 := redisstore.PrefixOf(st), rawClient(t), t.Context(), now()
		s := newSession("dave", t0)
		s.Strategy = sessiond.StrategyHybrid
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		last, idle := t0.Add(time.Minute), t0.Add(40*time.Minute)
		e := sessiond.Event{ID: sessiond.NewEventID(last), Time: last, Type: sessiond.EventSessionRefreshed,
			Subject: s.Subject, SessionID: s.ID}
		rec := sessiond.ChangeRecords{Events: []sessiond.Event{e}, Deliveries: []sessiond.Delivery{{ID: "d" + e.ID,
			EventID: e.ID, NextAttemptAt: last, CreatedAt: last, UpdatedAt: last}}}
		if err := st.TouchRecorded(ctx, s.ID, last, idle, rec); err != nil {
			t.Fatalf("TouchRecorded() = %v", err)
		}
		for name, want := range map[string]time.Time{"gc": s.IdleExpiresAt, "live:hybrid": idle} {
			score, err := c.Do(ctx, c.B().Zscore().Key(globalKey(prefix, name)).Member(ref(s.Subject, s.ID)).Build()).AsInt64()
			if err != nil || score != want.UnixMicro() {
				t.Errorf("ZSCORE %s = %d, %v; want %d", name, score, err, want.UnixMicro())
			}
		}
		if got := queryAll(t, st, sessiond.EventQuery{Subject: s.Subject}); len(got) != 1 || got[0] != e.ID {
			t.Errorf("events %v; want [%s]", got, e.ID)
		}
		if ds, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 10); err != nil || len(ds) != 1 {
			t.Errorf("pending deliveries = %d, %v; want 1", len(ds), err)
		}
	})
}
