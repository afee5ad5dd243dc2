package sessiond

import (
	"context"
	"time"
)

// MaxEventBuckets bounds EventCountQuery.Buckets.
const MaxEventBuckets = 10_000

// EventCountQuery asks for the events of one type per time bucket: Buckets
// consecutive buckets of Step, the first starting at Since.
type EventCountQuery struct {
	Type    EventType
	Since   time.Time // the first bucket's start, inclusive
	Step    time.Duration
	Buckets int
}

// Check reports an *ArgumentError (ErrInvalidArgument) for a query the
// stores cannot answer exactly: no Type; a Step that is not a positive
// whole number of microseconds (the stores keep microseconds, so buckets
// start on them); Buckets outside 1..MaxEventBuckets; or a Since, or an end
// of the last bucket, that microseconds in an int64 cannot hold.
func (q EventCountQuery) Check() error {
	switch {
	case q.Type == "":
		return argError("type", "must not be empty")
	case q.Step <= 0 || q.Step%time.Microsecond != 0:
		return argError("step", "must be a positive whole number of microseconds, got %v", q.Step)
	case q.Buckets < 1 || q.Buckets > MaxEventBuckets:
		return argError("buckets", "must be 1 to %d, got %d", MaxEventBuckets, q.Buckets)
	case !microRange(q.Since):
		return argError("since", "is out of range")
	case !microRange(q.Since.Add(time.Duration(q.Buckets) * q.Step)):
		return argError("step", "ends the last bucket out of range")
	}
	return nil
}

// Bucket is the bucket of q an event at t counts in: -1 before Since, and
// the last bucket for t at or after its end (an event stamped by a node
// whose clock is ahead). The stores keep microseconds: t counts as it is
// stored, Since as rounded up to a whole microsecond.
func (q EventCountQuery) Bucket(t time.Time) int {
	since := q.Since.Truncate(time.Microsecond)
	if !since.Equal(q.Since) {
		since = since.Add(time.Microsecond)
	}
	t = t.Truncate(time.Microsecond)
	if t.Before(since) {
		return -1
	}
	return int(min(int64(t.Sub(since)/q.Step), int64(q.Buckets-1)))
}

// EventCounter is an optional EventLog extension: counts of one type's
// events per time bucket, made in the store (an index and a count, or a
// count per bucket), so that a chart over a busy event log costs about
// what one over a quiet log does and no event is read out of the store.
// The console's overview draws its charts with it. Every store sessiond
// ships implements it.
type EventCounter interface {
	// CountEvents returns q.Buckets counts: the i-th is how many events of
	// q.Type have a Time in bucket i (EventCountQuery.Bucket); events
	// before Since are not counted, events after the last bucket's end
	// count in it. ErrInvalidArgument as EventCountQuery.Check.
	CountEvents(ctx context.Context, q EventCountQuery) ([]int, error)
}
