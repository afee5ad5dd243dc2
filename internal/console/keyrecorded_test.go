package console_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
)

// keyEvents is a console.EventRecorder that keeps what it prepared and
// what it was told is committed.
type keyEvents struct {
	mu                  sync.Mutex
	prepared, committed []sessiond.Event
}

func (k *keyEvents) Prepare(_ context.Context, e sessiond.Event) (sessiond.Event, sessiond.ChangeRecords, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Microsecond)
	e.ID, e.Time = sessiond.NewEventID(now), now
	k.prepared = append(k.prepared, e)
	return e, sessiond.ChangeRecords{Events: []sessiond.Event{e}}, true
}

func (k *keyEvents) Committed(_ context.Context, e sessiond.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.committed = append(k.committed, e)
}

// TestConsole_KeyEventsWithTheChange: with Options.KeyEvents on a store
// that writes a change's events with it (memstore), a key created and a
// key revoked on the console each give one event, prepared for the key
// set's write and told committed, none of them sent to Record as well;
// a second revocation gives none. The events are those Record is given
// without KeyEvents (the console's events before they went with the
// change): same types, same details.
func TestConsole_KeyEventsWithTheChange(t *testing.T) {
	for _, withKeyEvents := range []bool{true, false} {
		t.Run(map[bool]string{true: "KeyEvents", false: "Record"}[withKeyEvents], func(t *testing.T) {
			rec := &recorded{}
			ev := &keyEvents{}
			f := newFixtureWith(t, func(_ *fixture, o *console.Options) {
				o.Record = rec.record
				if withKeyEvents {
					o.KeyEvents = ev
				}
			})
			c := f.signedIn()
			rec.take() // the sign-in's
			resp, body := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"made"}, "scope": {"events:read"}}, "same-origin")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("create = %d\n%s", resp.StatusCode, body)
			}
			keys, err := f.keys.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(keys, func(k apikey.Key) bool { return k.Name == "made" })
			if i < 0 {
				t.Fatal("the key created is not in the set")
			}
			id := keys[i].ID
			for range 2 { // the second finds it revoked: no event
				resp, body = f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {id}, "confirm": {console.Confirmation}}, "same-origin")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("revoke = %d\n%s", resp.StatusCode, body)
				}
			}

			type event struct {
				Type    sessiond.EventType
				Details map[string]any
			}
			want := []event{
				{sessiond.EventAPIKeyCreated, map[string]any{"key_id": id, "name": "made", "scopes": "events:read", "by": f.adminK.ID, "via": "console"}},
				{sessiond.EventAPIKeyRevoked, map[string]any{"key_id": id, "by": f.adminK.ID, "via": "console"}},
			}
			of := func(evs []sessiond.Event) []event {
				var out []event
				for _, e := range evs {
					out = append(out, event{e.Type, e.Details})
				}
				return out
			}
			ev.mu.Lock()
			prepared, committed := of(ev.prepared), of(ev.committed)
			ev.mu.Unlock()
			recordedEvs := of(rec.take())
			if withKeyEvents {
				if !reflect.DeepEqual(committed, want) || !reflect.DeepEqual(prepared, want) {
					t.Errorf("events prepared %v, committed %v; want each %v", prepared, committed, want)
				}
				if len(recordedEvs) != 0 {
					t.Errorf("events sent to Record too: %v; want none (they went with the change)", recordedEvs)
				}
				stored, _, err := f.store.QueryEvents(t.Context(), sessiond.EventQuery{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range stored {
					if e.Details["key_id"] == id {
						n++
					}
				}
				if n != len(want) {
					t.Errorf("%d events of %s stored with the key set; want %d", n, id, len(want))
				}
				return
			}
			if !reflect.DeepEqual(recordedEvs, want) || len(prepared)+len(committed) != 0 {
				t.Errorf("events sent to Record %v (prepared %v, committed %v); want %v and none prepared", recordedEvs, prepared, committed, want)
			}
		})
	}
}
