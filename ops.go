package sessiond

import (
	"context"
	"time"
)

// EventQuery selects events from an EventLog. Zero fields do not filter.
type EventQuery struct {
	Subject   string
	SessionID SessionID
	Type      EventType
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	// Cursor continues a previous query: the ID of the last event it
	// returned. Events are ordered by ID, which orders them by time.
	Cursor string
	Limit  int // at most this many; see PageSize
}

// Event log page sizes: EventQuery.Limit 0 means DefaultEventLimit, and a
// larger Limit than MaxEventLimit is capped to it.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// PageSize is q.Limit as every store applies it: 0 becomes
// DefaultEventLimit, more than MaxEventLimit becomes MaxEventLimit, and a
// negative limit is an *ArgumentError.
func (q EventQuery) PageSize() (int, error) {
	switch {
	case q.Limit < 0:
		return 0, argError("limit", "must not be negative, got %d", q.Limit)
	case q.Limit == 0:
		return DefaultEventLimit, nil
	case q.Limit > MaxEventLimit:
		return MaxEventLimit, nil
	}
	return q.Limit, nil
}

// EventLog is implemented by stores that keep the security event log
// durably. Every store sessiond ships implements it.
type EventLog interface {
	// AppendEvents stores events. An ID that already exists is skipped,
	// so a retried append does not duplicate.
	AppendEvents(ctx context.Context, events ...Event) error
	// QueryEvents returns matching events in ID order after q.Cursor,
	// and the cursor of the next page ("" when there is none).
	QueryEvents(ctx context.Context, q EventQuery) ([]Event, string, error)
	// DeleteEventsBefore deletes up to limit events older than before and
	// returns how many (retention).
	DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error)
}

// DeliveryState is where a webhook delivery stands.
type DeliveryState string

// Delivery states.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryDead      DeliveryState = "dead" // every attempt failed; kept for operators
)

// Delivery is one event bound for one webhook endpoint, kept in the
// store's outbox until it is delivered or declared dead.
type Delivery struct {
	ID            string // the webhook-id header: stable across retries
	Endpoint      string // the endpoint's name in the configuration
	EventID       string
	Payload       []byte // the exact body to send
	State         DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Outbox is implemented by stores that keep webhook deliveries durably, so
// alerts survive restarts. Every store sessiond ships implements it.
type Outbox interface {
	// EnqueueDeliveries stores pending deliveries; an existing ID is skipped.
	EnqueueDeliveries(ctx context.Context, ds ...Delivery) error
	// ClaimDeliveries returns up to limit pending deliveries due at now and
	// pushes their NextAttemptAt to now+lease, so no other node takes them
	// while this one tries. Oldest due first.
	ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// FinishDelivery records an attempt's outcome: state delivered, dead,
	// or pending again at next. ErrNotFound if the ID is unknown.
	FinishDelivery(ctx context.Context, id string, state DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error
	// ListDeliveries returns deliveries in state, newest first, at most limit.
	ListDeliveries(ctx context.Context, state DeliveryState, limit int) ([]Delivery, error)
	// CountDeliveries counts deliveries in state (the outbox depth metric).
	CountDeliveries(ctx context.Context, state DeliveryState) (int, error)
	// DeleteDeliveriesBefore deletes up to limit delivered or dead
	// deliveries last updated before before.
	DeleteDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, error)
}

// RevokeFilter selects the sessions an incident revocation ends. At least
// one of All, Subjects, IssuedBefore must be set; set ones combine with AND.
type RevokeFilter struct {
	All          bool
	Subjects     []string
	IssuedBefore time.Time // sessions created before this time
}

// BulkRevoker is implemented by stores that can revoke many sessions at
// once (the incident kill switch). Every store sessiond ships implements it.
type BulkRevoker interface {
	// RevokeMatching revokes every live session (at `at`) that f selects,
	// with reason, and returns how many it revoked and the distinct
	// subjects they belonged to. Already revoked sessions are not counted,
	// so running it twice revokes nothing the second time.
	RevokeMatching(ctx context.Context, f RevokeFilter, at time.Time, reason RevokeReason) (int, []string, error)
}

// LiveCounter is implemented by stores that can count live sessions
// cheaply enough for a metrics scrape (the active-sessions gauge).
type LiveCounter interface {
	// CountLive returns how many sessions are neither revoked nor expired
	// at now, by strategy.
	CountLive(ctx context.Context, now time.Time) (map[Strategy]int, error)
}
