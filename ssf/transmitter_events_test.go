package ssf_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_StreamEvents: creating and deleting a stream are
// recorded in the event log, with the stream, its owner, the API key that
// acted and the caller's address, as other administrative changes are; a
// refused request records nothing.
func TestTransmitter_StreamEvents(t *testing.T) {
	ctx := context.Background()
	var st *memstore.Store
	_, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		st = o.Meta.(*memstore.Store)
		o.Events = eventLog{st}
	})
	streams := srv.URL + ssf.PathStreams
	push := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://receiver.example/ssf?token=x","authorization_header":"Bearer y"}}`)
	poll := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	for _, req := range []struct{ method, url, key, body string }{
		{http.MethodPost, streams, "key-a", `{"delivery":{"method":"smtp"}}`},          // refused: 400
		{http.MethodDelete, streams + "?stream_id=" + push, "key-b", ""},               // not its stream: 404
		{http.MethodDelete, streams + "?stream_id=" + push, "admin", ""},               // deleted by an admin
		{http.MethodDelete, streams + "?stream_id=" + poll, "key-a", ""},               // by its owner
		{http.MethodDelete, streams + "?stream_id=" + poll, "key-a", ""},               // gone: 404
		{http.MethodPatch, streams, "key-a", `{"stream_id":"nope","description":"d"}`}, // 404
	} {
		txCall(t, req.method, req.url, req.key, req.body, nil)
	}
	type row struct {
		typ                                sessiond.EventType
		stream, delivery, owner, key, host string
	}
	want := []row{
		{ssf.EventStreamCreated, push, ssf.DeliveryPush, "key-a", "key-a", "receiver.example"},
		{ssf.EventStreamCreated, poll, ssf.DeliveryPoll, "key-a", "key-a", ""},
		{ssf.EventStreamDeleted, push, ssf.DeliveryPush, "key-a", "admin", "receiver.example"},
		{ssf.EventStreamDeleted, poll, ssf.DeliveryPoll, "key-a", "key-a", ""},
	}
	got := map[string]sessiond.Event{} // by type and stream: two events of one millisecond have no order
	for _, typ := range []sessiond.EventType{ssf.EventStreamCreated, ssf.EventStreamDeleted} {
		evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: typ, Limit: sessiond.MaxEventLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			id, _ := e.Details["stream_id"].(string)
			got[string(e.Type)+" "+id] = e
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d stream events recorded; want %d: %+v", len(got), len(want), got)
	}
	str := func(e sessiond.Event, k string) string { s, _ := e.Details[k].(string); return s }
	for _, w := range want {
		e, ok := got[string(w.typ)+" "+w.stream]
		if !ok {
			t.Errorf("no %s event for stream %s", w.typ, w.stream)
			continue
		}
		g := row{e.Type, str(e, "stream_id"), str(e, "delivery"), str(e, "owner"), str(e, "api_key_id"), str(e, "endpoint_host")}
		if g != w {
			t.Errorf("event = %+v; want %+v", g, w)
		}
		if e.Client.IP != "127.0.0.1" || e.ID == "" || e.Time.IsZero() {
			t.Errorf("%s %s: client IP %q, ID %q, time %v; want 127.0.0.1, an ID and a time", w.typ, w.stream, e.Client.IP, e.ID, e.Time)
		}
		for k, v := range e.Details {
			if s, _ := v.(string); s == "Bearer y" || s == "https://receiver.example/ssf?token=x" {
				t.Errorf("%s %s: details.%s holds the stream's secret or full URL", w.typ, w.stream, k)
			}
		}
	}
}
