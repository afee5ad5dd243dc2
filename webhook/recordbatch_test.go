package webhook_test

import (
	"context"
	"math"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// TestDispatcher_RecordBatchBadEvent: RecordBatch records events as Record
// would record each (sessiond.BatchSink): an event whose payload cannot be
// made fails alone; the other events of the call are still enqueued.
func TestDispatcher_RecordBatchBadEvent(t *testing.T) {
	ctx := context.Background()
	bad := sessiond.Event{ID: "evt_bad", Type: sessiond.EventSessionRevoked, Time: t0,
		Details: map[string]any{"score": math.NaN()}} // JSON has no NaN
	tests := []struct {
		name   string
		events []sessiond.Event
		want   []string // event IDs enqueued
	}{
		{"bad first", []sessiond.Event{bad, {ID: "evt_2", Type: sessiond.EventSessionRevoked, Time: t0}}, []string{"evt_2"}},
		{"bad last", []sessiond.Event{{ID: "evt_1", Type: sessiond.EventSessionRevoked, Time: t0}, bad}, []string{"evt_1"}},
		{"bad between", []sessiond.Event{{ID: "evt_1", Type: sessiond.EventSessionRevoked, Time: t0}, bad,
			{ID: "evt_3", Type: sessiond.EventSessionRevoked, Time: t0}}, []string{"evt_1", "evt_3"}},
		{"bad alone", []sessiond.Event{bad}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ob := newOutbox(t)
			d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: sessiondtest.NewClock(t0),
				Endpoints: []webhook.Endpoint{{Name: "siem", URL: "https://siem.example/hook", Secret: secret}}})
			if err := d.RecordBatch(ctx, tt.events); err == nil {
				t.Errorf("RecordBatch(with an event JSON cannot encode) = nil; want its error")
			}
			got, err := ob.ListDeliveries(ctx, sessiond.DeliveryPending, 100)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, del := range got {
				ids[del.EventID] = true
			}
			if len(ids) != len(tt.want) {
				t.Errorf("RecordBatch enqueued the deliveries of %d events (%v); want %d: %v", len(ids), ids, len(tt.want), tt.want)
			}
			for _, id := range tt.want {
				if !ids[id] {
					t.Errorf("event %s not enqueued; want it enqueued as Record would", id)
				}
			}
		})
	}
}
