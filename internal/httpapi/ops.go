package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

// IncidentRequest is the body of POST /v1/revocations, the kill switch.
type IncidentRequest struct {
	All          bool      `json:"all"`
	Subjects     []string  `json:"subjects"`
	IssuedBefore time.Time `json:"issued_before"`
	Reason       string    `json:"reason"`
	RotateKeys   bool      `json:"rotate_keys"`
	Notify       bool      `json:"notify"`
}

type eventJSON struct {
	ID        string             `json:"id"`
	Time      time.Time          `json:"time"`
	Type      sessiond.EventType `json:"type"`
	Subject   string             `json:"subject"`
	SessionID sessiond.SessionID `json:"session_id"`
	Client    clientJSON         `json:"client"`
	Details   map[string]any     `json:"details"`
}

type eventsResponse struct {
	Events     []eventJSON `json:"events"`
	NextCursor *string     `json:"next_cursor"`
}

// GET /v1/events
func (s *server) listEvents(w http.ResponseWriter, r *http.Request) error {
	if s.events == nil {
		return &requestError{status: http.StatusNotFound, code: codeNotFound, detail: "this store keeps no event log"}
	}
	q := r.URL.Query()
	eq := sessiond.EventQuery{
		Subject:   q.Get("subject"),
		SessionID: sessiond.SessionID(q.Get("session_id")),
		Type:      sessiond.EventType(q.Get("type")),
		Cursor:    q.Get("cursor"),
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &eq.Since}, {"until", &eq.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return badRequest(p.name + " must be an RFC 3339 time")
			}
			*p.dst = t.UTC()
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be an integer from 1 to 1000")
		}
		eq.Limit = n
	}
	if eq.Subject != "" {
		subject, err := cleanSubject("subject", eq.Subject)
		if err != nil {
			return err
		}
		eq.Subject = subject
	}
	if len(eq.Subject) > sessiond.MaxSubjectBytes || len(eq.Cursor) > 64 || len(eq.Type) > 128 || len(eq.SessionID) > 64 {
		return badRequest("a query parameter is too long")
	}
	events, next, err := s.events.QueryEvents(r.Context(), eq)
	if err != nil {
		return err
	}
	out := eventsResponse{Events: make([]eventJSON, len(events))}
	for i, e := range events {
		details := e.Details
		if details == nil {
			details = map[string]any{}
		}
		out.Events[i] = eventJSON{ID: e.ID, Time: e.Time.UTC(), Type: e.Type, Subject: e.Subject, SessionID: e.SessionID,
			Client: clientJSON(e.Client), Details: details}
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, "application/json", out)
	return nil
}

// POST /v1/revocations
func (s *server) incident(w http.ResponseWriter, r *http.Request) error {
	if s.incidentFn == nil {
		return &requestError{status: http.StatusNotFound, code: codeNotFound, detail: "the kill switch is not configured"}
	}
	var req IncidentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !req.All && len(req.Subjects) == 0 && req.IssuedBefore.IsZero() {
		return &sessiond.ArgumentError{Field: "all", Msg: "set all, subjects or issued_before"}
	}
	if len(req.Subjects) > 10000 {
		return &sessiond.ArgumentError{Field: "subjects", Msg: "at most 10000 per request"}
	}
	for i, subject := range req.Subjects {
		clean, err := cleanSubject(fmt.Sprintf("subjects[%d]", i), subject)
		if err != nil {
			return err
		}
		req.Subjects[i] = clean
	}
	if len(req.Reason) > 256 {
		return &sessiond.ArgumentError{Field: "reason", Msg: "at most 256 bytes"}
	}
	n, err := s.incidentFn(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "application/json", revokedCount{Revoked: n})
	return nil
}

type deliveryJSON struct {
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

// GET /v1/webhooks/deliveries
func (s *server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	if s.outbox == nil {
		return &requestError{status: http.StatusNotFound, code: codeNotFound, detail: "no webhook outbox"}
	}
	state := sessiond.DeliveryState(r.URL.Query().Get("state"))
	if state == "" {
		state = sessiond.DeliveryDead
	}
	switch state {
	case sessiond.DeliveryDead, sessiond.DeliveryPending, sessiond.DeliveryDelivered:
	default:
		return badRequest("state must be pending, delivered or dead")
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be an integer from 1 to 1000")
		}
		limit = n
	}
	ds, err := s.outbox.ListDeliveries(r.Context(), state, limit)
	if err != nil {
		return err
	}
	out := struct {
		Deliveries []deliveryJSON `json:"deliveries"`
	}{Deliveries: make([]deliveryJSON, len(ds))}
	for i, d := range ds {
		out.Deliveries[i] = deliveryJSON{ID: d.ID, Endpoint: d.Endpoint, EventID: d.EventID, State: string(d.State),
			Attempts: d.Attempts, NextAttemptAt: d.NextAttemptAt.UTC(), LastError: d.LastError,
			CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	}
	writeJSON(w, http.StatusOK, "application/json", out)
	return nil
}

// GET /metrics and GET /sdk/sessiond.js are handlers owned elsewhere.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) error {
	if s.metricsH == nil {
		return &requestError{status: http.StatusNotFound, code: codeNotFound, detail: "metrics are not enabled"}
	}
	s.metricsH.ServeHTTP(w, r)
	return nil
}

func (s *server) sdk(w http.ResponseWriter, r *http.Request) error {
	if s.sdkH == nil {
		return &requestError{status: http.StatusNotFound, code: codeNotFound, detail: "no client SDK"}
	}
	s.sdkH.ServeHTTP(w, r)
	return nil
}
