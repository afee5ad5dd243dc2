package console

import (
	"context"
	"errors"
	"log/slog"
)

// logReadFailure logs msg for err, a store read a page could not make: at
// ERROR, or at INFO when the browser went away and its canceled request
// ended the read. Nobody waits for that page and nothing is wrong with the
// store, so no ERROR line pages an operator; the API logs the same case
// as INFO with status 499 (internal/httpapi).
func (c *Console) logReadFailure(ctx context.Context, msg string, err error) {
	level := slog.LevelError
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		level = slog.LevelInfo
	}
	c.log.Log(ctx, level, msg, "err", err)
}

// outcomeUnknown is what the line of a write says when its browser left
// during the call.
const outcomeUnknown = "unknown: the browser left during the call, which the store may have done before it saw the cancellation; look before doing it again"

// logWriteFailure logs msg for err, an action's write that failed: at
// ERROR, or at WARN with outcome unknown when the browser went away and
// its canceled request ended the call. Then nothing is known to have
// failed, but nothing is known to have been done either (a write can land
// before the store sees the cancellation), and no page told the operator
// who closed the tab: this line does, with attrs naming what to look at.
func (c *Console) logWriteFailure(ctx context.Context, msg string, err error, attrs ...any) {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		c.log.WarnContext(ctx, msg, append(attrs, "outcome", outcomeUnknown, "err", err)...)
		return
	}
	c.log.ErrorContext(ctx, msg, append(attrs, "err", err)...)
}
