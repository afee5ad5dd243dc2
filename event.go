package sessiond

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"log/slog"
	"strings"
	"time"
)

// EventType names a lifecycle or security event.
type EventType string

// Events the Manager emits. Other packages (the server, the kill switch)
// add their own types; these names are part of the public contract.
const (
	EventSessionCreated   EventType = "session.created"
	EventSessionRefreshed EventType = "session.refreshed"
	EventSessionRotated   EventType = "session.rotated"
	EventSessionRevoked   EventType = "session.revoked"
	EventRefreshReused    EventType = "session.refresh_token_reused"
	EventBulkRevoked      EventType = "session.bulk_revoked"
)

// Event is one entry of the security event log. It never holds a token.
type Event struct {
	ID        string         `json:"id"`
	Time      time.Time      `json:"time"`
	Type      EventType      `json:"type"`
	Subject   string         `json:"subject,omitempty"`
	SessionID SessionID      `json:"session_id,omitempty"`
	Client    Client         `json:"client"`
	Details   map[string]any `json:"details,omitempty"`
}

// EventSink receives events (the durable event log, webhooks, metrics).
// Record must be safe for concurrent use; its errors are logged, never
// returned to the caller of the operation that produced the event.
type EventSink interface {
	Record(ctx context.Context, e Event) error
}

// eventIDEncoding is base32hex: its alphabet is in byte order, so IDs sort
// as their bytes do.
var eventIDEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewEventID returns a unique event ID that sorts by t: "evt_" and 26
// characters encoding t in unix microseconds and 64 random bits. Stores
// page the event log by ID.
func NewEventID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMicro()))
	_, _ = rand.Read(b[8:])
	return "evt_" + strings.ToLower(eventIDEncoding.EncodeToString(b[:]))
}

// emit logs e and hands it to the EventSink; a sink that fails is logged,
// never returned: an event must not undo the operation it reports.
func (m *Manager) emit(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = m.now()
	}
	if e.ID == "" {
		e.ID = NewEventID(e.Time)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "event", slog.String("event_id", e.ID), slog.String("type", string(e.Type)),
		slog.String("subject", e.Subject), slog.String("session_id", string(e.SessionID)),
		slog.String("client_ip", e.Client.IP), slog.Any("details", e.Details))
	if m.events != nil {
		if err := m.events.Record(ctx, e); err != nil {
			m.log.ErrorContext(ctx, "record event", "event_id", e.ID, "type", string(e.Type), "err", err)
		}
	}
}
