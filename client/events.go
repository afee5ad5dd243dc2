package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// Event is one entry of the security event log.
type Event = apitype.Event

// EventQuery filters ListEvents; zero fields do not filter.
type EventQuery struct {
	Subject      string
	SessionID    sessiond.SessionID
	Type         sessiond.EventType
	Since, Until time.Time
	Cursor       string
	Limit        int
}

// ListEvents returns a page of the event log and the cursor of the next
// page ("" on the last).
func (c *Client) ListEvents(ctx context.Context, q EventQuery) ([]Event, string, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("subject", q.Subject)
	set("session_id", string(q.SessionID))
	set("type", string(q.Type))
	set("cursor", q.Cursor)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out apitype.EventPage
	if err := c.do(ctx, "list events", http.MethodGet, "/v1/events", v, nil, &out, http.StatusOK); err != nil {
		return nil, "", err
	}
	next := ""
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	return out.Events, next, nil
}
