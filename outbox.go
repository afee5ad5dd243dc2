package sessiond

import (
	"context"
	"time"
)

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
	// while this one tries. Oldest due first. ErrInvalidArgument if limit
	// is not positive or lease is under MinClaimLease.
	ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// FinishDelivery records an attempt's outcome: state delivered, dead,
	// or pending again at next. ErrNotFound if the ID is unknown.
	FinishDelivery(ctx context.Context, id string, state DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error
	// RetryDelivery moves a dead delivery back to pending, due at `at`, with
	// its attempts reset to zero (LastError is kept), and sets CreatedAt
	// and UpdatedAt to `at`: a Retry starts the delivery's age again, so
	// the bounds counted from CreatedAt (an endpoint's max pending age, a
	// poll stream's queue) give it their full time, not none.
	// The move is conditional and atomic: ErrNotFound unless a delivery
	// with that ID exists and is dead, so two operators retrying the same
	// delivery at once send it once, and a delivery a dispatcher holds or
	// has delivered is never reset.
	RetryDelivery(ctx context.Context, id string, at time.Time) error
	// ListDeliveries returns deliveries in state, newest first, at most limit.
	ListDeliveries(ctx context.Context, state DeliveryState, limit int) ([]Delivery, error)
	// CountDeliveries counts deliveries in state (the outbox depth metric).
	CountDeliveries(ctx context.Context, state DeliveryState) (int, error)
	// DeleteDeliveriesBefore deletes up to limit delivered or dead
	// deliveries last updated before before.
	DeleteDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, error)
}

// OutboxFencer is an optional Outbox extension: an attempt's outcome
// written only while the claim that took the delivery still holds it. A
// dispatcher whose attempt outlasts its lease (a slow receiver, a pause,
// a slow store) finds the delivery claimed again by another node, and an
// unconditional FinishDelivery would then overwrite that node's outcome:
// a delivered delivery shown dead, or put back pending and sent again.
// The webhook dispatcher uses it when the outbox has it.
//
// Every store sessiond ships implements it. Without it the dispatcher
// records outcomes with FinishDelivery, so a late one wins.
// sessiondtest.TestOutboxFencer is its conformance suite, which TestStore
// runs when a store implements it.
type OutboxFencer interface {
	// FinishClaimed is FinishDelivery fenced by claimed, a delivery as
	// ClaimDeliveries returned it: it records the outcome only if the
	// delivery with claimed.ID is still pending with claimed's
	// NextAttemptAt (the lease end that claim set) and Attempts, decided
	// atomically with the write. Otherwise it changes nothing and fails
	// with ErrConflict: another claim took the delivery since, or an
	// outcome is recorded already. A later claim sets a later lease end
	// (it is made at or after the earlier one's, and a lease is at least
	// MinClaimLease), so only an operator's RetryDelivery to a time equal
	// to the microsecond could make the fence hold again for a stale
	// claim of attempts 0 (docs/webhooks.md weighs it). ErrNotFound if
	// the ID is unknown, ErrInvalidArgument if state is not one of the
	// three.
	FinishClaimed(ctx context.Context, claimed Delivery, state DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error
}
