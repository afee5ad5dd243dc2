package ssf_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
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
		// Who and from where, as other admin actions record it: Go's
		// client names itself in User-Agent.
		if e.Client.IP != "127.0.0.1" || !strings.HasPrefix(e.Client.UserAgent, "Go-http-client/") || e.ID == "" || e.Time.IsZero() {
			t.Errorf("%s %s: client %+v, ID %q, time %v; want 127.0.0.1 with Go's user agent, an ID and a time", w.typ, w.stream, e.Client, e.ID, e.Time)
		}
		for k, v := range e.Details {
			if s, _ := v.(string); s == "Bearer y" || s == "https://receiver.example/ssf?token=x" {
				t.Errorf("%s %s: details.%s holds the stream's secret or full URL", w.typ, w.stream, k)
			}
		}
	}
}

// TestTransmitter_StreamUpdateEvents: a change of a stream's configuration
// (PATCH, PUT) or status is recorded as EventStreamUpdated, naming what
// changed; a new endpoint_url (which redirects every SET of the stream)
// names the old and new hosts, never a URL or the authorization header.
// A refused change, or one that changes nothing, records nothing; adding
// or removing a subject records nothing.
func TestTransmitter_StreamUpdateEvents(t *testing.T) {
	ctx := context.Background()
	var st *memstore.Store
	_, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		st = o.Meta.(*memstore.Store)
		o.Events = eventLog{st}
	})
	streams := srv.URL + ssf.PathStreams
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://receiver.example/ssf?token=x","authorization_header":"Bearer y"}}`)
	sid := `"stream_id":"` + id + `"`
	steps := []struct {
		name, method, url, key, body string
		want                         int
		changed                      []string    // nil: no event
		details                      [][2]string // more details wanted
	}{
		{"redirect by an admin", http.MethodPatch, streams, "admin", `{` + sid + `,"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://attacker.example/in?token=z","authorization_header":"Bearer w"}}`,
			http.StatusOK, []string{"delivery.endpoint_url", "delivery.authorization_header"},
			[][2]string{{"api_key_id", "admin"}, {"endpoint_host", "attacker.example"}, {"previous_endpoint_host", "receiver.example"}}},
		{"the same again", http.MethodPatch, streams, "key-a", `{` + sid + `,"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://attacker.example/in?token=z","authorization_header":"Bearer w"}}`,
			http.StatusOK, nil, nil},
		{"refused", http.MethodPatch, streams, "key-a", `{` + sid + `,"description":"d","iss":"https://evil.example"}`, http.StatusBadRequest, nil, nil},
		{"another key's stream", http.MethodPatch, streams, "key-b", `{` + sid + `,"description":"d"}`, http.StatusNotFound, nil, nil},
		{"to poll by a replacement", http.MethodPut, streams, "key-a", `{` + sid + `,"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":["` + ssf.CAEPSessionRevoked + `"],"description":"d"}`,
			http.StatusOK, []string{"delivery.method", "delivery.endpoint_url", "delivery.authorization_header", "events_requested", "description"},
			[][2]string{{"delivery", ssf.DeliveryPoll}, {"previous_endpoint_host", "attacker.example"}, {"endpoint_host", ""}}},
		{"paused", http.MethodPost, srv.URL + ssf.PathStatus, "key-a", `{` + sid + `,"status":"paused","reason":"maintenance"}`,
			http.StatusOK, []string{"status"}, [][2]string{{"status", "paused"}, {"previous_status", "enabled"}}},
		{"paused again", http.MethodPost, srv.URL + ssf.PathStatus, "key-a", `{` + sid + `,"status":"paused"}`, http.StatusOK, nil, nil},
		{"subject added", http.MethodPost, srv.URL + ssf.PathAddSubject, "key-a", `{` + sid + `,"subject":{"format":"opaque","id":"alice"}}`, http.StatusOK, nil, nil},
	}
	var seen int
	for _, s := range steps {
		if code := txCall(t, s.method, s.url, s.key, s.body, nil); code != s.want {
			t.Fatalf("%s: %s = %d; want %d", s.name, s.method, code, s.want)
		}
		evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: ssf.EventStreamUpdated, Limit: sessiond.MaxEventLimit})
		if err != nil {
			t.Fatal(err)
		}
		if s.changed == nil {
			if len(evs) != seen {
				t.Errorf("%s: %d update events; want %d (none more)", s.name, len(evs), seen)
			}
			continue
		}
		if len(evs) != seen+1 {
			t.Fatalf("%s: %d update events; want %d", s.name, len(evs), seen+1)
		}
		seen++
		var e sessiond.Event
		for _, x := range evs { // the newest: IDs sort by time
			if x.ID > e.ID {
				e = x
			}
		}
		var changed []string
		if l, ok := e.Details["changed"].([]any); ok {
			for _, c := range l {
				s, _ := c.(string)
				changed = append(changed, s)
			}
		} else if l, ok := e.Details["changed"].([]string); ok {
			changed = l
		}
		if !slices.Equal(changed, s.changed) {
			t.Errorf("%s: changed = %v; want %v", s.name, changed, s.changed)
		}
		if e.Details["stream_id"] != id || e.Details["owner"] != "key-a" || e.Client.IP != "127.0.0.1" {
			t.Errorf("%s: details %v, client %q; want stream %s, owner key-a, client 127.0.0.1", s.name, e.Details, e.Client.IP, id)
		}
		for _, kv := range s.details {
			if got, _ := e.Details[kv[0]].(string); got != kv[1] {
				t.Errorf("%s: details.%s = %q; want %q", s.name, kv[0], got, kv[1])
			}
		}
		for k, v := range e.Details {
			if s, _ := v.(string); strings.Contains(s, "token=") || strings.HasPrefix(s, "Bearer") || strings.Contains(s, "/") && k != "delivery" {
				t.Errorf("details.%s = %q: a URL or a credential", k, s)
			}
		}
	}
}
