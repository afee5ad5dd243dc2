package console_test

import (
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/memstore"
)

// countingEvents counts the events of one type its QueryEvents returns.
type countingEvents struct {
	*memstore.Store
	typ  sessiond.EventType
	read atomic.Int64
}

func (c *countingEvents) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	evs, next, err := c.Store.QueryEvents(ctx, q)
	for _, e := range evs {
		if e.Type == c.typ {
			c.read.Add(1)
		}
	}
	return evs, next, err
}

// TestConsole_OverviewMassLogout: after a mass logout (a session.bulk_revoked
// per subject, which counts no session on the chart) the overview reads
// only the kill switches' bulk revocations, whose counts it adds, however
// many of the others there are: before, it read them all, up to 20,000,
// missed the kill switches past those and said "at least".
func TestConsole_OverviewMassLogout(t *testing.T) {
	tests := []struct {
		name     string
		logouts  int // subjects' bulk revocations in the last 2,500 s
		wantRead int64
	}{
		{"a few", 10, 2},
		{"more than the overview reads", 25_000, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var events *countingEvents
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				events = &countingEvents{Store: f.store, typ: sessiond.EventBulkRevoked}
				o.Events = events
			})
			now := f.clock.Now()
			bulk := func(at time.Time, subject string, count int) sessiond.Event {
				return sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventBulkRevoked, Subject: subject,
					Details: map[string]any{"reason": "logout", "count": count}}
			}
			// Kill switches, oldest and newest of all.
			evs := []sessiond.Event{bulk(now.Add(-50*time.Minute), "", 100), bulk(now.Add(-time.Second), "", 40)}
			for i := range tc.logouts {
				evs = append(evs, bulk(now.Add(-2*time.Second-time.Duration(i)*100*time.Millisecond), "user", 3))
			}
			if err := f.store.AppendEvents(t.Context(), evs...); err != nil {
				t.Fatal(err)
			}
			resp, body := f.do(f.signedIn(), "GET", "/console/overview", nil, "same-origin")
			if resp.StatusCode != 200 {
				t.Fatalf("overview: %d\n%s", resp.StatusCode, body)
			}
			re := `(?s)data-series="Revocations">.*?class="num hour">140</td><td [^>]*class="num day">140</td>`
			if !regexp.MustCompile(re).MatchString(body) || strings.Contains(body, "≥") || strings.Contains(body, "at_least&#34;:true") {
				t.Errorf("overview after %d logouts and two kill switches does not match %s", tc.logouts, re)
			}
			if got := events.read.Load(); got != tc.wantRead {
				t.Errorf("overview read %d session.bulk_revoked events; want %d, the kill switches'", got, tc.wantRead)
			}
		})
	}
}
