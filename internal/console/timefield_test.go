package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestConsole_EventsSinceUTC: the events page's since is a time in UTC on
// a 24-hour clock, typed as text (2026-12-06T15:04Z) and read by the
// server: a datetime-local field labelled UTC showed the browser locale's
// 12-hour clock ("03:00 PM"). The old form's value (no Z, as
// datetime-local sent it) and RFC 3339 are still taken; anything else, or
// a time that cannot be meant (before 1970, ahead of now: a local time
// typed for UTC), is refused with a message that says how to write it,
// and the field keeps what was typed.
func TestConsole_EventsSinceUTC(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	// now is 2026-12-03 12:00Z; one event a minute from 11:00 to 11:59.
	now := f.clock.Now()
	f.clock.Set(now.Add(-time.Hour))
	for range 60 {
		f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "alice", "curl", nil)
		f.clock.Advance(time.Minute)
	}
	f.clock.Set(now)
	resp, body := f.do(c, "GET", "/console/events", nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="since" name="since" type="text"`) ||
		!strings.Contains(body, `placeholder="2026-12-06T15:04Z"`) {
		t.Errorf("events page: %d; want since as a text field with the placeholder 2026-12-06T15:04Z\n%s", resp.StatusCode, between(body, `<label for="since"`, "</div>"))
	}
	for _, tc := range []struct {
		since string
		// events listed (11:30 onwards: 30), or the error's words
		events int
		shown  string // the field's value afterwards
		err    string
	}{
		{since: "2026-12-03T11:30Z", events: 30, shown: "2026-12-03T11:30Z"},
		{since: " 2026-12-03T11:30Z ", events: 30, shown: "2026-12-03T11:30Z"},
		{since: "2026-12-03T11:30", events: 30, shown: "2026-12-03T11:30Z"}, // the old form's, in UTC
		{since: "2026-12-03T11:30:00Z", events: 30, shown: "2026-12-03T11:30Z"},
		{since: "2026-12-03T11:30:30Z", events: 29, shown: "2026-12-03T11:30:30Z"},
		{since: "2026-12-03T13:30:00+02:00", events: 30, shown: "2026-12-03T11:30Z"},
		{since: "2026-12-03 11:30:00Z", events: 30, shown: "2026-12-03T11:30Z"}, // copied from a table
		{since: "2026-12-03 11:30Z", events: 30, shown: "2026-12-03T11:30Z"},
		{since: "2026-12-03T12:00Z", events: 0, shown: "2026-12-03T12:00Z"},
		{since: "2026-12-03T12:01Z", events: 0, shown: "2026-12-03T12:01Z"}, // another node's clock may run ahead
		{since: "yesterday", err: "2026-12-06T15:04Z"},
		{since: "2026-12-03 11:30", err: "2026-12-06T15:04Z"},
		{since: "2026-12-03T11:30PM", err: "2026-12-06T15:04Z"},
		{since: "03/12/2026 11:30", err: "2026-12-06T15:04Z"},
		{since: "11:30", err: "2026-12-06T15:04Z"},
		{since: "2026-13-03T11:30Z", err: "month out of range"},
		{since: "2026-02-30T11:30Z", err: "day out of range"},
		{since: "2026-12-03T24:30Z", err: "hour out of range"},
		{since: "2026-12-03T11:60Z", err: "minute out of range"},
		{since: "1969-12-31T23:59Z", err: "before 1970"},
		{since: "0000-01-01T00:00Z", err: "before 1970"},
		{since: "2026-12-03T14:00Z", err: "ahead of now, 2026-12-03T12:00Z"},
		{since: "9999-12-31T23:59Z", err: "ahead of now"},
		{since: "2026-12-03T11:30Z" + strings.Repeat(" ", 100), err: "too long"},
	} {
		resp, body := f.do(c, "GET", "/console/events?"+url.Values{"since": {tc.since}}.Encode(), nil, "same-origin")
		value := between(body, `id="since" name="since" type="text"`, ">")
		if tc.err != "" {
			msg := between(body, `class="error"`, "</p>")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, tc.err) {
				t.Errorf("since %q: %d %q; want 400 saying %q", tc.since, resp.StatusCode, msg, tc.err)
			}
			if strings.TrimSpace(tc.since) != "" && len(tc.since) < 64 && !strings.Contains(value, `value="`+strings.TrimSpace(tc.since)+`"`) {
				t.Errorf("since %q refused: the field holds %s; want what was typed", tc.since, value)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, ">"+strconv.Itoa(tc.events)+" event(s)") {
			t.Errorf("since %q: %d %q; want %d event(s)", tc.since, resp.StatusCode, between(body, `id="found">`, "</h2>"), tc.events)
		}
		if !strings.Contains(value, `value="`+tc.shown+`"`) {
			t.Errorf("since %q: the field holds %s; want %s", tc.since, value, tc.shown)
		}
	}
}

// TestConsole_IncidentIssuedBeforeUTC: the kill switch's "issued before"
// is the events page's kind of time: typed as text in UTC on a 24-hour
// clock, where a datetime-local field labelled UTC showed the locale's
// 12-hour clock (a misread 03:00 PM ends twelve hours more of sessions).
// The old field's value is still taken; a malformed time revokes nothing
// and says how to write it.
func TestConsole_IncidentIssuedBeforeUTC(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	old := f.create("alice", "a") // 12:00Z
	f.clock.Advance(2 * time.Minute)
	recent := f.create("bob", "b") // 12:02Z
	f.clock.Advance(time.Minute)
	live := f.live
	resp, body := f.do(c, "GET", "/console/incident", nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="issued_before" name="issued_before" type="text"`) ||
		!strings.Contains(body, `placeholder="2026-12-06T15:04Z"`) {
		t.Errorf("incident page: %d; want issued before as a text field with the placeholder 2026-12-06T15:04Z\n%s", resp.StatusCode, between(body, `<label for="issued_before"`, "<label"))
	}
	form := func(at string) url.Values {
		return url.Values{"scope": {"issued_before"}, "issued_before": {at}, "reason": {"bad deploy"}, "confirm": {"REVOKE"}}
	}
	for _, at := range []string{"2026-12-03T12:01PM", "3 Dec 2026 12:01", "2026-12-03T25:01Z", "2026-12-03T15:00Z"} {
		resp, body := f.do(c, "POST", "/console/incident", form(at), "same-origin")
		if msg := between(body, `class="error"`, "</p>"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "issued before") ||
			!strings.Contains(body, `value="`+at+`"`) {
			t.Errorf("issued before %q: %d %q; want 400 naming the field, and the field as typed", at, resp.StatusCode, msg)
		}
	}
	if !live(old) || !live(recent) || len(f.incidents) != 0 {
		t.Fatalf("a refused time revoked: %v", f.incidents)
	}
	resp, body = f.do(c, "POST", "/console/incident", form("2026-12-03T12:01Z"), "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Revoked 1 session(s).") || live(old) || !live(recent) {
		t.Errorf("issued before 12:01Z: %d %q; want the 12:00Z session revoked and not the 12:02Z one", resp.StatusCode, between(body, `class="notice"`, "</p>"))
	}
}
