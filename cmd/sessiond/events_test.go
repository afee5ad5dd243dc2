package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/memstore"
)

// The text output of `sessiond events` is key=value fields; a subject is
// chosen by whoever registers the account, and one such as
// "mallory session=sess_forged ip=192.0.2.7 subject=alice" must not read as
// other fields (nor match `grep 'subject=alice '`).
func TestEvents_TextFieldsCannotBeForged(t *testing.T) {
	forged := "mallory session=sess_forged ip=192.0.2.7 subject=alice"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events" {
			http.NotFound(w, r)
			return
		}
		page := apitype.EventPage{Events: []apitype.Event{{
			ID: "evt_1", Time: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), Type: "session.created",
			Subject: forged, SessionID: "sess_real",
		}}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	out, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe", "SESSIOND_URL=" + srv.URL}, "events", "--oldest-first")
	if code != 0 {
		t.Fatalf("events = exit %d %q", code, errOut)
	}
	// What is inside double quotes is one value, not fields.
	line := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(strings.TrimSpace(out), `"…"`)
	for _, field := range []string{" session=", " ip=", "subject="} {
		if n := strings.Count(line, field); n != 1 {
			t.Errorf("events line has %d %q fields; want 1 (the subject's text must not read as fields): %q", n, field, line)
		}
	}
}

// --all follows pages until the last; a server that answers the same
// cursor again would have it loop forever.
func TestEvents_AllStopsOnARepeatedCursor(t *testing.T) {
	pages := 0
	cursor := "evt_00363ou4tv54pm6ss906f2t4rg"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages++
		page := apitype.EventPage{Events: []apitype.Event{{ID: "evt_1", Time: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), Type: "session.created"}},
			NextCursor: &cursor}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	_, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe", "SESSIOND_URL=" + srv.URL}, "events", "--all")
	if code != exitFailure || !strings.Contains(errOut, "same cursor") {
		t.Fatalf("events --all against a server repeating its cursor = exit %d %q; want 1, the same cursor", code, errOut)
	}
	if pages != 2 {
		t.Errorf("asked %d pages; want 2 (the first, then the repeat)", pages)
	}
}

// eventLogServer serves GET /v1/events from log as the API pages it
// (oldest first, by ID, filters, cursor, limit) and counts the requests.
func eventLogServer(t *testing.T, log sessiond.EventLog, requests *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		q := r.URL.Query()
		eq := sessiond.EventQuery{Cursor: q.Get("cursor"), Type: sessiond.EventType(q.Get("type"))}
		for name, dst := range map[string]*time.Time{"since": &eq.Since, "until": &eq.Until} {
			if v := q.Get(name); v != "" {
				var err error
				if *dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
			}
		}
		eq.Limit, _ = strconv.Atoi(q.Get("limit"))
		es, next, err := log.QueryEvents(r.Context(), eq)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		page := apitype.EventPage{Events: []apitype.Event{}}
		for _, e := range es {
			page.Events = append(page.Events, apitype.Event{ID: e.ID, Time: e.Time, Type: e.Type, Subject: e.Subject})
		}
		if next != "" {
			page.NextCursor = &next
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// `sessiond events` shows the newest events, newest first, reading windows
// back from now (newestEvents). An incident is when an operator looks and
// when events come in bursts: a window holding a burst is narrowed to one
// page, not read page by page (50,000 events in the last 30 seconds once
// took 52 requests of 1,000 events to show 100).
func TestEvents_NewestFirst(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	log := memstore.New()
	var all []sessiond.Event
	add := func(n int, from, to time.Time) {
		for i := range n {
			tm := from.Add(time.Duration(i) * to.Sub(from) / time.Duration(n))
			all = append(all, sessiond.Event{ID: sessiond.NewEventID(tm), Time: tm, Type: sessiond.EventSessionRefreshed, Subject: "s"})
		}
	}
	add(20, now.Add(-72*time.Hour), now.Add(-48*time.Hour)) // older, sparse
	add(50_000, now.Add(-30*time.Second), now)              // the burst
	for chunk := range slices.Chunk(all, 1000) {
		if err := log.AppendEvents(t.Context(), chunk...); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(all, func(a, b sessiond.Event) int { return strings.Compare(a.ID, b.ID) })
	newest := func(n int, keep func(sessiond.Event) bool) []string {
		var ids []string
		for i := len(all) - 1; i >= 0 && len(ids) < n; i-- {
			if keep == nil || keep(all[i]) {
				ids = append(ids, all[i].ID)
			}
		}
		return ids
	}
	since, until := now.Add(-10*time.Second), now.Add(-time.Hour)
	for _, c := range []struct {
		name        string
		q           client.EventQuery
		want        []string
		maxRequests int64
	}{
		{"Limit100", client.EventQuery{Limit: 100}, newest(100, nil), 20},
		{"Limit1000", client.EventQuery{Limit: 1000}, newest(1000, nil), 20},
		{"Since", client.EventQuery{Limit: 1000, Since: since},
			newest(1000, func(e sessiond.Event) bool { return !e.Time.Before(since) }), 20},
		{"PastTheBurst", client.EventQuery{Limit: 30, Until: until},
			newest(20, func(e sessiond.Event) bool { return e.Time.Before(until) }), 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := eventLogServer(t, log, &requests)
			cl, err := client.New(srv.URL, "sdak_test")
			if err != nil {
				t.Fatal(err)
			}
			events, err := newestEvents(t.Context(), cl, c.q, now)
			if err != nil {
				t.Fatalf("newestEvents(%+v) = %v", c.q, err)
			}
			got := make([]string, len(events))
			for i, e := range events {
				got[i] = e.ID
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("newestEvents(%+v) = %d events; want the newest %d matching, newest first, each once", c.q, len(got), len(c.want))
			}
			if n := requests.Load(); n > c.maxRequests {
				t.Errorf("newestEvents(%+v) took %d requests (up to %d events each); want at most %d", c.q, n, sessiond.MaxEventLimit, c.maxRequests)
			}
		})
	}
}
