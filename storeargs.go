package sessiond

import (
	"encoding/json"
	"fmt"
	"time"
)

// The argument checks every Store shares. A store calls them before it
// touches its data, so every backend refuses the same input with the same
// *ArgumentError (matching ErrInvalidArgument), and sessiondtest can hold
// them all to it.

// CheckNewSession checks what Store.Create and Limiter.CreateLimited are
// given: a session, and tokens that all belong to it.
func CheckNewSession(s *Session, tokens []Token) error {
	if s == nil {
		return argError("session", "must not be nil")
	}
	for i, t := range tokens {
		if t.SessionID != s.ID {
			return argError(fmt.Sprintf("tokens[%d].session_id", i), "must be the session's ID")
		}
	}
	return nil
}

// CheckMax checks the per-subject limit given to Limiter.CreateLimited.
func CheckMax(max int) error {
	if max < 1 {
		return argError("max", "must be positive, got %d", max)
	}
	return nil
}

// CheckLimit checks the batch size given to the methods that take one
// (DeleteExpired, ClaimDeliveries, ListDeliveries, DeleteEventsBefore,
// DeleteDeliveriesBefore): it must be positive.
func CheckLimit(limit int) error {
	if limit < 1 {
		return argError("limit", "must be positive, got %d", limit)
	}
	return nil
}

// MinClaimLease is the shortest lease Outbox.ClaimDeliveries takes: the stores
// keep times to the microsecond, so a shorter lease would end, once
// stored, when it began, and a second claim at the same instant would take
// the delivery again (and match the first claim's OutboxFencer fence).
const MinClaimLease = time.Microsecond

// CheckLease checks the lease given to Outbox.ClaimDeliveries: at least
// MinClaimLease.
func CheckLease(lease time.Duration) error {
	if lease < MinClaimLease {
		return argError("lease", "must be at least %v, got %v", MinClaimLease, lease)
	}
	return nil
}

// CheckReplayKey checks the key given to ReplayGuard.RememberOnce (and
// AckedReplayGuard.RememberOnceAcked): not empty. Callers pass a hash, so
// an empty key is a bug; every store refuses it the same way rather than
// recording it (and then refusing every later empty key as a replay).
func CheckReplayKey(key string) error {
	if key == "" {
		return argError("key", "is empty")
	}
	return nil
}

// MaxMetaName bounds the name of a MetaStore document in a feed notice
// (MetaNotifier.PublishMeta).
const MaxMetaName = 200

// CheckMetaName checks the document name given to MetaNotifier.PublishMeta:
// 1 to MaxMetaName bytes of printable ASCII.
func CheckMetaName(name string) error {
	return checkKey("name", name, MaxMetaName)
}

// MaxCounterKey bounds a WindowCounter key.
const MaxCounterKey = 200

// CheckCounter checks the key and window given to WindowCounter.Incr: a
// key of 1 to MaxCounterKey bytes of printable ASCII, a positive window.
func CheckCounter(key string, window time.Duration) error {
	if err := checkKey("key", key, MaxCounterKey); err != nil {
		return err
	}
	if window <= 0 {
		return argError("window", "must be positive, got %v", window)
	}
	return nil
}

func checkKey(field, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return argError(field, "must be 1 to %d bytes, got %d", maxLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return argError(field, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// Validate checks sw's own fields: Next must be a refresh token.
func (sw *RefreshSwap) Validate() error {
	if sw.Next.Kind != KindRefresh {
		return argError("next.kind", "must be refresh")
	}
	return CheckChangeEvents(sw.Events, sw.Deliveries)
}

// CheckChangeEvents checks the events and outbox deliveries a change
// carries (see ChangeEventWriter): every event needs an ID, its Details
// must encode as JSON, every delivery needs an ID and is pending.
func CheckChangeEvents(events []Event, ds []Delivery) error {
	if len(events) > 0 {
		if _, err := EncodeEvents(events); err != nil {
			return err
		}
	}
	return CheckEnqueue(ds)
}

// CheckSession checks that Next belongs to session, the session of the
// stored Old token (which only the store can tell).
func (sw *RefreshSwap) CheckSession(session SessionID) error {
	if sw.Next.SessionID != session {
		return argError("next.session_id", "must be the session of the old token")
	}
	return nil
}

// InGrace reports whether a refresh token retired at retired may still be
// swapped under sw. A GraceSince not before sw.Now is no grace at all, so
// with a zero grace exactly one of several concurrent swaps succeeds.
func (sw *RefreshSwap) InGrace(retired time.Time) bool {
	return sw.GraceSince.Before(sw.Now) && !retired.Before(sw.GraceSince)
}

// Validate reports whether f selects anything: at least one of All,
// Subjects (non-empty) or IssuedBefore must be set.
func (f RevokeFilter) Validate() error {
	if !f.All && len(f.Subjects) == 0 && f.IssuedBefore.IsZero() {
		return argError("filter", "must set all, subjects or issued_before")
	}
	return nil
}

// Validate reports whether s is one of the three delivery states.
func (s DeliveryState) Validate() error {
	switch s {
	case DeliveryPending, DeliveryDelivered, DeliveryDead:
		return nil
	}
	return argError("state", "must be pending, delivered or dead, got %q", s)
}

// CheckEnqueue checks what Outbox.EnqueueDeliveries is given: every
// delivery has an ID and is pending ("" counts as pending).
func CheckEnqueue(ds []Delivery) error {
	for i, d := range ds {
		if d.ID == "" {
			return argError(fmt.Sprintf("deliveries[%d].id", i), "must not be empty")
		}
		if d.State != "" && d.State != DeliveryPending {
			return argError(fmt.Sprintf("deliveries[%d].state", i), "must be pending, got %q", d.State)
		}
	}
	return nil
}

// EncodeEvents checks what EventLog.AppendEvents is given (every event has
// an ID, Details that encode as JSON) and returns each event's Details as
// the JSON object a store keeps, or nil for an event without Details.
func EncodeEvents(events []Event) ([][]byte, error) {
	details := make([][]byte, len(events))
	for i, e := range events {
		if e.ID == "" {
			return nil, argError(fmt.Sprintf("events[%d].id", i), "must not be empty")
		}
		if len(e.Details) == 0 {
			continue
		}
		b, err := json.Marshal(e.Details)
		if err != nil {
			return nil, argError(fmt.Sprintf("events[%d].details", i), "%v", err)
		}
		details[i] = b
	}
	return details, nil
}
