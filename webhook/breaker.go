package webhook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
)

// This file keeps endpoints from holding each other up on a node: each has
// a breaker (it cools down after its receiver fails) and at most
// maxInFlightPerEndpoint requests in flight. Claimed deliveries that cannot
// be sent yet wait for a slot of their endpoint, or, when it cools down or
// is stalled, go back to the outbox unsent: FinishDelivery with their
// attempts unchanged, due when sending may help. One its endpoint's
// cooling down meets past its MaxPendingAge ends dead instead.

// claim is a delivery this node holds.
type claim struct {
	ctx  context.Context
	del  sessiond.Delivery
	at   time.Time // of the claim, on this process's clock: the lease counts from it
	gen  int       // the endpoint's breaker generation when it was sent
	pass *pass
}

// pass follows the claims of one DeliverDue call, or of Run.
type pass struct {
	wg      sync.WaitGroup // claims not yet recorded
	workers sync.WaitGroup // goroutines sending its claims
	held    atomic.Int64   // claims not yet recorded
	// unrecorded is the Dispatcher's count of the claims not yet recorded
	// over all passes (Unrecorded).
	unrecorded *atomic.Int64
	wake       chan struct{} // if not nil, signalled when a claim is recorded
	log        *slog.Logger  // if not nil, errors are logged here, else kept in errs

	mu   sync.Mutex
	errs []error
}

func (p *pass) add() {
	p.wg.Add(1)
	p.held.Add(1)
	p.unrecorded.Add(1)
}

// done records that a claim has been recorded in the outbox (or that
// recording it failed with err).
func (p *pass) done(err error) {
	if err != nil {
		if p.log != nil {
			p.log.Error("webhook delivery pass", "err", err)
		} else {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
	}
	p.held.Add(-1)
	p.unrecorded.Add(-1)
	if p.wake != nil {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.wg.Done()
}

// endpointState is what this node knows of one endpoint. Guarded by
// Dispatcher.mu.
type endpointState struct {
	name string
	// failures counts the receiver's consecutive failed attempts; while it
	// is not zero the endpoint is on probation: one request at a time.
	failures int
	// until is the end of the cooling down (clock time); none when zero.
	until time.Time
	// gen grows when the endpoint starts cooling down: requests already in
	// flight then fail as part of the same outage and add no failure.
	gen       int
	downSince time.Time // clock time of the first of failures
	deferred  int       // deliveries put back unsent since then
	inFlight  map[*claim]time.Time
	waiting   []*claim // for a slot, in claim order
	// took is the average time a request to the endpoint took (moving, by
	// eighths); queuedUntil is when the deliveries put back for want of a
	// slot (maxWaitingPerEndpoint) are due, the last of them: each one put
	// back is due one request's share of its slots later, so the backlog
	// comes back at the pace the receiver takes it and each delivery is
	// rewritten about once.
	took        time.Duration
	queuedUntil time.Time
}

func (ep *endpointState) idle() bool { return len(ep.inFlight) == 0 && len(ep.waiting) == 0 }

// oldest returns when the longest running request in flight started.
func (ep *endpointState) oldest() time.Time {
	var t time.Time
	for _, s := range ep.inFlight {
		if t.IsZero() || s.Before(t) {
			t = s
		}
	}
	return t
}

// putBack is a claimed delivery to return to the outbox unsent, due at
// next; or, when expired is set (the endpoint's max pending age), to end
// dead unsent.
type putBack struct {
	c       *claim
	next    time.Time
	expired time.Duration
}

// dispatch queues claims on their endpoints and starts what may start.
func (d *Dispatcher) dispatch(cs []*claim) {
	d.mu.Lock()
	var touched []*endpointState
	for _, c := range cs {
		ep := d.eps[c.del.Endpoint]
		if ep == nil {
			ep = &endpointState{name: c.del.Endpoint, inFlight: make(map[*claim]time.Time)}
			d.eps[ep.name] = ep
		}
		if !slices.Contains(touched, ep) {
			touched = append(touched, ep)
		}
		ep.waiting = append(ep.waiting, c)
	}
	var sends []*claim
	var backs []putBack
	for _, ep := range touched {
		sends, backs = d.drainLocked(ep, sends, backs)
	}
	d.mu.Unlock()
	d.start(sends)
	d.release(backs)
}

// sweep moves every endpoint's waiting claims on: they start if a slot is
// free, go back to the outbox if the endpoint cools down or has stalled.
// It forgets endpoints that have nothing in hand and are healthy, or whose
// cooling down ended longer than MaxBackoff ago.
func (d *Dispatcher) sweep() {
	d.mu.Lock()
	var sends []*claim
	var backs []putBack
	now := d.clock.Now()
	for name, ep := range d.eps {
		sends, backs = d.drainLocked(ep, sends, backs)
		if ep.idle() && (ep.failures == 0 || now.Sub(ep.until) > d.maxBackoff) {
			delete(d.eps, name)
		}
	}
	d.mu.Unlock()
	d.start(sends)
	d.release(backs)
}

// unqueue takes p's waiting claims off every endpoint and returns them to
// be put back, due now: p is stopping.
func (d *Dispatcher) unqueue(p *pass) []putBack {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	var backs []putBack
	for _, ep := range d.eps {
		kept := ep.waiting[:0]
		for _, c := range ep.waiting {
			if c.pass == p {
				backs = append(backs, putBack{c: c, next: now})
			} else {
				kept = append(kept, c)
			}
		}
		clear(ep.waiting[len(kept):])
		ep.waiting = kept
	}
	return backs
}

// drainLocked decides ep's waiting claims in order, as far as it can: it
// appends those to send now (marked in flight) to sends and those to put
// back to backs, and leaves the rest waiting for a slot.
func (d *Dispatcher) drainLocked(ep *endpointState, sends []*claim, backs []putBack) ([]*claim, []putBack) {
	now, clock := time.Now(), d.clock.Now()
	for len(ep.waiting) > 0 {
		c := ep.waiting[0]
		switch {
		case c.ctx.Err() != nil: // its pass stopped: the next run sends it
			backs = append(backs, putBack{c: c, next: clock})
		case clock.Before(ep.until): // cooling down
			if maxAge := d.maxPendingAge(c.del.Endpoint); !c.del.CreatedAt.IsZero() && clock.Sub(c.del.CreatedAt) > maxAge {
				// Put back, it would be claimed and put back again for as
				// long as the receiver stays away: no attempt ever counts.
				backs = append(backs, putBack{c: c, next: clock, expired: maxAge})
				break
			}
			ep.deferred++
			backs = append(backs, putBack{c: c, next: ep.until})
		case d.maxWait > 0 && now.Sub(c.at) > d.maxWait:
			// Waited so long that its request could outlast half the lease.
			backs = append(backs, putBack{c: c, next: clock})
		case len(ep.inFlight) < ep.limit():
			c.gen = ep.gen
			ep.inFlight[c] = now
			sends = append(sends, c)
		default:
			age := now.Sub(ep.oldest())
			if age < d.stallAfter && d.maxWait > 0 {
				return sends, d.trimLocked(ep, backs, clock) // a slot frees soon: wait for it
			}
			// The endpoint's requests are not coming back soon: put the
			// claim back until about when one should have, at least
			// d.stallAfter, so a hanging receiver's backlog is rewritten
			// ever less often while its requests time out.
			backs = append(backs, putBack{c: c, next: clock.Add(max(d.stallAfter, min(age, d.reqTimeout-age)))})
		}
		ep.waiting[0] = nil
		ep.waiting = ep.waiting[1:]
	}
	ep.waiting = nil // let the backing array go
	return sends, backs
}

// trimLocked puts back, at the pace of ep's receiver (queuedUntil), the
// claims waiting beyond maxWaitingPerEndpoint, the last claimed first.
func (d *Dispatcher) trimLocked(ep *endpointState, backs []putBack, clock time.Time) []putBack {
	if len(ep.waiting) <= maxWaitingPerEndpoint {
		return backs
	}
	share := max(ep.took, 10*time.Millisecond) / time.Duration(ep.limit())
	if ep.queuedUntil.Before(clock) {
		ep.queuedUntil = clock.Add(d.stallAfter)
	}
	for _, c := range ep.waiting[maxWaitingPerEndpoint:] {
		ep.queuedUntil = ep.queuedUntil.Add(share)
		backs = append(backs, putBack{c: c, next: ep.queuedUntil})
	}
	clear(ep.waiting[maxWaitingPerEndpoint:])
	ep.waiting = ep.waiting[:maxWaitingPerEndpoint]
	return backs
}

// limit is how many requests ep may have in flight.
func (ep *endpointState) limit() int {
	if ep.failures > 0 {
		return 1 // on probation after cooling down: probe with one
	}
	return maxInFlightPerEndpoint
}

// start sends each claim from a worker of its own, joined by its pass.
// (The pass cannot be waiting for its workers yet: c is not recorded.)
func (d *Dispatcher) start(cs []*claim) {
	for _, c := range cs {
		c.pass.workers.Go(func() { d.work(c) })
	}
}

// work sends c, then, on its endpoint's freed slot, whatever was waiting:
// itself if it is of the same pass, else from a worker of that pass.
func (d *Dispatcher) work(c *claim) {
	for c != nil {
		c.pass.done(d.attempt(c))
		d.mu.Lock()
		ep := d.eps[c.del.Endpoint] // kept: c was in flight
		if took := time.Since(ep.inFlight[c]); ep.took == 0 {
			ep.took = took
		} else {
			ep.took += (took - ep.took) / 8
		}
		delete(ep.inFlight, c)
		sends, backs := d.drainLocked(ep, nil, nil)
		if ep.idle() && ep.failures == 0 {
			delete(d.eps, ep.name)
		}
		d.mu.Unlock()
		d.release(backs)
		p := c.pass
		c = nil
		if i := slices.IndexFunc(sends, func(s *claim) bool { return s.pass == p }); i >= 0 {
			c = sends[i]
			sends = slices.Delete(sends, i, i+1)
		}
		d.start(sends)
	}
}

// release puts claims back in the outbox unsent: pending, due at their
// next time, attempts and last error unchanged (it was no attempt).
// One past its endpoint's max pending age ends dead instead, unsent.
func (d *Dispatcher) release(backs []putBack) {
	now := d.clock.Now()
	for _, b := range backs {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.c.ctx), storeTimeout)
		var err error
		if b.expired > 0 {
			err = d.expire(ctx, b.c.del, b.expired, now)
		} else {
			err = d.finish(ctx, b.c.del, sessiond.DeliveryPending, b.c.del.Attempts, b.next, b.c.del.LastError, now)
		}
		cancel()
		b.c.pass.done(err)
	}
}

// expire ends del dead, unsent, its attempts unchanged: it has been
// pending longer than maxAge, its endpoint cooling down. Logged and
// observed as any dead delivery, with the reason; the last error says it
// too (and keeps the receiver's, for whoever lists dead deliveries).
func (d *Dispatcher) expire(ctx context.Context, del sessiond.Delivery, maxAge time.Duration, now time.Time) error {
	reason := "pending longer than max_pending_age (" + maxAge.String() + ") while its endpoint cools down"
	lastErr := reason
	if del.LastError != "" {
		lastErr += "; last error: " + del.LastError
	}
	// Logged and observed after the write, as an attempt's outcome: not
	// when the claim was lost and the outcome dropped.
	lost, err := d.write(ctx, del, sessiond.DeliveryDead, del.Attempts, now, lastErr, now)
	if lost {
		return err
	}
	d.observe(del.Endpoint, OutcomeDead)
	attrs := []any{"endpoint", del.Endpoint, "webhook_id", del.ID, "event_id", del.EventID, "attempt", del.Attempts,
		"reason", reason, "pending_for", now.Sub(del.CreatedAt).Round(time.Second).String()}
	if del.LastError != "" {
		attrs = append(attrs, "err", del.LastError)
	}
	d.log.ErrorContext(ctx, "webhook delivery dead", attrs...)
	return err
}

// maxPendingAge is the max pending age of the endpoint named endpoint: a
// webhook's own, DefaultMaxPendingAge for a Sender's (or an unknown) one.
func (d *Dispatcher) maxPendingAge(endpoint string) time.Duration {
	if ep, ok := d.byName[endpoint]; ok {
		return ep.MaxPendingAge
	}
	return DefaultMaxPendingAge
}

// settle updates the breaker of c's endpoint with the outcome of its
// attempt: a success closes it, the receiver's failure opens it (once for
// all the requests that were in flight together), any other failure is not
// the breaker's matter. It logs when the endpoint starts cooling down and
// when it delivers again.
func (d *Dispatcher) settle(ctx context.Context, c *claim, res result, now time.Time) {
	fault := res.err != nil && !res.local && receiverFault(res.err)
	d.mu.Lock()
	ep := d.eps[c.del.Endpoint]
	var msg string
	var level slog.Level
	var attrs []any
	switch {
	case res.err == nil:
		if ep.failures > 0 {
			msg, level = "webhook endpoint delivers again", slog.LevelInfo
			attrs = []any{"endpoint", ep.name, "failures", ep.failures, "down_for", now.Sub(ep.downSince).String(), "deferred", ep.deferred}
		}
		ep.failures, ep.until, ep.deferred = 0, time.Time{}, 0
	case !fault:
	case c.gen == ep.gen:
		ep.failures++
		ep.gen++
		cool := d.ceiling(ep.failures)
		if res.retryAfter > cool {
			cool = min(res.retryAfter, d.maxBackoff)
		}
		ep.until = now.Add(cool)
		if ep.failures == 1 {
			ep.downSince, ep.deferred = now, 0
			msg, level = "webhook endpoint cooling down", slog.LevelWarn
			attrs = []any{"endpoint", ep.name, "cool_for", cool.String(), "err", res.err.Error()}
		}
	case res.retryAfter > 0:
		// In flight when the endpoint started cooling: no new failure, but
		// the receiver's own word on when to come back holds.
		if until := now.Add(min(res.retryAfter, d.maxBackoff)); until.After(ep.until) {
			ep.until = until
		}
	}
	d.mu.Unlock()
	if msg != "" {
		d.log.Log(ctx, level, msg, attrs...)
	}
}

// receiverFault reports whether err, a failed attempt's, is the receiver's
// trouble (unreachable, too slow, overloaded), which cools its endpoint
// down, rather than a refusal of this delivery.
func receiverFault(err error) bool {
	if errors.Is(err, sessiond.ErrStoreUnavailable) {
		// A Sender's own store failed (the ssf package reads its streams
		// there): not the receiver's trouble, though a driver's network
		// error may sit in the chain.
		return false
	}
	if se, ok := errors.AsType[httpStatus](err); ok {
		code, _ := se.HTTPStatus()
		return code >= 500 || code == http.StatusTooManyRequests
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
