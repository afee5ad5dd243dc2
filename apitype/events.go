package apitype

import (
	"time"

	"github.com/sessiond/sessiond"
)

// Event is one entry of the security event log (GET /v1/events).
type Event struct {
	ID        string             `json:"id"`
	Time      time.Time          `json:"time"`
	Type      sessiond.EventType `json:"type"`
	Subject   string             `json:"subject"`
	SessionID sessiond.SessionID `json:"session_id"`
	Client    sessiond.Client    `json:"client"`
	Details   map[string]any     `json:"details"`
}

// EventOf is e as the API and the webhooks show it: every member present
// (an empty subject, session ID or client as "", details as {}), the time
// in UTC, so a receiver can hold both to one schema.
func EventOf(e sessiond.Event) Event {
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	return Event{ID: e.ID, Time: e.Time.UTC(), Type: e.Type, Subject: e.Subject, SessionID: e.SessionID,
		Client: e.Client, Details: details}
}

// EventPage is the answer of GET /v1/events: a page and the cursor of the
// next one (null on the last).
type EventPage struct {
	Events     []Event `json:"events"`
	NextCursor *string `json:"next_cursor"`
}
