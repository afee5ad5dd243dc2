package console

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

// Counted says how fresh a figure read from the store is. serve shares
// each such count with /metrics and reuses it for 30 s or more
// (internal/server/sharedcount.go), so the figure may be older than the
// page that shows it.
type Counted struct {
	// At is when the figure was counted; zero when it never was.
	At time.Time
	// FailedAt, if not zero, is when the latest count failed; its failure
	// stands a while before the next try. The figure, if any, is the one
	// counted before it.
	FailedAt time.Time
}

// Figure is a count on a page: whether it is known, and how fresh it is
// at the page's time.
type Figure struct {
	Known bool
	Counted
	AsOf time.Time // the page's time
}

// Age is how long before the page the figure was counted, to the second;
// 0 when it was counted for this view.
func (f Figure) Age() time.Duration {
	return max(f.AsOf.Sub(f.At).Truncate(time.Second), 0)
}

// Failed reports whether the latest count failed.
func (f Figure) Failed() bool { return !f.FailedAt.IsZero() }

// Note says how old the figure is and whether counting it again failed;
// "" for a figure counted for this view, or one unknown for another
// reason than a failed count (the page's error says so).
func (f Figure) Note() string {
	switch {
	case !f.Known && f.Failed():
		return "counting failed at " + when(f.FailedAt) + "; see the server log"
	case !f.Known:
		return ""
	case f.Failed():
		return fmt.Sprintf("counted %s earlier, at %s; counting again failed at %s", f.Age(), when(f.At), when(f.FailedAt))
	case f.Age() > 0:
		return fmt.Sprintf("counted %s earlier, at %s", f.Age(), when(f.At))
	}
	return ""
}

// outboxCounts are the webhook outbox's pending and dead deliveries.
type outboxCounts struct {
	Pending, Dead int
	Figure
}

// outboxEnabled reports whether the console shows the outbox's counts.
func (c *Console) outboxEnabled() bool { return c.o.OutboxDepth != nil || c.o.Outbox != nil }

// outboxDepth counts the pending and dead deliveries: through
// Options.OutboxDepth (serve's shared count) when set, else from the
// outbox at every call. An error that a failed shared count reported
// already (FailedAt set) is not logged again, once a view.
func (c *Console) outboxDepth(ctx context.Context, now time.Time) (outboxCounts, error) {
	v := outboxCounts{Figure: Figure{AsOf: now}}
	var err error
	if c.o.OutboxDepth != nil {
		v.Pending, v.Dead, v.Counted, err = c.o.OutboxDepth(ctx)
	} else {
		var err1, err2 error
		v.Pending, err1 = c.o.Outbox.CountDeliveries(ctx, sessiond.DeliveryPending)
		v.Dead, err2 = c.o.Outbox.CountDeliveries(ctx, sessiond.DeliveryDead)
		v.At = now
		err = errors.Join(err1, err2)
	}
	if err != nil {
		if v.FailedAt.IsZero() {
			c.log.WarnContext(ctx, "console: count webhook deliveries", "err", err)
		}
		v.Pending, v.Dead = 0, 0
		return v, err
	}
	v.Known = true
	return v, nil
}
