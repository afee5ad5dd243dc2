package sessiond_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain text is kept", "/sessiond/logout", 256, "/sessiond/logout"},
		{"cut to max bytes", strings.Repeat("a", 300), 256, strings.Repeat("a", 256)},
		{"cut at a rune boundary", "ab" + "é", 3, "ab"}, // é is two bytes
		{"control characters replaced", "/a\r\nSet-Cookie: x\x00", 256, "/a\ufffd\ufffdSet-Cookie: x\ufffd"},
		{"bidirectional override replaced", "evil\u202eexample", 256, "evil\ufffdexample"},
		{"invalid UTF-8 replaced", "a\xffb", 256, "a\ufffdb"},
		{"replacement does not overflow max", strings.Repeat("\x01", 10), 10, strings.Repeat("\ufffd", 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sessiond.CleanText(tt.in, tt.max); got != tt.want {
				t.Errorf("CleanText(%q, %d) = %q; want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// TestManager_ReportCSRFRejected: a refused cross-origin request is
// recorded as request.csrf_rejected with the client and what the browser
// said of the request, defused, once per client IP a minute and at most 60
// a minute in all.
func TestManager_ReportCSRFRejected(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	victim := sessiond.Client{IP: "198.51.100.7", UserAgent: "Mozilla/5.0"}
	for range 3 {
		h.m.ReportCSRFRejected(ctx, victim, "POST", "/sessiond/logout\r\nX: y", "https://evil.example", "cross-site")
	}
	var got []sessiond.Event
	count := func() int {
		got = h.events.OfType(sessiond.EventCSRFRejected)
		return len(got)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d request.csrf_rejected events for 3 refusals from one IP; want 1", n)
	}
	want := map[string]any{"method": "POST", "path": "/sessiond/logout\ufffd\ufffdX: y", "origin": "https://evil.example", "sec_fetch_site": "cross-site"}
	if e := got[0]; e.Client != victim || e.Subject != "" || e.SessionID != "" || len(e.Details) != len(want) {
		t.Errorf("event = %+v; want client %+v, no subject or session, details %v", e, victim, want)
	} else {
		for k, v := range want {
			if e.Details[k] != v {
				t.Errorf("details[%s] = %q; want %q", k, e.Details[k], v)
			}
		}
	}

	// Other addresses until the minute's budget of 60 is spent.
	for i := range 100 {
		h.m.ReportCSRFRejected(ctx, sessiond.Client{IP: fmt.Sprintf("203.0.113.%d", i)}, "POST", "/", "", "cross-site")
	}
	if n := count(); n != 60 {
		t.Errorf("%d request.csrf_rejected events from 101 IPs in one minute; want 60", n)
	}
	h.clock.Advance(time.Minute)
	h.m.ReportCSRFRejected(ctx, victim, "POST", "/", "", "cross-site")
	if n := count(); n != 61 {
		t.Errorf("%d request.csrf_rejected events a minute later; want 61", n)
	}
}
