package ssf_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_PollQueueAgeBound: a SET waits in a poll queue at most 7
// days from when its outbox entry was made, as a paused push stream holds
// one: whoever holds an ssf key cannot pause a poll stream (or never poll
// it) and keep revocations in the store for as long as it lasts. Past the
// bound a SET is dropped at the queue's next write (a SET queued) or poll,
// never handed out, and the drop is logged with its count. A SET queued
// before SETs carried their time counts from the queue's next write. On
// each store: the time is part of the stored queue.
func TestTransmitter_PollQueueAgeBound(t *testing.T) {
	for _, rs := range append([]realStore{memStore}, realStores(t)...) {
		t.Run(rs.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := rs.open(t)
			clock := sessiondtest.NewClock(time.Now())
			var mu sync.Mutex
			var recs []slog.Record
			tx, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
				o.Meta, o.Outbox, o.Clock = st, st, clock
				o.Logger = slog.New(recordingHandler{&mu, &recs})
			})
			id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
			setStatus(t, srv, id, ssf.StatusPaused)
			queue := func(evt string) string {
				t.Helper()
				ds, err := tx.Deliveries(ctx, revokedEvent(evt))
				if err != nil || len(ds) != 1 {
					t.Fatalf("Deliveries = %v, %v", ds, err)
				}
				if perm, err := tx.Send(ctx, ds[0]); err != nil {
					t.Fatalf("Send = %v, %v", perm, err)
				}
				return strings.TrimPrefix(ds[0].ID, "ssf_")
			}
			dropped := func() []int64 {
				mu.Lock()
				defer mu.Unlock()
				var counts []int64
				for _, r := range recs {
					if r.Level == slog.LevelWarn && strings.Contains(r.Message, "7 days dropped") {
						r.Attrs(func(a slog.Attr) bool {
							if a.Key == "count" {
								counts = append(counts, a.Value.Int64())
							}
							return true
						})
					}
				}
				recs = nil
				return counts
			}
			polled := func() []string {
				t.Helper()
				return slices.Sorted(maps.Keys(pollNow(t, srv, id).Sets))
			}
			stored := func() string {
				t.Helper()
				b, _, err := st.GetMeta(ctx, "ssf.poll."+id)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}

			old := queue("evt_old")
			// A SET queued by a version that kept no time: written as
			// such, beside the one just queued.
			var doc struct {
				Sets []map[string]json.RawMessage `json:"sets"`
			}
			b, v, err := st.GetMeta(ctx, "ssf.poll."+id)
			if err != nil || json.Unmarshal(b, &doc) != nil || len(doc.Sets) != 1 || doc.Sets[0]["at"] == nil {
				t.Fatalf("queue = %s, %v; want one SET with its time", b, err)
			}
			const legacy = "legacy0000000000000000000000000"
			doc.Sets = append(doc.Sets, map[string]json.RawMessage{"jti": json.RawMessage(`"` + legacy + `"`),
				"claims": json.RawMessage(strings.ReplaceAll(string(doc.Sets[0]["claims"]), old, legacy))})
			b, _ = json.Marshal(doc)
			if _, err := st.PutMeta(ctx, "ssf.poll."+id, b, v); err != nil {
				t.Fatal(err)
			}

			clock.Advance(6 * 24 * time.Hour)
			recent := queue("evt_recent") // the legacy SET's time is written with it
			if got := polled(); len(got) != 0 {
				t.Fatalf("a paused stream handed out %v", got)
			}
			clock.Advance(24 * time.Hour) // evt_old is 7 days old
			later := queue("evt_later")
			if got := dropped(); !slices.Equal(got, []int64{1}) {
				t.Errorf("queuing a SET after 7 days logged drops %v; want one line counting 1", got)
			}
			if s := stored(); strings.Contains(s, old) || !strings.Contains(s, legacy) {
				t.Errorf("queue stored after 7 days = %s; want evt_old's SET gone, the legacy one kept", s)
			}
			setStatus(t, srv, id, ssf.StatusEnabled)
			if got, want := polled(), slices.Sorted(slices.Values([]string{legacy, recent, later})); !slices.Equal(got, want) {
				t.Errorf("poll once enabled = %v; want %v (not the SET queued 7 days ago)", got, want)
			}

			// Enabled and not acknowledged: the same bound, applied by a poll.
			clock.Advance(6 * 24 * time.Hour) // evt_recent and the legacy SET at 7 days, evt_later at 6
			if got := polled(); !slices.Equal(got, []string{later}) {
				t.Errorf("poll 13 days in = %v; want only %s", got, later)
			}
			if got := dropped(); !slices.Equal(got, []int64{2}) {
				t.Errorf("poll 13 days in logged drops %v; want one line counting 2", got)
			}
			if s := stored(); strings.Contains(s, recent) || strings.Contains(s, legacy) || !strings.Contains(s, later) {
				t.Errorf("queue stored 13 days in = %s; want only evt_later's SET", s)
			}
		})
	}
}
