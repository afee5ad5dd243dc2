package console

import (
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
		Details: printable(details)}
}

type eventsView struct {
	Type, Subject, Since string
	// Types are the type filter's suggestions: every type the page takes.
	Types []sessiond.EventType
	Rows  []eventRow
	// Next is the query of the next page, "" when none, and TailQuery
	// the live tail's. Both are url.Values.Encode'd: typed as URLs so
	// that html/template, which escapes a string after the "?" of a URL
	// attribute as one query value (= and & too), keeps them queries;
	// as strings the tail and the next page lost every filter.
	Next      template.URL
	TailQuery template.URL
}

// eventQuery reads the filters of the events page and the live tail.
func eventQuery(r *http.Request, now time.Time) (sessiond.EventQuery, eventsView, error) {
	q := r.URL.Query()
	// The subject is exact and in the form the API stores (NFC), as on
	// the sessions page: " alice" is not "alice".
	v := eventsView{Type: strings.TrimSpace(q.Get("type")), Subject: q.Get("subject"), Since: strings.TrimSpace(q.Get("since")),
		Types: sessiond.EventTypes()}
	eq := sessiond.EventQuery{Type: sessiond.EventType(v.Type), Cursor: q.Get("cursor"), Limit: sessiond.DefaultEventLimit}
	// The subject's raw bound is loose: NFC can shrink it (one pasted
	// decomposed), and Clean holds it to 256 bytes in the form it is stored.
	if len(v.Type) > 64 || len(v.Subject) > 4*maxSubject || len(eq.Cursor) > 128 {
		return eq, v, errors.New("a filter is too long")
	}
	// A mistyped type would list nothing, which reads as "no such events"
	// (the API and the CLI refuse it too).
	if v.Type != "" && !slices.Contains(sessiond.EventTypes(), eq.Type) {
		return eq, v, errors.New("the type is not an event type sessiond records")
	}
	// A cursor the page did not give would be taken by the store as a
	// bound of its ID range: a page of nothing, or of everything.
	if eq.Cursor != "" && !httpapi.ValidEventCursor(eq.Cursor) {
		return eq, v, errors.New("the page link is not one this page gave (cursor)")
	}
	if v.Subject != "" {
		clean, err := subject.Clean("subject", v.Subject)
		if err != nil {
			return eq, v, errors.New("the subject is not a valid subject (at most 256 bytes, no control characters)")
		}
		v.Subject, eq.Subject = clean, clean
	}
	switch v.Since {
	case "":
		eq.Since = now.Add(-time.Hour)
	default:
		var err error
		// <input type="datetime-local"> sends minutes; RFC 3339 is accepted too.
		if eq.Since, err = time.ParseInLocation("2006-01-02T15:04", v.Since, time.UTC); err != nil {
			if eq.Since, err = time.Parse(time.RFC3339, v.Since); err != nil {
				return eq, v, errors.New("since is not a date and time")
			}
		}
	}
	return eq, v, nil
}

func (c *Console) eventsPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	d := pageData{Title: "Events", Nav: "events", Operator: operatorName(key)}
	eq, v, err := eventQuery(r, c.o.Clock.Now())
	d.Data = &v
	if err != nil {
		d.Error = "Bad filter: " + err.Error() + "."
		c.pages.render(w, r, http.StatusBadRequest, "events", d)
		return
	}
	if c.o.Events == nil {
		d.Error = "This store keeps no event log."
		c.pages.render(w, r, http.StatusNotImplemented, "events", d)
		return
	}
	evs, next, err := c.o.Events.QueryEvents(r.Context(), eq)
	if err != nil {
		status := http.StatusServiceUnavailable
		d.Error = "Reading the event log failed; see the server log."
		if errors.Is(err, sessiond.ErrInvalidArgument) {
			status, d.Error = http.StatusBadRequest, "Bad filter."
		} else {
			c.log.ErrorContext(r.Context(), "console: query events", "err", err)
		}
		c.pages.render(w, r, status, "events", d)
		return
	}
	for _, e := range evs {
		v.Rows = append(v.Rows, toRow(e))
	}
	filters := r.URL.Query()
	filters.Del("cursor")
	v.TailQuery = template.URL(filters.Encode())
	if next != "" {
		// The default since is an hour before this page: the next page
		// goes on from it (to the minute, which the cursor makes exact),
		// not from an hour before the click, which skipped the events
		// between.
		if v.Since == "" {
			filters.Set("since", eq.Since.UTC().Format("2006-01-02T15:04"))
		}
		filters.Set("cursor", next)
		v.Next = template.URL(filters.Encode())
	}
	c.pages.render(w, r, http.StatusOK, "events", d)
}
