// Package webhook delivers security events to HTTP endpoints as Standard
// Webhooks (https://www.standardwebhooks.com): signed with HMAC-SHA256,
// kept in the store's durable outbox until delivered, retried with
// exponential backoff and jitter, and marked dead (never dropped) when
// every attempt has failed.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

var _ sessiond.EventSink = (*Dispatcher)(nil)

// Defaults of the zero Options and Endpoint fields.
const (
	DefaultMaxAttempts = 8
	DefaultTimeout     = 10 * time.Second
	DefaultBaseBackoff = 2 * time.Second
	DefaultMaxBackoff  = 10 * time.Minute
	DefaultPollEvery   = time.Second
	DefaultLease       = time.Minute
	// MinLease is the shortest Options.Lease New takes: an attempt may run
	// for half a lease and the write of its outcome for storeTimeout, and
	// both must end before another node may claim the delivery again.
	MinLease = 2 * storeTimeout
)

// MaxAttemptsLimit bounds Endpoint.MaxAttempts: with retries at most
// MaxBackoff apart (10 minutes by default) that is about a week of trying.
// A pending delivery is never purged, so without a bound one for a receiver
// gone for good would stay pending, retried, instead of ending dead where
// operators see it.
const MaxAttemptsLimit = 1000

// DefaultMaxPendingAge bounds how long a delivery may stay pending while
// its endpoint cools down (Endpoint.MaxPendingAge; every Sender endpoint,
// such as a Shared Signals stream, has this one). A week: longer than the
// longest attempt schedule (MaxAttemptsLimit attempts, about 6 days 21
// hours), so it never cuts a configured schedule short; it ends only the
// deliveries that cooling down kept pending, where being put back is no
// attempt.
const DefaultMaxPendingAge = 7 * 24 * time.Hour

// Outcomes reported to Options.Observer, one per attempt.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetry     = "retry"
	OutcomeDead      = "dead"
)

const (
	// batchSize is how many deliveries one claim takes.
	batchSize = 16
	// maxHeld bounds the deliveries Run holds at once: in flight, or
	// waiting for a slot of their endpoint. It is the node's total of
	// concurrent requests.
	maxHeld = 64
	// maxInFlightPerEndpoint bounds one endpoint's concurrent requests, so
	// a receiver that hangs holds at most these slots, never the node's.
	maxInFlightPerEndpoint = 8
	// maxWaitingPerEndpoint bounds the claims one endpoint has waiting for
	// a slot; more go back to the outbox, spread over the time its
	// receiver takes for them, so that one busy endpoint cannot fill the
	// node's maxHeld while others' deliveries are due.
	maxWaitingPerEndpoint = maxInFlightPerEndpoint
	// defaultStallAfter is Dispatcher.stallAfter: an endpoint whose slots
	// are all taken, the oldest by a request running this long, is
	// stalled. The deliveries claimed for it then go back to the outbox,
	// not attempted, instead of waiting for a slot (and holding claims
	// other endpoints' deliveries could use).
	defaultStallAfter = time.Second
	// maxPasses bounds the claims Run makes back to back on a full outbox
	// before it waits for the next tick or a finished request.
	maxPasses = 64
	// storeTimeout bounds the store writes made after the caller's ctx is
	// gone (an event already happened; a stopped pass releases its claims).
	storeTimeout = 10 * time.Second
	// maxResponseBytes of a receiver's answer are read, so the connection
	// can be reused, and the rest discarded.
	maxResponseBytes = 64 << 10
)

// Endpoint is one receiver of webhooks.
type Endpoint struct {
	// Name identifies the endpoint in the outbox, logs and metrics; unique,
	// and stable across restarts (pending deliveries refer to it).
	Name string
	// URL is the absolute http(s) URL events are POSTed to.
	URL string
	// Events the endpoint receives; empty means every event.
	Events []sessiond.EventType
	// Secret is the HMAC key, 24 to 64 bytes (see ParseSecret).
	Secret []byte
	// MaxAttempts before a delivery is declared dead; 0 means 8, and at
	// most MaxAttemptsLimit.
	MaxAttempts int
	// MaxPendingAge bounds how long, from its CreatedAt (when it was
	// recorded, or retried: RetryDelivery resets it), a delivery may
	// stay pending while the endpoint cools down: one claimed past it
	// while the endpoint cools is dead, unsent, instead of being put back
	// (which is no attempt, so a receiver gone for good would otherwise
	// keep its deliveries pending forever). 0 means DefaultMaxPendingAge.
	MaxPendingAge time.Duration
}

// redacted is ep with its Secret shown as REDACTED (empty when none), for
// the ways an Endpoint is printed or marshalled: the HMAC key lets anyone
// forge deliveries, so no log line or JSON document of an Endpoint (or of
// Options, which holds them) carries it. The local type keeps the name
// webhook.Endpoint in %#v.
func (ep Endpoint) redacted() any {
	type Endpoint struct {
		Name          string
		URL           string
		Events        []sessiond.EventType
		Secret        string
		MaxAttempts   int
		MaxPendingAge time.Duration
	}
	out := Endpoint{Name: ep.Name, URL: ep.URL, Events: ep.Events, MaxAttempts: ep.MaxAttempts, MaxPendingAge: ep.MaxPendingAge}
	if len(ep.Secret) > 0 {
		out.Secret = "REDACTED"
	}
	return out
}

// Format prints ep with its Secret as REDACTED, whatever the verb.
func (ep Endpoint) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), ep.redacted())
}

// LogValue implements slog.LogValuer: ep without its Secret.
func (ep Endpoint) LogValue() slog.Value {
	return slog.AnyValue(ep.redacted())
}

// MarshalJSON writes ep with its Secret as "REDACTED", like a
// sessiond.Secret: write the key itself (FormatSecret) where it is meant
// to go.
func (ep Endpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(ep.redacted())
}

func (ep *Endpoint) wants(t sessiond.EventType) bool {
	return len(ep.Events) == 0 || slices.Contains(ep.Events, t)
}

// Options configure a Dispatcher. Zero fields take the documented defaults.
type Options struct {
	// Outbox keeps deliveries durably. Required. When it is a
	// sessiond.OutboxFencer (every store sessiond ships is), an outcome is
	// written only while its claim still holds the delivery: a node that
	// stalls past its lease then leaves the outcome of the node that
	// claimed the delivery after it, and logs the lost claim at warn
	// level, once.
	Outbox sessiond.Outbox
	// Endpoints receive the events they select.
	Endpoints []Endpoint
	// Client sends the requests; nil means one with a 10s timeout. Redirects
	// are never followed, whatever the client's CheckRedirect: a 3xx answer
	// is a failed attempt (update the URL instead).
	Client *http.Client
	// Clock gives the time of due dates and signatures; nil means the
	// system clock.
	Clock sessiond.Clock
	// Logger receives delivery outcomes (dead ones at error level); nil
	// discards them.
	Logger *slog.Logger
	// BaseBackoff is the retry ceiling after the first failed attempt; it
	// doubles with every attempt up to MaxBackoff. 0 means 2s.
	BaseBackoff time.Duration
	// MaxBackoff caps the retry delay. 0 means 10m.
	MaxBackoff time.Duration
	// PollEvery is how often Run looks for due deliveries. 0 means 1s.
	PollEvery time.Duration
	// Lease is how long a claimed delivery is hidden from other nodes while
	// this one tries it. 0 means 1m. An attempt is cut off half a lease
	// after its claim, so that it and the write of its outcome (at most
	// 10s) end while the lease holds: New refuses one below MinLease (20s).
	Lease time.Duration
	// Observer, when set, is called once per attempt with the endpoint's
	// name and "delivered", "retry" or "dead" (for metrics). A delivery put
	// back unsent because its endpoint is cooling down or busy is not an
	// attempt and is not reported; one ended dead unsent, past its
	// endpoint's MaxPendingAge, is reported "dead". An outcome not
	// recorded because its claim was lost (see Outbox) is not reported.
	// It is called from several goroutines at once.
	Observer func(endpoint, outcome string)
	// Senders deliver outbox entries that are not webhooks (the ssf
	// package's SETs), with the same claims, retries and dead state.
	Senders []Sender
}

// Sender delivers the outbox entries of endpoints it owns, in place of a
// webhook POST. It must be safe for concurrent use. Its endpoints are
// isolated like webhooks (see Dispatcher): an error with a method
// HTTPStatus() (int, time.Duration) giving a 5xx or 429, a net.Error
// (timeout, connection refused or reset), context.DeadlineExceeded or an
// unexpected EOF, wrapped or not, is the receiver's trouble and cools its
// endpoint down. An error with a method HoldFor() time.Duration, wrapped or
// not, says the sender holds the delivery without attempting it (the ssf
// package's paused stream): it is put back unsent, its attempts unchanged,
// due again after that delay (at least BaseBackoff, at most MaxBackoff),
// as when its endpoint cools down; so holding it, however long, never
// makes it dead: the endpoint's MaxPendingAge ends only what cooling down
// put back, and a Sender that holds bounds its holds itself (the ssf
// package ends a paused stream's SET, and one no node could sign, after 7
// days, with a permanent error).
type Sender interface {
	// Owns reports whether the endpoint name is one of the sender's.
	Owns(endpoint string) bool
	// Send makes one attempt: nil when delivered; permanent when trying
	// again cannot help (the delivery is then dead at once).
	Send(ctx context.Context, del sessiond.Delivery) (permanent bool, err error)
}

// Dispatcher turns events into outbox deliveries (Record) and sends them
// (Run, DeliverDue). It is safe for concurrent use, and several
// dispatchers, on one node or many, may share an outbox.
//
// Endpoints are isolated from each other on each node: an endpoint has at
// most 8 requests in flight, and one whose receiver fails an attempt
// (timeout, refused or reset connection, 5xx, 429) cools down for the
// retry delay of its consecutive failures, or its Retry-After. While it
// cools, its deliveries are put back unsent, due when it ends, with their
// attempts unchanged, except those pending longer than the endpoint's
// MaxPendingAge, which end dead unsent; then one request at a time probes
// it until one succeeds. An endpoint whose requests hang without failing yet has its
// further deliveries put back unsent after a second, rather than waiting
// for its slots.
type Dispatcher struct {
	outbox sessiond.Outbox
	fence  sessiond.OutboxFencer // outbox, when it fences outcomes by their claim; else nil
	// unrecorded counts the claims of every pass not yet recorded.
	unrecorded atomic.Int64
	// endpoints are pointers so that printing the Dispatcher (%v, %+v, a
	// slog attribute) shows addresses, never an endpoint's Secret.
	endpoints   []*Endpoint
	byName      map[string]*Endpoint
	client      *http.Client
	clock       sessiond.Clock
	log         *slog.Logger
	baseBackoff time.Duration
	maxBackoff  time.Duration
	poll        time.Duration
	lease       time.Duration
	// reqTimeout bounds a request: the client's timeout, within half a
	// lease. maxWait is how long a claimed delivery may wait for a slot
	// and still have reqTimeout before its deadline (half a lease after
	// the claim); 0: deliveries never wait.
	reqTimeout time.Duration
	maxWait    time.Duration
	// stallAfter is defaultStallAfter; tests that hold a receiver's
	// requests longer replace it.
	stallAfter time.Duration
	observe    func(endpoint, outcome string)
	senders    []Sender
	// jitter returns a uniform value in [0, n); tests replace it.
	jitter func(n int64) int64

	mu  sync.Mutex
	eps map[string]*endpointState // by endpoint name; see breaker.go
}

// New checks opts and returns a Dispatcher. It starts nothing: call Run.
func New(opts Options) (*Dispatcher, error) {
	if opts.Outbox == nil {
		return nil, errors.New("webhook: options: Outbox is required")
	}
	d := &Dispatcher{
		outbox:      opts.Outbox,
		byName:      make(map[string]*Endpoint, len(opts.Endpoints)),
		clock:       opts.Clock,
		log:         opts.Logger,
		baseBackoff: orDefault(opts.BaseBackoff, DefaultBaseBackoff),
		maxBackoff:  orDefault(opts.MaxBackoff, DefaultMaxBackoff),
		poll:        orDefault(opts.PollEvery, DefaultPollEvery),
		lease:       orDefault(opts.Lease, DefaultLease),
		stallAfter:  defaultStallAfter,
		observe:     opts.Observer,
		senders:     slices.Clone(opts.Senders),
		jitter:      rand.Int64N,
		eps:         make(map[string]*endpointState),
	}
	d.fence, _ = opts.Outbox.(sessiond.OutboxFencer)
	if d.clock == nil {
		d.clock = sessiond.SystemClock{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.observe == nil {
		d.observe = func(string, string) {}
	}
	var errs []error
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"BaseBackoff", opts.BaseBackoff}, {"MaxBackoff", opts.MaxBackoff}, {"PollEvery", opts.PollEvery}, {"Lease", opts.Lease}} {
		if v.d < 0 {
			errs = append(errs, fmt.Errorf("webhook: options: %s is negative", v.name))
		}
	}
	if opts.Lease > 0 && opts.Lease < MinLease {
		errs = append(errs, fmt.Errorf("webhook: options: Lease %s is below %s: an attempt and the write of its outcome would outlast it, and another node could send the delivery again", opts.Lease, MinLease))
	}
	if d.baseBackoff > d.maxBackoff {
		errs = append(errs, fmt.Errorf("webhook: options: BaseBackoff %s is above MaxBackoff %s", d.baseBackoff, d.maxBackoff))
	}
	d.endpoints = make([]*Endpoint, len(opts.Endpoints))
	for i, ep := range opts.Endpoints {
		ep.Events = slices.Clone(ep.Events)
		ep.Secret = bytes.Clone(ep.Secret)
		if ep.MaxAttempts == 0 {
			ep.MaxAttempts = DefaultMaxAttempts
		}
		if ep.MaxPendingAge == 0 {
			ep.MaxPendingAge = DefaultMaxPendingAge
		}
		if err := checkEndpoint(&ep); err != nil {
			errs = append(errs, fmt.Errorf("webhook: endpoint %d: %w", i, err))
		} else if _, dup := d.byName[ep.Name]; dup {
			errs = append(errs, fmt.Errorf("webhook: endpoint %d: name %q is used twice", i, ep.Name))
		}
		d.endpoints[i] = &ep
		d.byName[ep.Name] = &ep
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Client != nil {
		c := *opts.Client
		d.client = &c
	} else {
		// A receiver's headers are bounded like its body: Go's default
		// allows 10 MB.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxResponseHeaderBytes = maxResponseBytes
		d.client = &http.Client{Timeout: DefaultTimeout, Transport: tr}
	}
	// A redirect would send a signed event somewhere nobody configured.
	d.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.reqTimeout = d.lease / 2
	if t := d.client.Timeout; t > 0 && t < d.reqTimeout {
		d.reqTimeout = t
	}
	d.maxWait = d.lease/2 - d.reqTimeout
	return d, nil
}

func checkEndpoint(ep *Endpoint) error {
	if ep.Name == "" {
		return errors.New("name is required")
	}
	u, err := url.Parse(ep.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s: url is not an absolute http(s) URL", ep.Name)
	}
	if err := checkSecret(ep.Secret); err != nil {
		return fmt.Errorf("%s: %w", ep.Name, err)
	}
	if ep.MaxAttempts < 0 {
		return fmt.Errorf("%s: max attempts %d is negative", ep.Name, ep.MaxAttempts)
	}
	if ep.MaxAttempts > MaxAttemptsLimit {
		return fmt.Errorf("%s: max attempts %d is over %d", ep.Name, ep.MaxAttempts, MaxAttemptsLimit)
	}
	if ep.MaxPendingAge < 0 {
		return fmt.Errorf("%s: max pending age %s is negative", ep.Name, ep.MaxPendingAge)
	}
	for _, t := range ep.Events {
		if t == "" {
			return fmt.Errorf("%s: empty event type", ep.Name)
		}
	}
	return nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// DeliveryID is the webhook-id of the delivery of event eventID to the
// endpoint named endpoint: "msg_" and 32 characters derived from both, so
// recording an event twice never sends it twice and a receiver can use the
// ID to drop duplicates.
func DeliveryID(eventID, endpoint string) string {
	h := sha256.New()
	h.Write([]byte(eventID))
	h.Write([]byte{0})
	h.Write([]byte(endpoint))
	return "msg_" + strings.ToLower(idEncoding.EncodeToString(h.Sum(nil)[:20]))
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// payload is the body of every webhook, in the Standard Webhooks shape.
type payload struct {
	Type      sessiond.EventType `json:"type"`
	Timestamp string             `json:"timestamp"`
	Data      apitype.Event      `json:"data"` // as GET /v1/events shows it: every member present
}

// Record queues e for every endpoint that selects its type: one pending
// delivery each, in the outbox, due at once. An event without an ID or a
// time gets them here. Recording the same event again adds nothing. The
// write is not abandoned when ctx is cancelled (the event has happened
// whether or not its caller is still waiting); it has its own timeout.
func (d *Dispatcher) Record(ctx context.Context, e sessiond.Event) error {
	return d.RecordBatch(ctx, []sessiond.Event{e})
}

// RecordBatch is Record for several events, their deliveries enqueued in
// one outbox write; see sessiond.BatchSink. An event whose deliveries
// cannot be made is left out, as its own Record would fail alone, and its
// error returned with the others'.
func (d *Dispatcher) RecordBatch(ctx context.Context, events []sessiond.Event) error {
	now := d.clock.Now()
	var (
		ds   []sessiond.Delivery
		errs []error
		n    int // events with deliveries
	)
	for _, e := range events {
		if e.Time.IsZero() {
			e.Time = now
		}
		if e.ID == "" {
			e.ID = sessiond.NewEventID(e.Time)
		}
		eds, err := d.Deliveries(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(eds) > 0 {
			n++
		}
		ds = append(ds, eds...)
	}
	if len(ds) == 0 {
		return errors.Join(errs...)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := d.outbox.EnqueueDeliveries(ctx, ds...); err != nil {
		if n == 1 {
			errs = append(errs, fmt.Errorf("webhook: enqueue event %s: %w", ds[0].EventID, err))
		} else {
			errs = append(errs, fmt.Errorf("webhook: enqueue %d events: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Deliveries returns the pending deliveries Record would enqueue for e
// (which must have its ID and time), one per endpoint that selects its
// type, without writing them: a store that writes a change and its event
// in one transaction (sessiond.ChangeEventWriter) enqueues them there.
func (d *Dispatcher) Deliveries(e sessiond.Event) ([]sessiond.Delivery, error) {
	now := d.clock.Now()
	var ds []sessiond.Delivery
	var body []byte
	for i := range d.endpoints {
		ep := d.endpoints[i]
		if !ep.wants(e.Type) {
			continue
		}
		if body == nil {
			var err error
			body, err = json.Marshal(payload{Type: e.Type, Timestamp: e.Time.UTC().Format(time.RFC3339Nano), Data: apitype.EventOf(e)})
			if err != nil {
				return nil, fmt.Errorf("webhook: encode event %s: %w", e.ID, err)
			}
		}
		ds = append(ds, sessiond.Delivery{
			ID: DeliveryID(e.ID, ep.Name), Endpoint: ep.Name, EventID: e.ID, Payload: body,
			State: sessiond.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		})
	}
	return ds, nil
}

// Run delivers due deliveries until ctx ends: it claims them every
// PollEvery, and as soon as a request ends while more are due, so that a
// slow receiver's requests never hold back other endpoints' deliveries;
// it holds at most 64 claimed deliveries at once. Failures are logged,
// never returned: the outbox keeps every delivery until it is delivered or
// dead. When ctx ends, Run puts the deliveries it holds back in the outbox
// (those in flight once their requests are cut short) and returns after
// every request it started has ended.
func (d *Dispatcher) Run(ctx context.Context) {
	p := &pass{log: d.log, wake: make(chan struct{}, 1), unrecorded: &d.unrecorded}
	t := time.NewTicker(d.poll)
	defer t.Stop()
	more := true // the outbox may hold more due deliveries than Run took
	for {
		d.sweep()
		if more {
			more = false
			for range maxPasses {
				want := min(batchSize, maxHeld-int(p.held.Load()))
				if want <= 0 {
					more = true
					break
				}
				n, err := d.claim(ctx, p, want)
				if err != nil {
					if ctx.Err() == nil {
						d.log.ErrorContext(ctx, "webhook delivery pass", "err", err)
					}
					break
				}
				if n < want {
					break
				}
				more = true
			}
		}
		select {
		case <-ctx.Done():
			d.release(d.unqueue(p))
			p.wg.Wait()
			p.workers.Wait()
			return
		case <-t.C:
			more = true
		case <-p.wake:
		}
	}
}

// Unrecorded returns how many claimed deliveries this Dispatcher holds
// whose outcome, or release, is not yet written to the outbox. Should the
// process exit now, each stays hidden until its lease runs out and is then
// tried again, by any node; one whose attempt reached the receiver is sent
// twice (receivers deduplicate on the webhook-id header). It is safe for
// concurrent use.
func (d *Dispatcher) Unrecorded() int { return int(d.unrecorded.Load()) }

// DeliverDue makes one pass: it claims up to a batch of due deliveries,
// sends them concurrently (at most 8 at once to an endpoint, see
// Dispatcher), records each outcome, and returns how many it claimed. A
// delivery whose endpoint is cooling down is put back unsent, its attempts
// unchanged (or ended dead unsent past the endpoint's MaxPendingAge), and
// still counted. An error means the claim or recording an
// outcome failed; an unrecorded delivery is tried again once its lease
// runs out.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	p := &pass{unrecorded: &d.unrecorded}
	n, err := d.claim(ctx, p, batchSize)
	if err != nil {
		return 0, err
	}
	p.wg.Wait()
	p.workers.Wait()
	return n, errors.Join(p.errs...)
}

// claim takes up to limit due deliveries for p and dispatches them.
func (d *Dispatcher) claim(ctx context.Context, p *pass, limit int) (int, error) {
	// The lease runs from before the claim: the store's answer may take a
	// while, and that time comes out of the lease, not the attempt's.
	at := time.Now()
	ds, err := d.outbox.ClaimDeliveries(ctx, d.clock.Now(), limit, d.lease)
	if err != nil {
		return 0, fmt.Errorf("webhook: claim deliveries: %w", err)
	}
	cs := make([]*claim, len(ds))
	for i := range ds {
		p.add()
		cs[i] = &claim{ctx: ctx, del: ds[i], at: at, pass: p}
	}
	d.dispatch(cs)
	return len(ds), nil
}

// attempt sends one delivery, updates its endpoint's breaker and records
// the outcome.
func (d *Dispatcher) attempt(c *claim) error {
	ctx, del := c.ctx, c.del
	n := del.Attempts + 1
	maxAttempts := DefaultMaxAttempts
	// The client's timeout is the usual bound; this deadline, half a lease
	// after the claim, is the hard one: the attempt and its recording end
	// before another node may claim the delivery.
	actx, cancel := context.WithDeadline(ctx, c.at.Add(d.lease/2))
	defer cancel()
	var res result
	if ep, ok := d.byName[del.Endpoint]; ok {
		maxAttempts = ep.MaxAttempts
		res = d.post(actx, ep, del)
	} else if s := d.sender(del.Endpoint); s != nil {
		permanent, err := s.Send(actx, del)
		if h, ok := errors.AsType[held](err); ok && !permanent {
			return d.holdBack(ctx, del, h)
		}
		res.err = err
		if se, ok := errors.AsType[httpStatus](err); ok {
			_, res.retryAfter = se.HTTPStatus()
		}
		if permanent && err != nil {
			res.status = http.StatusGone
		}
	} else {
		// Configured on another node, or removed: count it as a failure so
		// it ends dead and visible rather than pending forever.
		res.err = errors.New("endpoint is not configured on this node")
		res.local = true
	}
	now := d.clock.Now()
	// The attempt was made: record it even if ctx has just ended.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer wcancel()
	if res.err != nil && ctx.Err() != nil {
		// Stopped mid-attempt: not the receiver's fault. Release the claim
		// so the next run retries at once instead of after the lease.
		return d.finish(wctx, del, sessiond.DeliveryPending, del.Attempts, now, "interrupted: dispatcher stopped", now)
	}
	d.settle(ctx, c, res, now)
	attrs := []any{"endpoint", del.Endpoint, "webhook_id", del.ID, "event_id", del.EventID, "attempt", n}
	// The outcome's line and count come after its write: a lost claim's
	// outcome is dropped (its own line says so), and a dead one counted
	// would fire the dead-delivery alert for a delivery another node
	// delivered.
	switch {
	case res.err == nil:
		lost, err := d.write(wctx, del, sessiond.DeliveryDelivered, n, now, "", now)
		if !lost {
			d.observe(del.Endpoint, OutcomeDelivered)
			d.log.DebugContext(ctx, "webhook delivered", attrs...)
		}
		return err
	case n >= maxAttempts || res.status == http.StatusGone:
		// 410 Gone: the receiver asks for no more (Standard Webhooks).
		lost, err := d.write(wctx, del, sessiond.DeliveryDead, n, now, res.err.Error(), now)
		if !lost {
			d.observe(del.Endpoint, OutcomeDead)
			d.log.ErrorContext(ctx, "webhook delivery dead", append(attrs, "max_attempts", maxAttempts, "err", res.err.Error())...)
		}
		return err
	default:
		delay := d.backoff(n)
		if res.retryAfter > delay {
			delay = min(res.retryAfter, d.maxBackoff)
		}
		lost, err := d.write(wctx, del, sessiond.DeliveryPending, n, now.Add(delay), res.err.Error(), now)
		if !lost {
			d.observe(del.Endpoint, OutcomeRetry)
			d.log.WarnContext(ctx, "webhook delivery failed; will retry", append(attrs, "retry_in", delay.String(), "err", res.err.Error())...)
		}
		return err
	}
}

// held is a Sender's error for a delivery it holds without attempting it:
// HoldFor is when to offer it again. (A method, as httpStatus, so that a
// Sender need not import this package.)
type held interface {
	error
	HoldFor() time.Duration
}

// holdBack puts a delivery its Sender holds back in the outbox: pending,
// attempts unchanged, due after the Sender's delay (at least BaseBackoff,
// at most MaxBackoff), with the Sender's reason as last error so an
// operator listing pending deliveries sees why it waits. It was no
// attempt: neither the breaker nor the Observer hears of it. MaxPendingAge
// does not apply: the Sender bounds its own holds (see Sender). Not below
// BaseBackoff: each hold is a store write, and a Sender does not know the
// BaseBackoff it is run with (the ssf package's holds of a minute would
// rewrite a held row more often than a BaseBackoff set above that).
func (d *Dispatcher) holdBack(ctx context.Context, del sessiond.Delivery, h held) error {
	delay := max(h.HoldFor(), d.baseBackoff)
	now := d.clock.Now()
	d.log.DebugContext(ctx, "webhook delivery held by its sender", "endpoint", del.Endpoint, "webhook_id", del.ID,
		"event_id", del.EventID, "retry_in", min(delay, d.maxBackoff).String(), "reason", h.Error())
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	return d.finish(wctx, del, sessiond.DeliveryPending, del.Attempts, now.Add(min(delay, d.maxBackoff)), h.Error(), now)
}

func (d *Dispatcher) sender(endpoint string) Sender {
	for _, s := range d.senders {
		if s.Owns(endpoint) {
			return s
		}
	}
	return nil
}

// finish records the outcome of del's claim (del as claimed). On an
// OutboxFencer it is written only while that claim still holds del: one
// whose lease ran out and that another claim took since is logged, once,
// and dropped, leaving the other claim's outcome; it is no error.
func (d *Dispatcher) finish(ctx context.Context, del sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, now time.Time) error {
	_, err := d.write(ctx, del, state, attempts, next, lastErr, now)
	return err
}

// write is finish that also reports whether the claim was lost (the
// outcome dropped).
func (d *Dispatcher) write(ctx context.Context, del sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, now time.Time) (lost bool, _ error) {
	var err error
	if d.fence != nil {
		err = d.fence.FinishClaimed(ctx, del, state, attempts, next, lastErr, now)
	} else {
		err = d.outbox.FinishDelivery(ctx, del.ID, state, attempts, next, lastErr, now)
	}
	if errors.Is(err, sessiond.ErrConflict) {
		d.log.WarnContext(ctx, "webhook claim lost; outcome not recorded", "endpoint", del.Endpoint, "webhook_id", del.ID,
			"event_id", del.EventID, "outcome", string(state), "lease", d.lease.String())
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("webhook: record %s of %s: %w", state, del.ID, err)
	}
	return false, nil
}

type result struct {
	status     int
	retryAfter time.Duration
	err        error // nil: delivered
	local      bool  // err is this node's, never the receiver's
}

// StatusError is a receiver's answer other than 2xx.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // of a 429 or 503 answer; 0 if none
}

// HTTPStatus returns the status and the Retry-After delay (httpStatus).
func (e *StatusError) HTTPStatus() (int, time.Duration) { return e.Code, e.RetryAfter }

// httpStatus is an error carrying a receiver's HTTP answer. A Sender's
// error that has this method, wrapped or not, is read like a webhook's
// answer: a 5xx or 429 cools the endpoint down, for at least the delay.
// (A method, not a type to return, so that a Sender need not import this
// package: adapters do not import each other.)
type httpStatus interface {
	error
	HTTPStatus() (code int, retryAfter time.Duration)
}

// Error names the status with its standard text, not the receiver's
// reason phrase: that is free text of any length, and the error is stored
// in the outbox on every attempt, logged and shown on the console.
func (e *StatusError) Error() string {
	return fmt.Sprintf("receiver answered %d %s", e.Code, http.StatusText(e.Code))
}

// post makes one signed attempt. Errors never contain the URL, which may
// carry a credential in its query.
func (d *Dispatcher) post(ctx context.Context, ep *Endpoint, del sessiond.Delivery) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(del.Payload))
	if err != nil {
		return result{err: errors.New("cannot build request"), local: true}
	}
	now := d.clock.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sessiond-webhook")
	req.Header.Set(HeaderID, del.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(ep.Secret, del.ID, now, del.Payload))
	resp, err := d.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return result{err: fmt.Errorf("request: %w", err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return result{status: resp.StatusCode}
	}
	se := &StatusError{Code: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return result{status: resp.StatusCode, retryAfter: se.RetryAfter, err: se}
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if neither.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	// Past an int64, Atoi answers ErrRange with the largest int: still
	// "wait that long", capped like the rest, not "no Retry-After".
	if s, err := strconv.Atoi(v); (err == nil || errors.Is(err, strconv.ErrRange)) && s > 0 {
		// Capped before the multiplication, which would overflow a
		// Duration past about 292 years (to a short or negative delay);
		// the caller caps it at MaxBackoff anyway.
		return time.Duration(min(s, 366*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the delay after failed attempt n (1-based): uniform in
// [0, ceiling(n)] ("full jitter"), so many deliveries failing together
// do not come back together.
func (d *Dispatcher) backoff(n int) time.Duration {
	c := d.ceiling(n)
	return time.Duration(d.jitter(int64(c) + 1))
}

// ceiling is BaseBackoff·2^(n-1), capped at MaxBackoff.
func (d *Dispatcher) ceiling(n int) time.Duration {
	c := d.baseBackoff
	for i := 1; i < n && c < d.maxBackoff; i++ {
		if c > d.maxBackoff/2 {
			return d.maxBackoff
		}
		c *= 2
	}
	return min(c, d.maxBackoff)
}
