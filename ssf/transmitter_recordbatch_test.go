package ssf_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// flakyMeta fails its next fail reads of a meta document, as a store
// that drops a connection does, then reads again.
type flakyMeta struct {
	*memstore.Store
	fail atomic.Int32
}

func (m *flakyMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if m.fail.Add(-1) >= 0 {
		return nil, 0, sessiond.ErrStoreUnavailable
	}
	return m.Store.GetMeta(ctx, name)
}

// TestTransmitter_RecordBatchFailsAlone: RecordBatch records events as
// Record would record each (sessiond.BatchSink): when the stream list
// cannot be read for one event, the call's other events are still
// enqueued, as their own Record would have read it again.
func TestTransmitter_RecordBatchFailsAlone(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Now())
	var meta *flakyMeta
	tx, srv, st := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		meta = &flakyMeta{Store: o.Meta.(*memstore.Store)}
		o.Meta, o.Clock = meta, clock
	})
	createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":["`+ssf.CAEPSessionRevoked+`"]}`)
	clock.Advance(time.Minute) // past the stream list's cache
	meta.fail.Store(1)
	revoked := func(id string) sessiond.Event {
		return sessiond.Event{ID: id, Type: sessiond.EventSessionRevoked, Time: clock.Now(), Subject: "alice", SessionID: sessiond.SessionID("s_" + id)}
	}
	if err := tx.RecordBatch(ctx, []sessiond.Event{revoked("evt_1"), revoked("evt_2")}); err == nil {
		t.Errorf("RecordBatch(first event's stream read fails) = nil; want its error")
	}
	got, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EventID != "evt_2" {
		ids := make([]string, len(got))
		for i, d := range got {
			ids[i] = d.EventID
		}
		t.Errorf("RecordBatch enqueued the deliveries of events %v; want [evt_2], as Record for each would", ids)
	}
}
