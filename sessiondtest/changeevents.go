package sessiondtest

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// changeEventStore is what TestChangeEvents needs: a store that writes a
// change's events and deliveries with it, and lets them be read back.
type changeEventStore interface {
	sessiond.Store
	sessiond.ChangeEventWriter
	sessiond.EventLog
	sessiond.Outbox
}

// TestChangeEvents checks a sessiond.ChangeEventWriter: the events and
// webhook deliveries a RefreshSwap carries are stored when, and only when,
// the swap is; input the store refuses changes nothing at all.
func TestChangeEvents(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[changeEventStore]{
		{"SwapWritesEvents", changeSwapWritesEvents},
		{"FailedSwapWritesNothing", changeFailedSwapWritesNothing},
		{"BadInputChangesNothing", changeBadInputChangesNothing},
		{"DuplicateEventSkipped", changeDuplicateEventSkipped},
	})
}

// carrying returns a swap of a fresh session's refresh token at now that
// carries its session.refreshed event and one delivery of it.
func carrying(t *testing.T, f *fixture, now time.Time, grace time.Duration) (*swapFixture, sessiond.RefreshSwap) {
	t.Helper()
	sf := &swapFixture{fixture: f, s: NewSession("alice", t0)}
	sf.old = NewToken(sessiond.KindRefresh, sf.s.ID, t0)
	f.create(clone(sf.s), NewToken(sessiond.KindAccess, sf.s.ID, t0), sf.old)
	sw := sf.swap(now, grace)
	e := newEvent(sessiond.EventSessionRefreshed, sf.s.Subject, sf.s.ID, now)
	d := newDelivery(now)
	d.EventID = e.ID
	sw.Events, sw.Deliveries = []sessiond.Event{e}, []sessiond.Delivery{d}
	return sf, sw
}

// carried returns the session's stored events and the pending deliveries.
func carried(t *testing.T, f *fixture, st changeEventStore, sid sessiond.SessionID) ([]sessiond.Event, []sessiond.Delivery) {
	t.Helper()
	events, _, err := st.QueryEvents(f.ctx, sessiond.EventQuery{SessionID: sid})
	if err != nil {
		t.Fatalf("QueryEvents = %v", err)
	}
	ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 100)
	if err != nil {
		t.Fatalf("ListDeliveries = %v", err)
	}
	return events, ds
}

func changeSwapWritesEvents(t *testing.T, f *fixture, st changeEventStore) {
	if !st.WritesChangeEvents() {
		t.Fatal("WritesChangeEvents() = false on a store the suite runs on")
	}
	sf, sw := carrying(t, f, at(time.Hour), 0)
	sf.mustSwap(sw)
	sf.wantToken(sw.Next)
	events, ds := carried(t, f, st, sf.s.ID)
	if len(events) != 1 {
		t.Fatalf("after the swap, %d events; want its 1", len(events))
	}
	want := sw.Events[0]
	want.Details = jsonDetails(t, want.Details)
	checkEvent(t, "QueryEvents", events[0], want)
	if len(ds) != 1 {
		t.Fatalf("after the swap, %d pending deliveries; want its 1", len(ds))
	}
	checkDelivery(t, "ListDeliveries", ds[0], sw.Deliveries[0])
}

func changeFailedSwapWritesNothing(t *testing.T, f *fixture, st changeEventStore) {
	sf, first := carrying(t, f, at(time.Hour), 0)
	first.Events, first.Deliveries = nil, nil
	sf.mustSwap(first)
	for _, tc := range []struct {
		name string
		edit func(sw *sessiond.RefreshSwap)
		want error
	}{
		// The old token was retired an hour before, outside any grace.
		{"Reused", func(*sessiond.RefreshSwap) {}, sessiond.ErrRefreshReused},
		{"UnknownOld", func(sw *sessiond.RefreshSwap) { sw.Old = randomHash() }, sessiond.ErrNotFound},
		{"OtherSession", func(sw *sessiond.RefreshSwap) {
			sw.Old = first.Next.Hash
			sw.Next.SessionID = sessiond.NewSessionID()
		}, sessiond.ErrInvalidArgument},
	} {
		sw := sf.swap(at(2*time.Hour), 0)
		e := newEvent(sessiond.EventSessionRefreshed, sf.s.Subject, sf.s.ID, at(2*time.Hour))
		d := newDelivery(at(2 * time.Hour))
		sw.Events, sw.Deliveries = []sessiond.Event{e}, []sessiond.Delivery{d}
		tc.edit(&sw)
		wantErr(t, tc.name+": SwapRefresh", st.SwapRefresh(f.ctx, sw), tc.want)
		if events, ds := carried(t, f, st, sf.s.ID); len(events) != 0 || len(ds) != 0 {
			t.Errorf("%s: a failed swap left %d events and %d deliveries; want none", tc.name, len(events), len(ds))
		}
	}
}

func changeBadInputChangesNothing(t *testing.T, f *fixture, st changeEventStore) {
	cases := append(badRecords[:len(badRecords):len(badRecords)], struct {
		name string
		edit func(rec *sessiond.ChangeRecords)
	}{"SecondEventWithoutID", func(rec *sessiond.ChangeRecords) { rec.Events = append(rec.Events, sessiond.Event{Type: "x"}) }})
	for _, tc := range cases {
		sf, sw := carrying(t, f, at(time.Hour), 0)
		rec := sessiond.ChangeRecords{Events: sw.Events, Deliveries: sw.Deliveries}
		tc.edit(&rec)
		sw.Events, sw.Deliveries = rec.Events, rec.Deliveries
		wantErr(t, tc.name+": SwapRefresh", st.SwapRefresh(f.ctx, sw), sessiond.ErrInvalidArgument)
		sf.wantToken(sf.old) // still current
		sf.wantNoToken(sw.Next.Hash)
		if events, _ := carried(t, f, st, sf.s.ID); len(events) != 0 {
			t.Errorf("%s: refused swap stored %d events", tc.name, len(events))
		}
	}
	if ds, err := st.ListDeliveries(f.ctx, sessiond.DeliveryPending, 100); err != nil || len(ds) != 0 {
		t.Errorf("refused swaps left deliveries %v, %v; want none", deliveryIDs(ds), err)
	}
}

func changeDuplicateEventSkipped(t *testing.T, f *fixture, st changeEventStore) {
	sf, sw := carrying(t, f, at(time.Hour), 0)
	if err := st.AppendEvents(f.ctx, sw.Events[0]); err != nil {
		t.Fatal(err)
	}
	if err := st.EnqueueDeliveries(f.ctx, sw.Deliveries[0]); err != nil {
		t.Fatal(err)
	}
	sf.mustSwap(sw) // a retried write: the swap happens, nothing doubles
	sf.wantToken(sw.Next)
	if events, ds := carried(t, f, st, sf.s.ID); len(events) != 1 || len(ds) != 1 {
		t.Errorf("%d events and %d deliveries; want 1 and 1", len(events), len(ds))
	}
}
