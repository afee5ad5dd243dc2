package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

// Event is one entry of the security event log.
type Event struct {
	ID        string             `json:"id"`
	Time      time.Time          `json:"time"`
	Type      sessiond.EventType `json:"type"`
	Subject   string             `json:"subject"`
	SessionID sessiond.SessionID `json:"session_id"`
	Client    sessiond.Client    `json:"client"`
	Details   map[string]any     `json:"details"`
}

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
	var out struct {
		Events     []Event `json:"events"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := c.do(ctx, "list events", http.MethodGet, "/v1/events", v, nil, &out, http.StatusOK); err != nil {
		return nil, "", err
	}
	next := ""
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	return out.Events, next, nil
}

// Incident is the kill switch request: at least one of All, Subjects,
// IssuedBefore.
type Incident struct {
	All          bool      `json:"all,omitempty"`
	Subjects     []string  `json:"subjects,omitempty"`
	IssuedBefore time.Time `json:"issued_before,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	RotateKeys   bool      `json:"rotate_keys,omitempty"`
	Notify       bool      `json:"notify,omitempty"`
}

// RevokeIncident runs the kill switch and returns how many sessions it
// revoked.
func (c *Client) RevokeIncident(ctx context.Context, in Incident) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	if err := c.do(ctx, "incident revoke", http.MethodPost, "/v1/revocations", nil, jsonBody(in), &out, http.StatusOK); err != nil {
		return 0, err
	}
	return out.Revoked, nil
}

// Delivery is a webhook delivery as the server reports it.
type Delivery struct {
	ID            string    `json:"id"`
	Endpoint      string    `json:"endpoint"`
	EventID       string    `json:"event_id"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// ListDeliveries returns webhook deliveries in state (pending, delivered,
// dead), newest first.
func (c *Client) ListDeliveries(ctx context.Context, state string, limit int) ([]Delivery, error) {
	v := url.Values{"state": {state}}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	if err := c.do(ctx, "list deliveries", http.MethodGet, "/v1/webhooks/deliveries", v, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Deliveries, nil
}
