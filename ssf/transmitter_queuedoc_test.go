package ssf_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_StreamChangesLeaveNoQueueDocument: a stream's poll queue
// is a MetaStore document, and a MetaStore cannot delete one; so changing
// or deleting a stream whose queue document does not exist must not write
// an empty one. Otherwise an ssf key looping create and delete grows the
// store by a document per loop, for good. Counted in each real store: the
// loops leave exactly the documents there were before them.
func TestTransmitter_StreamChangesLeaveNoQueueDocument(t *testing.T) {
	const push, poll = `{"method":"urn:ietf:rfc:8935","endpoint_url":"https://receiver.example/ssf"}`, `{"method":"urn:ietf:rfc:8936"}`
	type step struct{ method, path, body string }
	tests := []struct {
		name     string
		delivery string
		steps    []step // {id} in a body is the stream's ID
	}{
		{"push stream updated then deleted", push, []step{
			{http.MethodPatch, ssf.PathStreams, `{"stream_id":"{id}","description":"d"}`},
			{http.MethodPut, ssf.PathStreams, `{"stream_id":"{id}","delivery":` + push + `,"events_requested":[]}`},
		}},
		{"push stream disabled then deleted", push, []step{
			{http.MethodPost, ssf.PathStatus, `{"stream_id":"{id}","status":"disabled"}`},
		}},
		{"poll stream without SETs switched to push then deleted", poll, []step{
			{http.MethodPatch, ssf.PathStreams, `{"stream_id":"{id}","delivery":` + push + `}`},
		}},
		{"poll stream without SETs disabled then deleted", poll, []step{
			{http.MethodPost, ssf.PathStatus, `{"stream_id":"{id}","status":"disabled"}`},
		}},
	}
	for _, rs := range realStores(t) {
		t.Run(rs.name, func(t *testing.T) {
			ctx := context.Background()
			st, metaDocs := rs.open(t)
			_, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.Meta, o.Outbox = st, st })
			createStream(t, srv, `{"delivery":`+push+`}`) // the stream list exists from here on
			before := metaDocs()
			for _, tt := range tests {
				for range 5 {
					id := createStream(t, srv, `{"delivery":`+tt.delivery+`}`)
					for _, s := range tt.steps {
						path := srv.URL + s.path
						if code := txCall(t, s.method, path, "key-a", strings.ReplaceAll(s.body, "{id}", id), nil); code != http.StatusOK {
							t.Fatalf("%s: %s %s = %d", tt.name, s.method, s.path, code)
						}
					}
					if code := txCall(t, http.MethodDelete, srv.URL+ssf.PathStreams+"?stream_id="+id, "key-a", "", nil); code != http.StatusNoContent {
						t.Fatalf("%s: delete = %d", tt.name, code)
					}
					if _, _, err := st.GetMeta(ctx, "ssf.poll."+id); !errors.Is(err, sessiond.ErrNotFound) {
						t.Errorf("%s: queue document of the deleted stream: GetMeta = %v; want ErrNotFound", tt.name, err)
					}
				}
			}
			if after := metaDocs(); after != before {
				t.Errorf("%d MetaStore documents after %d streams created, changed and deleted; want the %d there were before",
					after, 5*len(tests), before)
			}
		})
	}
}
