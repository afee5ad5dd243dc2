package console

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/newestfirst"
	"github.com/sessiond/sessiond/internal/subject"
)

// eventRow is one event on the events page and in the live tail.
type eventRow struct {
	ID        string `json:"id"`
	Time      string `json:"time"`
	Type      string `json:"type"`
	Subject   string `json:"subject"`
	SessionID string `json:"session_id"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Details   string `json:"details"`
}

func toRow(e sessiond.Event) eventRow {
	details := ""
	if len(e.Details) > 0 {
		b, _ := json.Marshal(e.Details)
		details = string(b)
	}
	return eventRow{ID: e.ID, Time: when(e.Time), Type: printable(string(e.Type)), Subject: printable(e.Subject),
		SessionID: printable(string(e.SessionID)), IP: printable(e.Client.IP), UserAgent: printable(e.Client.UserAgent),
		Details: printableJSON(details)}
}

type eventsView struct {
	Type, Subject, Since string
	// Types are the type filter's suggestions: every type the page takes.
	Types []sessiond.EventType
	Rows  []eventRow // newest first
	// Older is the query of the page of the events before these, "" when
	// none; Newest the first page's, "" on the first page; TailQuery the
	// live tail's. Each is url.Values.Encode'd: typed as URLs so that
	// html/template, which escapes a string after the "?" of a URL
	// attribute as one query value (= and & too), keeps them queries; as
	// strings the tail and the next page lost every filter.
	Older     template.URL
	Newest    template.URL
	TailQuery template.URL
	// Refused names the filters refused ("type", "subject", "since",
	// "before"): the page marks their fields, and the live tail goes
	// without them.
	Refused []string
}

// Bad reports whether the filter field was refused.
func (v *eventsView) Bad(field string) bool { return slices.Contains(v.Refused, field) }

// RefusedFields names the refused filters that have a field, for the
// live tail's note ("type and since").
func (v *eventsView) RefusedFields() string {
	var fields []string
	for _, k := range v.Refused {
		if k != "before" {
			fields = append(fields, k)
		}
	}
	return strings.Join(fields, " and ")
}

// eventsPageSize is how many events the events page shows.
const eventsPageSize = sessiond.DefaultEventLimit

// eventsFilter is what the events page and the live tail read from a
// request: the query's filters, and where an older page starts.
type eventsFilter struct {
	sessiond.EventQuery
	// before: the page lists events before this one (by ID, which
	// orders them by time), stamped at or before beforeAt; "": the
	// newest.
	before   string
	beforeAt time.Time
}

// eventQuery reads the filters of the events page and the live tail. Each
// filter is checked, and every one refused is named in the view (Refused)
// and the error, so that the page can say which and give the live tail
// the others.
func eventQuery(r *http.Request, now time.Time) (eventsFilter, eventsView, error) {
	q := r.URL.Query()
	// The subject is exact and in the form the API stores (NFC), as on
	// the sessions page: " alice" is not "alice".
	v := eventsView{Type: strings.TrimSpace(q.Get("type")), Subject: q.Get("subject"), Since: q.Get("since"),
		Types: sessiond.EventTypes()}
	f := eventsFilter{EventQuery: sessiond.EventQuery{Type: sessiond.EventType(v.Type)}, before: q.Get("before")}
	var msgs []string
	refuse := func(field, msg string) {
		v.Refused = append(v.Refused, field)
		msgs = append(msgs, msg)
	}
	// A mistyped type would list nothing, which reads as "no such events"
	// (the API and the CLI refuse it too).
	switch {
	case len(v.Type) > 64:
		refuse("type", "the type is too long")
	case v.Type != "" && !slices.Contains(sessiond.EventTypes(), f.Type):
		refuse("type", "the type is not an event type sessiond records")
	}
	// The subject's raw bound is loose: quoted, its text is up to four
	// times as long as the subject (maxSearchText), NFC can shrink it (one
	// pasted decomposed), and Clean holds it to 256 bytes in the form it is
	// stored.
	if v.Subject != "" {
		const bad = "the subject is not a valid subject (at most 256 bytes, no control characters)"
		if len(v.Subject) > maxSearchText {
			refuse("subject", bad) // not read first: it may be as long as a URL
		} else if asked, err := searchValue(v.Subject); err != nil {
			refuse("subject", searchQuoted)
		} else if clean, err := subject.Clean("subject", asked); err != nil {
			refuse("subject", bad)
		} else {
			v.Subject, f.Subject = clean, clean
		}
	}
	long := len(v.Since) > 64
	if v.Since = strings.TrimSpace(v.Since); long {
		refuse("since", "since is too long; write it as 2026-12-06T15:04Z, in UTC on a 24-hour clock")
	} else if v.Since != "" {
		since, err := parseTime("since", v.Since, now)
		if err != nil {
			refuse("since", err.Error())
		} else {
			f.Since, v.Since = since, showTime(since)
		}
	} else {
		// To the second: the older pages carry it in their links.
		f.Since = now.Add(-time.Hour).Truncate(time.Second)
	}
	if f.before != "" {
		// An event ID the page gave: anything else would bound the page's
		// ID range where no event is, or nowhere.
		at, ok := tailCursor(f.before)
		if len(f.before) > 128 || !ok {
			refuse("before", "the page link is not one this page gave (before)")
		}
		f.beforeAt = at
	}
	if len(msgs) > 0 {
		return f, v, errors.New(strings.Join(msgs, "; "))
	}
	return f, v, nil
}

// tailQuery is the live tail's query on the events page of r: its
// filters but the refused ones and where an older page starts.
func tailQuery(r *http.Request, refused []string) template.URL {
	q := r.URL.Query()
	q.Del("before")
	q.Del("cursor") // the oldest-first pages' links before
	for _, k := range refused {
		q.Del(k)
	}
	return template.URL(q.Encode())
}

// eventsPage lists the newest events matching the filters, newest first,
// as `sessiond events` does; its link to the older ones lists those before
// the last event shown, so that events logged while the operator reads are
// neither on the older pages nor make one repeat or skip an event (they
// are on the first page, and in the live tail).
func (c *Console) eventsPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	d := pageData{Title: "Events", Nav: "events", Operator: operatorName(key)}
	now := c.o.Clock.Now()
	f, v, err := eventQuery(r, now)
	d.Data = &v
	if err != nil {
		// The live tail goes on with the filters taken: without them it
		// followed every event.
		d.Error = "Bad filter: " + err.Error() + "."
		v.TailQuery = tailQuery(r, v.Refused)
		c.pages.render(w, r, http.StatusBadRequest, "events", d)
		return
	}
	if c.o.Events == nil {
		d.Error = "This store keeps no event log."
		c.pages.render(w, r, http.StatusNotImplemented, "events", d)
		return
	}
	evs, err := c.newestEvents(r.Context(), f, now, eventsPageSize+1)
	if err != nil {
		status := http.StatusServiceUnavailable
		d.Error = "Reading the event log failed; see the server log."
		if errors.Is(err, sessiond.ErrInvalidArgument) {
			status, d.Error = http.StatusBadRequest, "Bad filter."
		} else {
			c.logReadFailure(r.Context(), "console: query events", err)
		}
		c.pages.render(w, r, status, "events", d)
		return
	}
	more := len(evs) > eventsPageSize
	if more {
		evs = evs[:eventsPageSize]
	}
	for _, e := range evs {
		v.Rows = append(v.Rows, toRow(e))
	}
	filters := r.URL.Query()
	filters.Del("before")
	filters.Del("cursor") // the oldest-first pages' links before
	v.TailQuery = tailQuery(r, nil)
	if f.before != "" {
		v.Newest = template.URL(filters.Encode())
	}
	if more {
		// The default since is an hour before the first page: the older
		// pages stop there too, not an hour before each click, which
		// left out the oldest events of the hour read.
		if v.Since == "" {
			filters.Set("since", showTime(f.Since))
		}
		// Every event ID the server writes is a cursor; another (none it
		// writes) would make a link the page refuses.
		if last := evs[len(evs)-1].ID; httpapi.ValidEventCursor(last) {
			filters.Set("before", last)
			v.Older = template.URL(filters.Encode())
		}
	}
	c.pages.render(w, r, http.StatusOK, "events", d)
}

// newestEvents returns the newest n events matching f, newest first, with
// the event log's paging from the oldest (newestfirst.Read).
func (c *Console) newestEvents(ctx context.Context, f eventsFilter, now time.Time, n int) ([]sessiond.Event, error) {
	until := now.Add(time.Minute) // other nodes' clocks may run ahead
	if f.before != "" {
		// Events of before's microsecond sort either side of it. A
		// cursor ahead of that (forged: the page's links are not) must
		// not make the page read windows back from centuries ahead.
		until = earlier(until, f.beforeAt.Add(time.Microsecond))
	}
	page := func(ctx context.Context, since, until time.Time, cursor string, limit int) ([]sessiond.Event, string, error) {
		q := f.EventQuery
		q.Since, q.Until, q.Cursor, q.Limit = since, until, cursor, limit
		evs, next, err := c.o.Events.QueryEvents(ctx, q)
		if f.before != "" {
			evs = slices.DeleteFunc(evs, func(e sessiond.Event) bool { return e.ID >= f.before })
		}
		return evs, next, err
	}
	return newestfirst.Read(ctx, page, f.Since, until, n)
}
