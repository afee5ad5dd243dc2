package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// GET /v1/events
func (s *server) listEvents(w http.ResponseWriter, r *http.Request) error {
	if s.events == nil {
		return notFound("this store keeps no event log")
	}
	q := r.URL.Query()
	var eq sessiond.EventQuery
	for _, p := range []struct {
		name string
		dst  *string
	}{{"subject", &eq.Subject}, {"session_id", (*string)(&eq.SessionID)}, {"type", (*string)(&eq.Type)}} {
		v, err := filterValue(q, p.name)
		if err != nil {
			return err
		}
		*p.dst = v
	}
	// An empty cursor is the first page, as a paging loop starts.
	cursor, err := oneValue(q, "cursor")
	if err != nil {
		return err
	}
	eq.Cursor = cursor
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &eq.Since}, {"until", &eq.Until}} {
		v, err := filterValue(q, p.name)
		if err != nil {
			return err
		}
		if v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return badRequest(p.name + " must be an RFC 3339 time")
			}
			if t.IsZero() {
				// The store would read it as no bound: until would
				// answer every event rather than none.
				return badRequest(p.name + " must not be the zero time 0001-01-01T00:00:00Z; leave it out for no bound")
			}
			*p.dst = t.UTC()
		}
	}
	limit, err := queryLimit(q, 0)
	if err != nil {
		return err
	}
	eq.Limit = limit
	if eq.Subject != "" {
		subject, err := cleanSubject("subject", eq.Subject)
		if err != nil {
			return err
		}
		if strings.ContainsFunc(subject, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return badRequest("subject contains control characters, which no subject has")
		}
		eq.Subject = subject
	}
	if len(eq.Subject) > sessiond.MaxSubjectBytes || len(eq.Cursor) > 64 || len(eq.Type) > 128 || len(eq.SessionID) > 64 {
		return badRequest("a query parameter is too long")
	}
	// Cursors, types and session IDs are ASCII words: anything else would
	// reach each store as it can hold it (PostgreSQL replaces NUL and
	// invalid UTF-8), matching other values than the one asked for.
	for _, v := range []string{eq.Cursor, string(eq.Type), string(eq.SessionID)} {
		if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return badRequest("cursor, type and session_id must be printable ASCII")
		}
	}
	// A type sessiond never records would match nothing: a typo would read
	// as "no such events" (the CLI's --type refuses it the same way).
	if eq.Type != "" && !slices.Contains(sessiond.EventTypes(), eq.Type) {
		return badRequest(fmt.Sprintf("type: unknown event type %q", eq.Type))
	}
	if eq.Cursor != "" && !ValidEventCursor(eq.Cursor) {
		return badRequest("cursor must be the next_cursor of a previous page")
	}
	events, next, err := s.events.QueryEvents(r.Context(), eq)
	if err := s.storeCall("query_events", err); err != nil {
		return err
	}
	out := apitype.EventPage{Events: make([]apitype.Event, len(events))}
	for i, e := range events {
		out.Events[i] = apitype.EventOf(e)
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, "application/json", out)
	return nil
}

// ValidEventCursor reports whether c can be a next_cursor (the API's, the
// console's). Every store returns
// the ID of a page's last event as the cursor, and every event the server
// logs has an ID of sessiond.NewEventID ("evt_" and 26 characters of
// lower-case base32hex), the only form since the log began. Anything else
// is no cursor: the store would take it as a bound of its ID range ("a"
// sorts before every ID: the whole log), so it is refused before it gets
// there.
func ValidEventCursor(c string) bool {
	const prefix = "evt_"
	if len(c) != len(prefix)+26 || !strings.HasPrefix(c, prefix) {
		return false
	}
	for i := len(prefix); i < len(c); i++ {
		if b := c[i]; !(b >= '0' && b <= '9' || b >= 'a' && b <= 'v') {
			return false
		}
	}
	// The last character's 2 low bits are past the ID's 16 bytes: zero in
	// every ID, so one ID has one spelling (as stream.ParseCursor).
	return strings.IndexByte("048cgkos", c[len(c)-1]) >= 0
}
