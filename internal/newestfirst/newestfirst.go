// Package newestfirst reads the newest entries of an event log that pages
// oldest first (sessiond.EventLog, GET /v1/events), newest first, without
// reading the whole log: `sessiond events` and the console's events page.
package newestfirst

import (
	"context"
	"math"
	"time"

	"github.com/sessiond/sessiond"
)

// Page is one read of the log: the entries at or after since (zero: no
// bound) and before until, after cursor ("": from the first), oldest
// first, at most limit of them, and the cursor of the next read ("" when
// there is none).
type Page[E any] func(ctx context.Context, since, until time.Time, cursor string, limit int) ([]E, string, error)

// Read returns the newest want entries at or after since (zero: no bound)
// and before until, newest first. The log pages oldest first, so Read
// reads windows going back from until (a minute, then eight times longer
// each time) until it has enough, the window reaches since, or nothing
// older exists: it reads about as many entries as a window eight times
// wider than needed holds, never the whole log. A window holding more than
// a read (sessiond.MaxEventLimit) is halved, its older part left to the
// next window, until one read holds it: a burst of events (an incident,
// when an operator looks) costs a read per halving, not every page of the
// burst.
func Read[E any](ctx context.Context, page Page[E], since, until time.Time, want int) ([]E, error) {
	upper := until
	var out []E // newest first
	for width := time.Minute; len(out) < want; width = wider(width) {
		var lower time.Time
		var last bool
		bound := func() {
			lower, last = upper.Add(-width), false
			if !since.IsZero() && !lower.After(since) {
				lower, last = since, true
			}
		}
		bound()
		entries, next, err := page(ctx, lower, upper, "", sessiond.MaxEventLimit)
		if err != nil {
			return nil, err
		}
		for next != "" && width > time.Microsecond {
			width /= 2
			bound()
			if entries, next, err = page(ctx, lower, upper, "", sessiond.MaxEventLimit); err != nil {
				return nil, err
			}
		}
		var window []E // oldest first, only the newest `want-len(out)` kept
		for {
			window = append(window, entries...)
			if keep := want - len(out); len(window) > keep {
				window = window[len(window)-keep:]
			}
			if next == "" {
				break
			}
			if entries, next, err = page(ctx, lower, upper, next, sessiond.MaxEventLimit); err != nil {
				return nil, err
			}
		}
		for i := len(window) - 1; i >= 0; i-- {
			out = append(out, window[i])
		}
		if last || len(out) >= want {
			break
		}
		older, _, err := page(ctx, since, lower, "", 1)
		if err != nil {
			return nil, err
		}
		if len(older) == 0 {
			break
		}
		upper = lower
	}
	return out, nil
}

// wider is the width of the window after one of width w: eight times w,
// at most the longest Duration (292 years). Multiplied on, a width that far
// back wraps around: to zero after a few more windows, and Read read the
// same empty window forever (an until centuries ahead of the log).
func wider(w time.Duration) time.Duration {
	if w > math.MaxInt64/8 {
		return math.MaxInt64
	}
	return w * 8
}
