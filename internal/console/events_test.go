package console_test

import (
	"bufio"
	"context"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/sessiond/sessiond"
)

func (f *fixture) logEvent(id string, typ sessiond.EventType, subject, ua string, details map[string]any) {
	f.t.Helper()
	e := sessiond.Event{ID: id, Time: f.clock.Now(), Type: typ, Subject: subject, Client: sessiond.Client{IP: "198.51.100.1", UserAgent: ua}, Details: details}
	if err := f.store.AppendEvents(f.t.Context(), e); err != nil {
		f.t.Fatal(err)
	}
}

func TestConsole_Events(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	f.logEvent("01JEVT0000000000000000000A", sessiond.EventSessionCreated, "alice", hostileUA, nil)
	f.logEvent("01JEVT0000000000000000000B", sessiond.EventSessionRevoked, "alice", "curl", map[string]any{"reason": "<script>x</script>\x1b[2J"})
	f.logEvent("01JEVT0000000000000000000C", sessiond.EventSessionCreated, "bob", "curl", nil)
	f.logEvent("01JEVT0000000000000000000D", sessiond.EventSessionCreated, "zo\u00eb", "curl", nil)

	resp, body := f.do(c, "GET", "/console/events", nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "4 event(s)") {
		t.Errorf("all events: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "<script>") || strings.ContainsAny(body, "\x1b\x07") {
		t.Errorf("an event is rendered raw:\n%s", body)
	}
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"subject=alice", "2 event(s)"},
		{"type=session.created&subject=bob", "1 event(s)"},
		{"subject=" + url.QueryEscape("zoe\u0308"), "1 event(s)"}, // pasted decomposed
		{"subject=" + url.QueryEscape(" alice"), "0 event(s)"},    // exact, as the API
		{"type=session.created", "3 event(s)"},
		{"since=" + url.QueryEscape(f.clock.Now().Add(time.Minute).Format(time.RFC3339)), "0 event(s)"},
		{"since=" + f.clock.Now().Add(-time.Minute).Format("2006-01-02T15:04"), "4 event(s)"},
	} {
		resp, body := f.do(c, "GET", "/console/events?"+tc.query, nil, "same-origin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d; want %q", tc.query, resp.StatusCode, tc.want)
		}
	}
	for _, bad := range []string{"since=yesterday", "subject=" + strings.Repeat("a", 300), "subject=" + url.QueryEscape("bob\u202e"), "type=" + strings.Repeat("t", 100), "type=session.creatd", "before=zzz", "before=evt_" + strings.Repeat("Z", 26)} {
		if resp, _ := f.do(c, "GET", "/console/events?"+bad, nil, "same-origin"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%.40s: %d; want 400", bad, resp.StatusCode)
		}
	}
	if resp, _ := f.do(f.browser(), "GET", "/console/events/tail", nil, "same-origin"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("tail without a console session: %d", resp.StatusCode)
	}
}

func TestConsole_EventTail(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	// Real event IDs (they sort by time): the tail reads the log by time.
	f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "alice", "old", nil) // before the tail: not sent
	f.clock.Advance(time.Second)

	req, _ := http.NewRequestWithContext(t.Context(), "GET", f.srv.URL+"/console/events/tail?subject=alice", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("tail: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || lines.Text() != "retry: 3000" {
		t.Fatalf("first line %q", lines.Text())
	}
	// The opening (its id, then event: available) says the tail reads.
	for lines.Scan() && lines.Text() != "event: available" {
	}
	if !lines.Scan() || lines.Text() != "data: {}" {
		t.Fatalf("the tail's opening: %q after event: available; want data: {}", lines.Text())
	}
	f.clock.Advance(time.Second)
	f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "bob", "other subject", nil)
	revoked := sessiond.NewEventID(f.clock.Now())
	f.logEvent(revoked, sessiond.EventSessionRevoked, "alice", hostileUA, nil)
	for lines.Scan() {
		line := lines.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		if strings.Contains(line, "old") || strings.Contains(line, "other subject") {
			t.Errorf("tail sent an event outside its filter: %s", line)
		}
		if strings.Contains(line, "<script>") || strings.ContainsAny(line, "\x1b\x07") {
			t.Errorf("tail sent raw client text: %q", line)
		}
		if !strings.Contains(line, `"id":"`+revoked+`"`) || !strings.Contains(line, `session.revoked`) {
			t.Errorf("tail event: %s", line)
		}
		return
	}
	t.Fatalf("tail ended without the event: %v", lines.Err())
}

// TestConsole_EventTailEnds: an open live tail stops when the operator may
// no longer see the events: the key revoked, or the console session signed
// out; nothing logged afterwards reaches it.
func TestConsole_EventTailEnds(t *testing.T) {
	for _, how := range []string{"key revoked", "signed out"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			req, _ := http.NewRequestWithContext(t.Context(), "GET", f.srv.URL+"/console/events/tail", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("tail: %d", resp.StatusCode)
			}
			tail := tailOpened(t, resp.Body) // sent as it opened, before the end
			if how == "key revoked" {
				if err := f.keys.Revoke(t.Context(), f.adminK.ID); err != nil {
					t.Fatal(err)
				}
			} else if r, _ := f.do(c, "POST", "/console/signout", nil, "same-origin"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign out: %d", r.StatusCode)
			}
			f.clock.Advance(time.Second)
			f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "victim@example.com", "after the end", nil)
			done := make(chan string, 1)
			go func() {
				var sent []string
				for {
					m, ok := tail.next()
					if !ok {
						break
					}
					sent = append(sent, "data: "+m.Data)
				}
				done <- strings.Join(sent, "\n")
			}()
			select {
			case sent := <-done:
				if sent != "" {
					t.Errorf("the tail sent after the %s: %s", how, sent)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the tail still runs 10 s after the %s", how)
			}
		})
	}
}

// TestConsole_EventFilterSubjectMeasuredAfterNFC: the events filter takes
// a subject as the sessions page and the API do: NFC first, then at most
// 256 bytes. A subject pasted decomposed (NFD) that is 300 bytes raw and
// 200 stored finds its events.
func TestConsole_EventFilterSubjectMeasuredAfterNFC(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	stored := strings.Repeat("\u00e9", 100)
	f.create(stored, "a")
	f.logEvent("01JEVT0000000000000000000A", sessiond.EventSessionCreated, stored, "curl", nil)
	pasted := norm.NFD.String(stored)
	if resp, body := f.do(c, "GET", "/console/sessions?subject="+url.QueryEscape(pasted), nil, "same-origin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "1 session(s)") {
		t.Fatalf("sessions page with the NFD subject: %d", resp.StatusCode)
	}
	if resp, body := f.do(c, "GET", "/console/events?subject="+url.QueryEscape(pasted), nil, "same-origin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "1 event(s)") {
		t.Errorf("events of the subject pasted in NFD (%d bytes raw): %d %q; want 200 and its event", len(pasted), resp.StatusCode, between(body, "Bad filter", "."))
	}
	if resp, _ := f.do(c, "GET", "/console/events?subject="+url.QueryEscape(strings.Repeat("\u00e9", 129)), nil, "same-origin"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("events of a 258-byte subject: %d; want 400", resp.StatusCode)
	}
}

// TestConsole_EventTailRecordsNoActivity: the live tail's reconnects (the
// browser's EventSource reconnects on its own whenever a proxy drops the
// stream) are not operator activity: an events page left open with nobody
// at it does not keep the console session from its idle timeout.
func TestConsole_EventTailRecordsNoActivity(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	reconnect := func() int {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel() // the stream drops
		req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/console/events/tail", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			bufio.NewScanner(resp.Body).Scan() // retry: 3000
		}
		return resp.StatusCode
	}
	if got := reconnect(); got != http.StatusOK {
		t.Fatalf("live tail of a fresh console session: %d", got)
	}
	// An hour of reconnects, one a minute, and no operator request.
	ended := false
	for range 60 {
		f.clock.Advance(time.Minute)
		if reconnect() != http.StatusOK {
			ended = true
		}
	}
	if resp, _ := f.do(c, "GET", "/console/keys", nil, "same-origin"); resp.StatusCode == http.StatusOK || !ended {
		t.Errorf("after an hour of live tail reconnects and no operator request, the console session (idle timeout 15m) is still signed in (tail refused: %v)", ended)
	}
}

// TestConsole_EventTailLateCommit: an event gets its time and ID before
// its transaction commits, and nodes' clocks differ, so an event stamped
// earlier can reach the log after one stamped later that the tail has
// already sent. The tail still sends it, and sends every event once.
func TestConsole_EventTailLateCommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock time.Duration // this node's clock when later is read, from when the tail opened
		later time.Duration // the stamps, from when the tail opened
		late  time.Duration
	}{
		{"a second late", 2 * time.Second, 2 * time.Second, time.Second},
		{"nine seconds late", 10 * time.Second, 10 * time.Second, time.Second},
		{"stamped before the tail opened", time.Second, time.Second, -5 * time.Second},
		// A node whose clock runs a minute ahead must not hide the
		// events of the others until theirs catch up.
		{"after an event stamped a minute ahead", 2 * time.Second, time.Minute, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			opened := f.clock.Now()
			// Fail, not hang, when an event never comes.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/console/events/tail", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("tail: %d", resp.StatusCode)
			}
			tail := tailOpened(t, resp.Body)
			sent := map[string]int{}
			// readUntil reads the stream until it has sent every event of ids.
			readUntil := func(ids ...string) {
				t.Helper()
				for {
					done := true
					for _, id := range ids {
						done = done && sent[id] > 0
					}
					if done {
						return
					}
					m, ok := tail.next()
					if !ok {
						t.Fatalf("the tail ended before sending %v (sent %v): %v", ids, sent, tail.err())
					}
					sent[m.row(t).ID]++
				}
			}
			logAt := func(at time.Time, subject string) string {
				t.Helper()
				id := sessiond.NewEventID(at)
				if err := f.store.AppendEvents(t.Context(), sessiond.Event{ID: id, Time: at, Type: sessiond.EventSessionCreated, Subject: subject}); err != nil {
					t.Fatal(err)
				}
				return id
			}
			f.clock.Advance(tc.clock)
			later := logAt(opened.Add(tc.later), "later")
			readUntil(later)
			late := logAt(opened.Add(tc.late), "late") // commits after later
			// A marker logged after late. The polls between two reads of
			// the whole window may send it first; the read that sends late
			// would send later again, if it were to.
			marker := logAt(f.clock.Now().Add(time.Millisecond), "marker")
			readUntil(late, marker)
			for _, id := range []string{later, late, marker} {
				if sent[id] != 1 {
					t.Errorf("event %s sent %d times; want once (sent %v)", id, sent[id], sent)
				}
			}
		})
	}
}

// TestConsole_EventsLinksKeepFilters: the events page's "Older events"
// link and its live tail's source carry the filters (and the older page's
// start) as a query the server reads back, not one escaped value: the
// tail showed every event and the next page every subject.
func TestConsole_EventsLinksKeepFilters(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	for range sessiond.DefaultEventLimit + 5 {
		f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "alice&b=c", "curl", nil)
	}
	f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "bob", "curl", nil)
	filters := url.Values{"type": {"session.created"}, "subject": {"alice&b=c"}, "since": {f.clock.Now().Add(-time.Minute).Format("2006-01-02T15:04")}}
	resp, body := f.do(c, "GET", "/console/events?"+filters.Encode(), nil, "same-origin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	attr := func(name string) *url.URL { // the first attribute name="…" whose value starts with /console/events
		t.Helper()
		_, rest, ok := strings.Cut(body, name+`="/console/events`)
		if !ok {
			t.Fatalf("no %s in the page", name)
		}
		raw, _, _ := strings.Cut(rest, `"`)
		u, err := url.Parse("/console/events" + html.UnescapeString(raw))
		if err != nil {
			t.Fatalf("%s %s: %v", name, raw, err)
		}
		return u
	}
	tail, next := attr("data-src"), attr("<p><a href") // the next page, not the navigation
	for name, u := range map[string]*url.URL{"tail": tail, "next page": next} {
		q := u.Query()
		for k := range filters {
			if q.Get(k) != filters.Get(k) {
				t.Errorf("%s %s: %s=%q; want %q", name, u, k, q.Get(k), filters.Get(k))
			}
		}
	}
	if tail.Path != "/console/events/tail" || tail.Query().Has("before") || next.Query().Get("before") == "" {
		t.Errorf("tail %s, older page %s: want the tail without a start, the older page with one", tail, next)
	}
	resp, body = f.do(c, "GET", "/console/events?"+next.RawQuery, nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "5 event(s)") || strings.Contains(body, ">bob<") {
		t.Errorf("next page: %d; want the 5 events of alice&b=c left\n%s", resp.StatusCode, body)
	}
}

// TestConsole_EventsNextPageKeepsDefaultSince: without a since filter the
// page lists back to an hour before it was made; its older pages must stop
// at the same moment, not at an hour before the click, or the oldest
// events of that hour were left out (an operator reading page 1 for ten
// minutes lost ten minutes of events).
func TestConsole_EventsNextPageKeepsDefaultSince(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	start := f.clock.Now()
	f.clock.Advance(-55 * time.Minute)
	for range sessiond.DefaultEventLimit + 5 {
		f.logEvent(sessiond.NewEventID(f.clock.Now()), sessiond.EventSessionCreated, "alice", "curl", nil)
		f.clock.Advance(time.Second)
	}
	f.clock.Set(start)
	resp, body := f.do(c, "GET", "/console/events", nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, strconv.Itoa(sessiond.DefaultEventLimit)+" event(s)") {
		t.Fatalf("events: %d; want the newest %d events\n%s", resp.StatusCode, sessiond.DefaultEventLimit, body)
	}
	// 100 is this page's, not the hour's: it says so.
	if !strings.Contains(body, strconv.Itoa(sessiond.DefaultEventLimit)+" event(s), newest first; older ones on the next page") {
		t.Errorf("page 1 does not say that more events follow\n%s", body)
	}
	_, rest, ok := strings.Cut(body, `<p><a href="/console/events?`)
	if !ok {
		t.Fatalf("no next page link\n%s", body)
	}
	next, _, _ := strings.Cut(rest, `"`)
	f.clock.Advance(10 * time.Minute) // the operator reads page 1
	resp, body = f.do(c, "GET", "/console/events?"+html.UnescapeString(next), nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "5 event(s)") {
		t.Errorf("next page after 10 minutes: %d; want the 5 events left\n%s", resp.StatusCode, body)
	}
}

// TestConsole_EventsTypeListComplete: the type filter suggests every type
// sessiond records (the page refuses any other), so an operator can find
// session.unknown_id or request.csrf_rejected without knowing the name;
// the list was written by hand and lacked half of them.
func TestConsole_EventsTypeListComplete(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	resp, body := f.do(c, "GET", "/console/events", nil, "same-origin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	for _, typ := range sessiond.EventTypes() {
		if !strings.Contains(body, `<option value="`+string(typ)+`">`) {
			t.Errorf("the type filter does not suggest %s", typ)
		}
	}
}

// TestConsole_EventsBadFilterTailKeepsValid: an events page whose query
// is refused (400) still gives the live tail the filters that were taken,
// and says which one was refused: its tail followed every event. The
// tail's source it gives is one the tail takes.
func TestConsole_EventsBadFilterTailKeepsValid(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	since := f.clock.Now().Add(-time.Minute).Format("2006-01-02T15:04Z")
	for _, tc := range []struct {
		name    string
		query   url.Values
		refused string     // the field refused
		tail    url.Values // the tail's filters
	}{
		{"mistyped type", url.Values{"type": {"session.creatd"}, "subject": {"alice"}, "since": {since}},
			"type", url.Values{"subject": {"alice"}, "since": {since}}},
		{"oversized type", url.Values{"type": {strings.Repeat("t", 100)}, "subject": {"alice"}},
			"type", url.Values{"subject": {"alice"}}},
		{"12-hour since", url.Values{"type": {"session.created"}, "subject": {"alice"}, "since": {"03:00 PM"}},
			"since", url.Values{"type": {"session.created"}, "subject": {"alice"}}},
		{"since ahead", url.Values{"type": {"session.created"}, "since": {f.clock.Now().Add(time.Hour).Format("2006-01-02T15:04Z")}},
			"since", url.Values{"type": {"session.created"}}},
		{"subject with a control character", url.Values{"type": {"session.revoked"}, "subject": {"bob\x1b[2J"}},
			"subject", url.Values{"type": {"session.revoked"}}},
		{"oversized subject", url.Values{"type": {"session.revoked"}, "subject": {strings.Repeat("a", 300)}},
			"subject", url.Values{"type": {"session.revoked"}}},
		{"forged page link", url.Values{"type": {"session.created"}, "subject": {"alice"}, "before": {"zzz"}},
			"before", url.Values{"type": {"session.created"}, "subject": {"alice"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(c, "GET", "/console/events?"+tc.query.Encode(), nil, "same-origin")
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("events?%s: %d; want 400", tc.query.Encode(), resp.StatusCode)
			}
			_, rest, ok := strings.Cut(body, `data-src="/console/events/tail`)
			if !ok {
				t.Fatalf("no live tail on the refused page\n%s", body)
			}
			raw, _, _ := strings.Cut(rest, `"`)
			src, err := url.Parse("/console/events/tail" + html.UnescapeString(raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := src.Query(); got.Encode() != tc.tail.Encode() {
				t.Errorf("the live tail's filters %q; want %q", got.Encode(), tc.tail.Encode())
			}
			if msg := between(body, `class="error"`, "</p>"); !strings.Contains(msg, tc.refused) {
				t.Errorf("the error %q does not name the refused filter %s", msg, tc.refused)
			}
			if tc.refused != "before" && !strings.Contains(body, `id="`+tc.refused+`" name="`+tc.refused+`"`) {
				t.Fatalf("no %s field", tc.refused)
			}
			if tc.refused != "before" {
				field := between(body, `id="`+tc.refused+`"`, ">")
				if !strings.Contains(field, `aria-invalid="true"`) {
					t.Errorf("the refused %s field is not marked invalid: %q", tc.refused, field)
				}
			}
			for k := range tc.tail {
				if field := between(body, `id="`+k+`"`, ">"); strings.Contains(field, "aria-invalid") {
					t.Errorf("the %s field taken is marked invalid: %q", k, field)
				}
			}
			if tc.refused != "before" && !strings.Contains(between(body, `id="tail-h"`, "</p>"), "without the refused "+tc.refused) {
				t.Errorf("the live tail does not say it goes without the refused %s: %q", tc.refused, between(body, `id="tail-h"`, "</p>"))
			}
			// The tail takes the source the page gives it.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+src.String(), nil)
			tresp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			tresp.Body.Close()
			if tresp.StatusCode != http.StatusOK {
				t.Errorf("the tail at %s: %d; want 200", src, tresp.StatusCode)
			}
		})
	}
}

// TestConsole_EventTailHeadIsNoTail: HEAD gets the live tail's headers and
// no tail. Its writes go nowhere, so a tail run for it would poll the
// event log and hold the connection until the client hangs up: the next
// request on that keep-alive connection (HTTP/1.1 here) was never read,
// and, with that request read, the tail never learnt the client left.
func TestConsole_EventTailHeadIsNoTail(t *testing.T) {
	f := newFixture(t)
	// Before the server's close, which waits for its handlers: a tail
	// whose next request is already read is never told the client left.
	t.Cleanup(f.con.EndTails)
	c := f.signedIn()
	for i := range 2 {
		// Fail, not hang, when the first HEAD's tail still holds the
		// connection.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, f.srv.URL+"/console/events/tail", nil)
		resp, err := c.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("HEAD tail %d: %v", i+1, err)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.ProtoMajor != 1 {
			t.Fatalf("HEAD tail %d = %s %d %q; want HTTP/1.1 200 text/event-stream", i+1, resp.Proto, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
