package newestfirst_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/newestfirst"
	"github.com/sessiond/sessiond/memstore"
)

// TestRead: Read returns the newest entries within its bounds, newest
// first, each once, whether they are dense (a burst wider than a read),
// sparse (days apart) or many in one second, and the newest of a burst
// take a few reads, not one per page of the burst.
func TestRead(t *testing.T) {
	const maxTestReads = 10_000 // an endless Read fails instead of hanging
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	log := memstore.New()
	var all []sessiond.Event
	add := func(n int, from, to time.Time) {
		for i := range n {
			tm := from.Add(time.Duration(i) * to.Sub(from) / time.Duration(n))
			all = append(all, sessiond.Event{ID: sessiond.NewEventID(tm), Time: tm, Type: sessiond.EventSessionCreated})
		}
	}
	add(30, now.Add(-30*24*time.Hour), now.Add(-2*24*time.Hour))    // sparse
	add(5000, now.Add(-20*time.Second), now)                        // a burst
	add(1500, now.Add(-time.Hour), now.Add(-time.Hour+time.Second)) // a burst of a second
	for chunk := range slices.Chunk(all, 1000) {
		if err := log.AppendEvents(t.Context(), chunk...); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(all, func(a, b sessiond.Event) int { return strings.Compare(b.ID, a.ID) }) // newest first
	within := func(since, until time.Time, n int) []string {
		var ids []string
		for _, e := range all {
			if len(ids) < n && (since.IsZero() || !e.Time.Before(since)) && e.Time.Before(until) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	until := now.Add(time.Minute)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         int
		maxReads     int // 0: not counted
	}{
		{"newest of a burst", time.Time{}, until, 100, 20},
		{"more than a read", time.Time{}, until, 1000, 20},
		{"a dense second", time.Time{}, now.Add(-time.Hour).Add(time.Second), 1200, 0},
		{"everything", time.Time{}, until, 10_000, 0},
		{"since", now.Add(-10 * time.Second), until, 10_000, 20},
		{"none in bounds", now.Add(2 * time.Minute), now.Add(3 * time.Minute), 10, 5},
		{"past the burst", time.Time{}, now.Add(-time.Minute), 20, 0},
		// The windows grow past the longest Duration on the way back: a
		// width that wrapped around to zero read one empty window forever.
		// Halving a window of centuries down to the burst costs a read per
		// halving: bounded, if not few.
		{"until centuries ahead", time.Time{}, now.AddDate(1000, 0, 0), 100, 150},
		{"until centuries ahead, since", now.Add(-40 * 24 * time.Hour), now.AddDate(1000, 0, 0), 100, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			page := func(ctx context.Context, since, until time.Time, cursor string, limit int) ([]sessiond.Event, string, error) {
				if reads++; reads > maxTestReads {
					return nil, "", fmt.Errorf("more than %d reads", maxTestReads)
				}
				return log.QueryEvents(ctx, sessiond.EventQuery{Since: since, Until: until, Cursor: cursor, Limit: limit})
			}
			got, err := newestfirst.Read(t.Context(), page, tc.since, tc.until, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(got))
			for i, e := range got {
				ids[i] = e.ID
			}
			if want := within(tc.since, tc.until, tc.want); !slices.Equal(ids, want) {
				t.Errorf("Read(%v, %v, %d) = %d events; want the newest %d within, newest first, each once", tc.since, tc.until, tc.want, len(ids), len(want))
			}
			if tc.maxReads > 0 && reads > tc.maxReads {
				t.Errorf("Read(%v, %v, %d) took %d reads; want at most %d", tc.since, tc.until, tc.want, reads, tc.maxReads)
			}
		})
	}
}
