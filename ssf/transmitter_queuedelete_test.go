package ssf_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// metaOnly is a store seen without its MetaDeleter: what the transmitter
// gets from a store that deletes no documents.
type metaOnly struct {
	sessiond.MetaStore
	sessiond.Outbox
}

// TestTransmitter_RetiredQueueDeleted: the poll queue of a stream that
// queued a SET is deleted, on a store that deletes documents
// (sessiond.MetaDeleter), once the stream is deleted. Disabled, or
// switched to push (its SETs moved to the outbox first), the stream keeps
// its queue, empty: it may take SETs again under the same name.
// Otherwise a key creating and deleting streams in a loop grows the store
// by a document per loop, for good. Whether the queue still held its SET
// or was emptied by an acknowledgement before. On a store without
// MetaDeleter the queue stays, empty, as it always did.
func TestTransmitter_RetiredQueueDeleted(t *testing.T) {
	const push = `{"method":"urn:ietf:rfc:8935","endpoint_url":"https://receiver.example/ssf"}`
	tests := []struct {
		name  string
		acked bool   // the SET was acknowledged before the change
		step  string // the change: a PATCH body or status ({id}: the stream), "" for none
		moved bool   // the change moves the queued SET to the outbox
	}{
		{"deleted with a SET queued", false, "", false},
		{"deleted after its SET was acknowledged", true, "", false},
		{"switched to push with a SET queued", false, `{"stream_id":"{id}","delivery":` + push + `}`, true},
		{"switched to push after its SET was acknowledged", true, `{"stream_id":"{id}","delivery":` + push + `}`, false},
		{"disabled with a SET queued", false, "disabled", false},
		{"disabled after its SET was acknowledged", true, "disabled", false},
	}
	stores := append([]realStore{memStore}, realStores(t)...)
	for _, rs := range stores {
		for _, deletes := range []bool{true, false} {
			name := rs.name
			if !deletes {
				name += " without MetaDeleter"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				st, metaDocs := rs.open(t)
				var meta txStore = st
				if !deletes {
					meta = metaOnly{st, st}
				}
				tx, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.Meta, o.Outbox = meta, meta })
				createStream(t, srv, `{"delivery":`+push+`}`) // the stream list exists from here on
				before := 0
				if metaDocs != nil {
					before = metaDocs()
				}
				const loops = 3
				for _, tt := range tests {
					for range loops {
						id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
						queueSET(t, tx, id)
						if tt.acked {
							r := pollNow(t, srv, id)
							ack := make([]string, 0, len(r.Sets))
							for jti := range r.Sets {
								ack = append(ack, jti)
							}
							body, _ := json.Marshal(map[string]any{"ack": ack, "returnImmediately": true})
							if code := txCall(t, http.MethodPost, srv.URL+ssf.PathPoll+id, "key-a", string(body), nil); code != http.StatusOK || len(ack) != 1 {
								t.Fatalf("%s: ack %v = %d", tt.name, ack, code)
							}
						}
						pending, err := st.CountDeliveries(ctx, sessiond.DeliveryPending)
						if err != nil {
							t.Fatal(err)
						}
						switch tt.step {
						case "":
						case "disabled":
							setStatus(t, srv, id, ssf.StatusDisabled)
						default:
							body := strings.ReplaceAll(tt.step, "{id}", id)
							if code := txCall(t, http.MethodPatch, srv.URL+ssf.PathStreams, "key-a", body, nil); code != http.StatusOK {
								t.Fatalf("%s: PATCH = %d", tt.name, code)
							}
						}
						if tt.step != "" {
							// Kept, empty, even with MetaDeleter: the stream may
							// queue again under the same name (pollQueue.retire).
							wantQueue(t, st, id, false, tt.name)
						}
						if after, err := st.CountDeliveries(ctx, sessiond.DeliveryPending); err != nil || (after-pending == 1) != tt.moved {
							t.Errorf("%s: %d pending deliveries after the change, %d before (%v); moved to the outbox: want %v",
								tt.name, after, pending, err, tt.moved)
						}
						if code := txCall(t, http.MethodDelete, srv.URL+ssf.PathStreams+"?stream_id="+id, "key-a", "", nil); code != http.StatusNoContent {
							t.Fatalf("%s: delete = %d", tt.name, code)
						}
						wantQueue(t, st, id, deletes, tt.name+", then deleted")
					}
				}
				if metaDocs == nil {
					return
				}
				want := before
				if !deletes {
					want += loops * len(tests) // one empty queue a stream, as before MetaDeleter
				}
				if after := metaDocs(); after != want {
					t.Errorf("%d MetaStore documents after %d streams queued a SET and ended; want %d (%d before)",
						after, loops*len(tests), want, before)
				}
			})
		}
	}
}

// queueSET hands one SET for poll stream id to tx, as the dispatcher
// does: it lands in the stream's queue.
func queueSET(t *testing.T, tx *ssf.Transmitter, id string) {
	t.Helper()
	ds, err := tx.Deliveries(context.Background(), revokedEvent("evt_"+id))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Endpoint != "ssf:"+id {
			continue
		}
		if permanent, err := tx.Send(context.Background(), d); err != nil || permanent {
			t.Fatalf("Send = %v, %v; want the SET queued", permanent, err)
		}
		return
	}
	t.Fatalf("no delivery for stream %s in %v", id, ds)
}

// wantQueue fails t unless stream id's queue is gone (deletes: the
// store has MetaDeleter) or is there and empty.
func wantQueue(t *testing.T, st sessiond.MetaStore, id string, deletes bool, op string) {
	t.Helper()
	b, _, err := st.GetMeta(context.Background(), "ssf.poll."+id)
	switch {
	case deletes && !errors.Is(err, sessiond.ErrNotFound):
		t.Errorf("%s: queue document = %s, %v; want it deleted (ErrNotFound)", op, b, err)
	case !deletes && (err != nil || !strings.Contains(string(b), `"sets":[]`)):
		t.Errorf("%s: queue document without MetaDeleter = %s, %v; want it kept, empty", op, b, err)
	}
}
