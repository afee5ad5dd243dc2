package ssf_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_StreamEventsOutliveHangUp: the stream events were
// recorded with the request's context, so a receiver that created (or
// deleted) a stream and hung up at once left no event of it: the change
// stood and the audit trail missed it. The change is made, so its event
// is recorded whatever the caller does.
func TestTransmitter_StreamEventsOutliveHangUp(t *testing.T) {
	var st *memstore.Store
	cancels := make(chan context.CancelFunc, 1)
	tx, _, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		st = o.Meta.(*memstore.Store)
		// The caller hangs up just before the event is recorded: the
		// change is made, then the request's context ends.
		o.Events = sinkFunc(func(ctx context.Context, e sessiond.Event) error {
			(<-cancels)()
			return eventLog{st}.Record(ctx, e)
		})
	})
	serve := func(method, query, body string) *httptest.ResponseRecorder {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancels <- cancel
		req := httptest.NewRequestWithContext(ctx, method, "https://sessiond.example.com"+ssf.PathStreams+query, strings.NewReader(body))
		req.RemoteAddr = "192.0.2.7:4711"
		req.Header.Set("Authorization", "Bearer key-a")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		tx.ServeHTTP(rec, req)
		return rec
	}
	rec := serve(http.MethodPost, "", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	var created struct {
		ID string `json:"stream_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || created.ID == "" {
		t.Fatalf("create answered %s", rec.Body)
	}
	if rec := serve(http.MethodDelete, "?stream_id="+created.ID, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete = %d %s", rec.Code, rec.Body)
	}
	for _, typ := range []sessiond.EventType{ssf.EventStreamCreated, ssf.EventStreamDeleted} {
		evs, _, err := st.QueryEvents(context.Background(), sessiond.EventQuery{Type: typ, Limit: sessiond.MaxEventLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Errorf("%d %s events after the caller hung up; want 1: the change was made", len(evs), typ)
		}
	}
}

type sinkFunc func(context.Context, sessiond.Event) error

func (f sinkFunc) Record(ctx context.Context, e sessiond.Event) error { return f(ctx, e) }
