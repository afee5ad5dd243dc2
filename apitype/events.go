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

// EventPage is the answer of GET /v1/events: a page and the cursor of the
// next one (null on the last).
type EventPage struct {
	Events     []Event `json:"events"`
	NextCursor *string `json:"next_cursor"`
}
