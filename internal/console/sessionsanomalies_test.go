package console_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestConsole_SessionsAnomaliesNewest: the sessions page shows the anomaly
// rules that fired on each session from the subject's newest anomaly
// events, however many older ones the log holds, each rule once.
func TestConsole_SessionsAnomaliesNewest(t *testing.T) {
	tests := []struct {
		name  string
		older int    // anomaly events of another of the subject's sessions, before the recent ones
		want  string // the rules the session's row shows, newest first
	}{
		{"few older", 3, "ip_change distinct_ips"},
		{"more older than a read", sessiond.MaxEventLimit + 500, "ip_change distinct_ips"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			iss := f.create("alice", "laptop")
			now := f.clock.Now()
			var evs []sessiond.Event
			add := func(at time.Time, id sessiond.SessionID, rule string) {
				evs = append(evs, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventAnomaly,
					Subject: "alice", SessionID: id, Details: map[string]any{"rule": rule, "action": "log"}})
			}
			for i := range tc.older {
				add(now.Add(-2*time.Hour+time.Duration(i)*time.Millisecond), "gone", "user_agent_change")
			}
			add(now.Add(-2*time.Minute), iss.Session.ID, "ip_change")
			add(now.Add(-time.Minute), iss.Session.ID, "distinct_ips")
			add(now.Add(-30*time.Second), iss.Session.ID, "ip_change") // the same rule again: shown once
			for i := 0; i < len(evs); i += sessiond.MaxEventLimit {
				if err := f.store.AppendEvents(t.Context(), evs[i:min(i+sessiond.MaxEventLimit, len(evs))]...); err != nil {
					t.Fatal(err)
				}
			}
			_, body := f.do(c, "GET", "/console/sessions?subject="+url.QueryEscape("alice"), nil, "same-origin")
			m := regexp.MustCompile(`(?s)<td data-label="Anomalies">(.*?)</td>`).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("sessions page has no Anomalies cell\n%s", body)
			}
			var tags []string
			for _, tag := range regexp.MustCompile(`<span class="tag">([^<]*)</span>`).FindAllStringSubmatch(m[1], -1) {
				tags = append(tags, tag[1])
			}
			if got := strings.Join(tags, " "); got != tc.want {
				t.Errorf("anomalies shown = %q; want %q", got, tc.want)
			}
		})
	}
}
