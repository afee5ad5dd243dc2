package console_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/console"
)

// eventLogOnly hides every method of a store but the EventLog's (no
// EventCounter): the overview reads the events instead.
type eventLogOnly struct{ sessiond.EventLog }

// TestConsole_Overview draws the same charts whether the store counts the
// events (EventCounter) or the overview reads them.
func TestConsole_Overview(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events func(f *fixture) sessiond.EventLog
	}{
		{"counted in the store", func(f *fixture) sessiond.EventLog { return f.store }},
		{"read", func(f *fixture) sessiond.EventLog { return eventLogOnly{f.store} }},
	} {
		t.Run(tc.name, func(t *testing.T) { testOverview(t, tc.events) })
	}
}

func testOverview(t *testing.T, events func(f *fixture) sessiond.EventLog) {
	finding := config.Finding{RuleID: "SD-TEST-001", Severity: config.SeverityWarning, Path: "cookie.name",
		Message: "<b>bold</b>\x1b[31m red", Fix: "rename it"}
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Events = events(f)
		o.Outbox = f.store
		o.Findings = []config.Finding{finding}
		o.Live = func(ctx context.Context) (int, console.Counted, error) {
			m, err := f.store.CountLive(ctx, f.clock.Now())
			return m[sessiond.StrategyDatabase], console.Counted{At: f.clock.Now()}, err
		}
	})
	ctx := t.Context()
	now := f.clock.Now()
	f.create("alice", "a")
	f.create("bob", "b")
	ev := func(typ sessiond.EventType, ago time.Duration, subject string, details map[string]any) sessiond.Event {
		at := now.Add(-ago)
		return sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: typ, Subject: subject, Details: details}
	}
	if err := f.store.AppendEvents(ctx,
		ev(sessiond.EventSessionCreated, 10*time.Minute, "alice", nil),
		ev(sessiond.EventSessionCreated, 11*time.Minute, "bob", nil),
		ev(sessiond.EventSessionCreated, 59*time.Minute, "carol", nil),
		ev(sessiond.EventSessionCreated, 5*time.Hour, "dave", nil),
		ev(sessiond.EventSessionCreated, 5*time.Hour+time.Second, "erin", nil),
		ev(sessiond.EventSessionCreated, 25*time.Hour, "old", nil), // outside the day
		ev(sessiond.EventSessionRefreshed, time.Minute, "alice", nil),
		ev(sessiond.EventSessionRevoked, 2*time.Minute, "alice", nil),
		ev(sessiond.EventSessionRevoked, 3*time.Minute, "bob", nil),
		// A subject's bulk revocation: its sessions have their own events.
		ev(sessiond.EventBulkRevoked, 3*time.Minute, "bob", map[string]any{"count": 1}),
		// The kill switch: no subject, its sessions have no event each.
		ev(sessiond.EventBulkRevoked, 3*time.Hour, "", map[string]any{"count": 4}),
		ev(sessiond.EventRefreshReused, 30*time.Minute, "alice", nil),
		ev(sessiond.EventAnomaly, 2*time.Hour, "alice", map[string]any{"rule": "impossible_travel"}),
		ev(sessiond.EventUnknownToken, 10*time.Minute, "", map[string]any{"stage": "verify"}),
		ev(sessiond.EventUnknownToken, 4*time.Hour, "", map[string]any{"stage": "refresh"}),
	); err != nil {
		t.Fatal(err)
	}
	f.enqueue("msg_1", "msg_2", "msg_3")
	f.finish("msg_3", sessiond.DeliveryDead, 8, "503")

	c := f.signedIn()
	resp, body := f.do(c, "GET", "/console/overview", nil, "same-origin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d\n%s", resp.StatusCode, body)
	}
	for _, tc := range []struct{ name, re string }{
		{"live", `<dd id="live">2</dd>`},
		{"backlog", `<dd id="backlog">2</dd>`},
		{"dead", `<dd id="dead"><a href="/console/webhooks">1</a></dd>`},
		{"logins", `data-series="Logins">.*?class="num hour">3</td><td [^>]*class="num day">5</td>`},
		{"refreshes", `data-series="Refreshes">.*?class="num hour">1</td><td [^>]*class="num day">1</td>`},
		{"revocations", `data-series="Revocations">.*?class="num hour">2</td><td [^>]*class="num day">6</td>`},
		{"reuse", `data-series="Reuse detections">.*?class="num hour">1</td><td [^>]*class="num day">1</td>`},
		{"anomalies", `data-series="Anomalies">.*?class="num hour">0</td><td [^>]*class="num day">1</td>`},
		{"unknown tokens", `data-series="Unknown tokens">.*?class="num hour">1</td><td [^>]*class="num day">2</td>`},
	} {
		if !regexp.MustCompile(`(?s)` + tc.re).MatchString(body) {
			t.Errorf("%s: page does not match %s", tc.name, tc.re)
		}
	}

	// The charts' data attribute: the same totals, in buckets ending now.
	m := regexp.MustCompile(`<div id="overview-data" hidden data-charts="([^"]*)"></div>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no chart data on the page")
	}
	var charts struct{ Hour, Day console.Window }
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &charts); err != nil {
		t.Fatalf("chart data: %v\n%s", err, m[1])
	}
	if charts.Hour.Step != 300 || len(charts.Hour.Series[0].Counts) != 12 || charts.Day.Step != 3600 || len(charts.Day.Series[0].Counts) != 24 {
		t.Fatalf("windows: hour %+v day %+v", charts.Hour, charts.Day)
	}
	if charts.Hour.Start != now.Add(-time.Hour).Unix() || charts.Day.Start != now.Add(-24*time.Hour).Unix() {
		t.Errorf("window starts %d %d", charts.Hour.Start, charts.Day.Start)
	}
	logins := charts.Hour.Series[0]
	// 59 minutes ago is in the first five-minute bucket, 11 in the 10th
	// (49 minutes in), 10 in the 11th.
	if logins.Name != "Logins" || logins.Total != 3 || logins.Counts[0] != 1 || logins.Counts[9] != 1 || logins.Counts[10] != 1 {
		t.Errorf("hour logins = %+v", logins)
	}
	if day := charts.Day.Series[0]; day.Total != 5 || day.Counts[18] != 1 || day.Counts[19] != 1 || day.Counts[23] != 3 {
		t.Errorf("day logins = %+v", day)
	}
	if got := charts.Day.Series[2]; got.Name != "Revocations" || got.Total != 6 || got.Counts[21] != 4 || got.Counts[23] != 2 {
		t.Errorf("day revocations = %+v", got)
	}

	// The findings, with their text escaped.
	if !strings.Contains(body, "SD-TEST-001") || !strings.Contains(body, "rename it") ||
		!strings.Contains(body, `&lt;b&gt;bold&lt;/b&gt;\x1b[31m red`) || strings.Contains(body, "<b>bold") || strings.Contains(body, "\x1b") {
		t.Errorf("findings not shown escaped:\n%s", body)
	}
}

func TestConsole_OverviewWithoutParts(t *testing.T) {
	f := newFixtureWith(t, func(_ *fixture, o *console.Options) { o.Events = nil })
	c := f.signedIn()
	resp, body := f.do(c, "GET", "/console/overview", nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<dd id="live">—</dd>`) ||
		!strings.Contains(body, "keeps no event log") || strings.Contains(body, "overview-data") ||
		!strings.Contains(body, "nothing to say") {
		t.Errorf("overview without event log, outbox or counter: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := f.do(c, "GET", "/console/", nil, "same-origin"); resp.Header.Get("Location") != "/console/overview" {
		t.Errorf("/console/ leads to %q", resp.Header.Get("Location"))
	}
}

// TestConsole_OverviewManyEvents: an incident's event log holds more of a
// type than the overview would read; a store that counts gives the exact
// figures, where reading them stopped at 20,000 and said "at least".
func TestConsole_OverviewManyEvents(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	const n = 25_000
	evs := make([]sessiond.Event, 0, n)
	for i := range n {
		at := now.Add(-time.Duration(i) * 100 * time.Millisecond) // the last 2,500 s
		evs = append(evs, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventRefreshReused, Subject: "alice"})
	}
	if err := f.store.AppendEvents(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(f.signedIn(), "GET", "/console/overview", nil, "same-origin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d\n%s", resp.StatusCode, body)
	}
	re := `(?s)data-series="Reuse detections">.*?class="num hour">25000</td><td [^>]*class="num day">25000</td>`
	if !regexp.MustCompile(re).MatchString(body) || strings.Contains(body, "≥") || strings.Contains(body, "at_least&#34;:true") {
		t.Errorf("overview of %d reuse detections does not match %s:\n%s", n, re, body)
	}
}
