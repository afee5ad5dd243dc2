package httpapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

// A store that stops answering (a frozen server, a black-holed network, a
// table held under a long lock) fails no call by itself: without a bound,
// the request would wait until server.write_timeout closes the connection,
// with no answer. So every request runs under a deadline a margin before
// the write timeout (Options.WriteTimeout), and a store call it cuts is
// answered as a store that is down: 503 store_unavailable with
// Retry-After: 1 (docs/operations.md, "When the store is unavailable").

// RequestDeadline is how long a request's store calls may take, from the
// request's start, when the server's write timeout is writeTimeout: that
// timeout less a margin to write the 503 in (a quarter of it, at most one
// second); 0 when writeTimeout is not positive (no deadline).
func RequestDeadline(writeTimeout time.Duration) time.Duration {
	if writeTimeout <= 0 {
		return 0
	}
	return writeTimeout - min(writeTimeout/4, time.Second)
}

// minStoreTime is the least of a request's deadline that must be left
// once its body is in for its store calls to run: a quarter of it, at
// most one second. A body that leaves less is the client's delay, and a
// store call cut then would be counted as the store's.
func minStoreTime(bound time.Duration) time.Duration {
	return min(bound/4, time.Second)
}

// unboundedRoutes hold a request open by design and run without the
// deadline (each sets its own write deadline, or has none to meet): the
// revocation stream (SSE, as long as the client stays), its snapshot (as
// long as the client takes to read it) and the Shared Signals poll (held up to ssf's LongPoll, 10 s, while no event is
// queued). The kill switch keeps the deadline for its authentication and
// body, then runs detached from the request (IncidentContext), with its
// own write deadline.
var unboundedRoutes = map[string]bool{
	"GET /v1/revocations/stream": true,
	// The snapshot's writes last as long as the client reads; each read
	// of the store gets the deadline of its own (storeContext).
	"GET /v1/revocations/snapshot":  true,
	"POST /v1/ssf/poll/{stream_id}": true,
	// A subject's sessions are revoked in one transaction with their
	// events and deliveries: cut by the deadline, a subject with very many
	// sessions would roll back on every try, where it used to finish.
	"DELETE /v1/subjects/{subject}/sessions": true,
}

// storeContext is ctx with the deadline of a request's store calls
// (RequestDeadline), for a store call of a route that runs without it
// (unboundedRoutes).
func (s *server) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.bound <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.bound)
}

// storeDeadline returns err, the error of a request run under ctx, as
// sessiond.ErrStoreUnavailable when the request's deadline cut it: a store
// that did not answer in time, whether it said so itself (ErrStoreUnavailable
// already) or returned ctx's context.DeadlineExceeded as is (one that checks
// its context before it asks the server). A canceled context (the client
// went away) is left alone: that is no outage.
func storeDeadline(ctx context.Context, err error) error {
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sessiond.ErrStoreUnavailable) ||
		!errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: the request's deadline passed: %w", sessiond.ErrStoreUnavailable, err)
}
