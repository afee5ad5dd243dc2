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
