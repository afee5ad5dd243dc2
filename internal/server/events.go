package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// Event types the server adds to the Manager's. They are declared in the
// root package, which lists every type (sessiond.EventTypes).
const (
	EventAPIKeyAuthFailed = sessiond.EventAPIKeyAuthFailed
	EventKeysRotated      = sessiond.EventKeysRotated
	EventAPIKeyCreated    = sessiond.EventAPIKeyCreated
	EventAPIKeyRevoked    = sessiond.EventAPIKeyRevoked
	EventIncident         = sessiond.EventIncident
	EventAPIKeyScopes     = sessiond.EventAPIKeyScopes
	// EventStoreReset: a node found a shared document (the API key set,
	// the signing key ring, the DPoP and DBSC secrets; the Manager's
	// incident watermarks) gone from a store that lost its data, and put
	// it back (storereset.go).
	EventStoreReset = sessiond.EventStoreReset
)

// fanout is the server's EventSink: every event goes to the durable event
// log, the metrics and, when an endpoint wants it, the webhook outbox.
// The log is written synchronously: a security event is stored before the
// request that caused it is answered.
type fanout struct {
	log      sessiond.EventLog // nil when the store keeps none
	webhooks *webhook.Dispatcher
	ssf      *ssf.Transmitter // nil when the transmitter is off
	metrics  *metrics.Metrics
	slog     *slog.Logger
	clock    sessiond.Clock // nil: the system clock
	// ip cuts the client addresses of every event (events.ipv4_prefix,
	// events.ipv6_prefix); the Manager's own events are cut already, the
	// server's are cut here.
	ip sessiond.IPPrefixes
	// atomic: log is a store that writes a change's events and outbox
	// deliveries in the change's transaction (sessiond.ChangeEventWriter),
	// and the webhook outbox is that same store.
	atomic bool
	// stopping is the server's background context: it ends when the stop
	// gives up on the requests in flight, and with it any event record
	// under way (recordContext). nil: none ends it.
	stopping context.Context
	// outbox holds the webhook and SET deliveries (webhooks, ssf); the
	// fanout enqueues them itself, with its record's context.
	outbox sessiond.Outbox
}

var (
	_ sessiond.AtomicSink = (*fanout)(nil)
	_ sessiond.BatchSink  = (*fanout)(nil)
)

// now is the server's clock, the one the Manager is given, so that the
// events the server dates itself agree with the Manager's.
func (f *fanout) now() time.Time {
	if f.clock == nil {
		return time.Now()
	}
	return f.clock.Now()
}

// acting adds the API key that caused e to its details.
func acting(ctx context.Context, e sessiond.Event) sessiond.Event {
	if id := httpapi.ActingKeyID(ctx); id != "" {
		e.Details = maps.Clone(e.Details)
		if e.Details == nil {
			e.Details = map[string]any{}
		}
		e.Details["api_key_id"] = id
	}
	return e
}

// alerted: whether e goes to the webhooks. Anomalies whose action is only
// "log" are recorded, not alerted.
func (f *fanout) alerted(e sessiond.Event) bool {
	return f.webhooks != nil && !(e.Type == sessiond.EventAnomaly && e.Details["action"] == string(sessiond.AnomalyLog))
}

// observe feeds e to the metrics.
func (f *fanout) observe(e sessiond.Event) {
	f.metrics.Observe(e)
	if e.Type == sessiond.EventSessionRevoked {
		if secs, ok := e.Details["lifetime_seconds"].(float64); ok {
			f.metrics.ObserveSessionEnd(time.Duration(secs * float64(time.Second)))
		}
	}
}

// Prepare returns the event as the log stores it and its webhook
// deliveries, for the store to write with the change that caused it; see
// sessiond.AtomicSink.
func (f *fanout) Prepare(ctx context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	if !f.atomic {
		return nil, nil, false, nil
	}
	e = f.ip.MaskEvent(acting(ctx, e))
	var ds []sessiond.Delivery
	if f.alerted(e) {
		var err error
		if ds, err = f.webhooks.Deliveries(e); err != nil {
			return nil, nil, false, err
		}
	}
	if f.ssf != nil {
		sets, err := f.ssf.Deliveries(ctx, e)
		if err != nil {
			return nil, nil, false, err
		}
		ds = append(ds, sets...)
	}
	return []sessiond.Event{e}, ds, true, nil
}

// Committed: the store wrote e and its deliveries with its change; only
// the metrics are left.
func (f *fanout) Committed(ctx context.Context, e sessiond.Event) {
	f.observe(acting(ctx, e))
}

// Record writes e to the event log, the metrics and the outboxes. Every
// server event comes here, the Manager's and the SSF receiver's and
// transmitter's included, with the context of the request that made the
// change; see recordContext.
func (f *fanout) Record(ctx context.Context, e sessiond.Event) error {
	if err := f.record(ctx, []sessiond.Event{e}); err != nil {
		return fmt.Errorf("record event %s: %w", e.ID, err)
	}
	return nil
}

// RecordBatch records events as Record does each, with one append to the
// event log and one enqueue to each outbox for them all; see
// sessiond.BatchSink.
func (f *fanout) RecordBatch(ctx context.Context, events []sessiond.Event) error {
	if err := f.record(ctx, events); err != nil {
		return fmt.Errorf("record %d events: %w", len(events), err)
	}
	return nil
}

func (f *fanout) record(ctx context.Context, events []sessiond.Event) error {
	ctx, cancel := f.recordContext(ctx)
	defer cancel()
	es := make([]sessiond.Event, len(events))
	var alerted []sessiond.Event
	for i, e := range events {
		es[i] = f.ip.MaskEvent(acting(ctx, e))
		if f.alerted(es[i]) {
			alerted = append(alerted, es[i])
		}
	}
	var errs []error
	if f.log != nil {
		if err := f.log.AppendEvents(ctx, es...); err != nil {
			f.storeError("append_events", err)
			errs = append(errs, fmt.Errorf("event log: %w", err))
		}
	}
	for _, e := range es {
		f.observe(e)
	}
	// The deliveries are enqueued here, not by the Dispatcher's and the
	// transmitter's Record: those detach from their caller for 10 s of
	// their own, which would outlast this record's end at the server's
	// stop (Manager.Close would wait for a loop's run, and a request's
	// write would run on into the store's close).
	if len(alerted) > 0 {
		if err := f.enqueue(ctx, alerted, func(e sessiond.Event) ([]sessiond.Delivery, error) { return f.webhooks.Deliveries(e) }); err != nil {
			f.storeError("enqueue_deliveries", err)
			errs = append(errs, fmt.Errorf("webhook outbox: %w", err))
		}
	}
	if f.ssf != nil {
		if err := f.enqueue(ctx, es, func(e sessiond.Event) ([]sessiond.Delivery, error) { return f.ssf.Deliveries(ctx, e) }); err != nil {
			errs = append(errs, fmt.Errorf("ssf outbox: %w", err))
		}
	}
	return errors.Join(errs...)
}

// enqueue writes the deliveries of events (each event's from deliveries) to
// the outbox in one call, with ctx. An event whose deliveries cannot be
// made is left out, its error returned with the outbox's.
func (f *fanout) enqueue(ctx context.Context, events []sessiond.Event, deliveries func(sessiond.Event) ([]sessiond.Delivery, error)) error {
	var ds []sessiond.Delivery
	var errs []error
	for _, e := range events {
		if e.Time.IsZero() {
			e.Time = f.now()
		}
		if e.ID == "" {
			e.ID = sessiond.NewEventID(e.Time)
		}
		eds, err := deliveries(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("deliveries of event %s: %w", e.ID, err))
			continue
		}
		ds = append(ds, eds...)
	}
	if len(ds) > 0 {
		if err := f.outbox.EnqueueDeliveries(ctx, ds...); err != nil {
			errs = append(errs, fmt.Errorf("enqueue %d deliveries: %w", len(ds), err))
		}
	}
	return errors.Join(errs...)
}

// storeError counts op, a store call made for a request or a background
// loop, in sessiond_store_errors_total when err says the store is
// unavailable, or gave up on a conflict (error="conflict"); not when it
// answered otherwise (not found, revoked…). It is the Manager's and the
// API's StoreErrorObserver.
func (f *fanout) storeError(op string, err error) {
	switch {
	case errors.Is(err, sessiond.ErrStoreUnavailable):
		f.metrics.StoreError(op)
	case errors.Is(err, sessiond.ErrConflict):
		f.metrics.StoreConflict(op)
	}
}

// countFailed returns the function a shared count (sharedcount.go) tells
// of each count of op that failed: logged, and counted in
// sessiond_store_errors_total once, not at every scrape served without
// it. Every failure is counted, as metrics counted each failed count
// before the counts were shared: a conflict as one, anything else (a
// deadline, an error the store does not classify, such as a missing
// table) as the store not answering.
func (f *fanout) countFailed(op string) func(err error, retry time.Duration) {
	return func(err error, retry time.Duration) {
		f.slog.Error("count for metrics", "op", op, "err", err, "retry_in", retry.String())
		if errors.Is(err, sessiond.ErrConflict) {
			f.metrics.StoreConflict(op)
		} else {
			f.metrics.StoreError(op)
		}
	}
}

// eventRecordTimeout is the least time the record of an event gets,
// whatever is left of its request's deadline (recordContext).
const eventRecordTimeout = 5 * time.Second

// recordContext is the context an event is recorded with: ctx's values,
// not its cancellation. The change the event reports is done: a client
// that hangs up now (a console tab closed after creating a key, a SET
// pusher gone once its sessions are revoked) must not cost its audit
// record, which a store fails at once on a done context. It ends at ctx's
// deadline or eventRecordTimeout from now, whichever is later, or when the
// server's stop cuts the requests in flight (f.stopping), before the
// store closes.
func (f *fanout) recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := time.Now().Add(eventRecordTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.After(d) {
		d = cd
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), d)
	if f.stopping == nil {
		return rctx, cancel
	}
	stop := context.AfterFunc(f.stopping, cancel)
	return rctx, func() {
		stop()
		cancel()
	}
}

// emit records an event the server itself produces (not the Manager's).
// A sink that fails is logged: the action the event reports is done.
func (f *fanout) emit(ctx context.Context, e sessiond.Event) {
	if err := f.emitChecked(ctx, e); err != nil {
		f.slog.ErrorContext(ctx, "record event", "err", err)
	}
}

// emitChecked is emit for a caller that must not go on when the event is
// not stored (a console sign-in): it returns the sink's error.
func (f *fanout) emitChecked(ctx context.Context, e sessiond.Event) error {
	e = f.stamp(ctx, e)
	f.logEvent(ctx, e)
	return f.Record(ctx, e) // which outlives the client (recordContext)
}

// stamp gives e the acting key, the address as the log keeps it, and its
// time and ID when it has none.
func (f *fanout) stamp(ctx context.Context, e sessiond.Event) sessiond.Event {
	// The log line names the key, and keeps no more of the address, as
	// the stored event does.
	e = f.ip.MaskEvent(acting(ctx, e))
	if e.Time.IsZero() {
		e.Time = f.now().UTC().Truncate(time.Microsecond)
	}
	if e.ID == "" {
		e.ID = sessiond.NewEventID(e.Time)
	}
	return e
}

// logEvent writes e's log line.
func (f *fanout) logEvent(ctx context.Context, e sessiond.Event) {
	f.slog.LogAttrs(ctx, e.LogLevel(), "event", slog.String("event_id", e.ID), slog.String("type", string(e.Type)),
		slog.String("client_ip", e.Client.IP), e.DetailsAttr())
}

// buildAnomaly turns the anomaly section of the config into a checker.
func buildAnomaly(cfg config.Config) (sessiond.AnomalyChecker, error) {
	a := cfg.Anomaly
	actions := map[anomaly.Rule]anomaly.Action{}
	for rule, r := range map[anomaly.Rule]config.AnomalyRule{
		anomaly.RuleIPChange:            a.Rules.IPChange,
		anomaly.RuleUserAgentChange:     a.Rules.UserAgentChange,
		anomaly.RuleDistinctIPs:         a.Rules.DistinctIPs,
		anomaly.RuleRefreshDeviceChange: a.Rules.RefreshDeviceChange,
	} {
		// A rule without an action (an SD-ANOMALY-001 error, so only
		// under --insecure-dev) does nothing; anomaly.New refuses any
		// action but log, alert, step_up and revoke, as SD-ANOMALY-001 does.
		if r.Action != "" {
			actions[rule] = anomaly.Action(r.Action)
		}
	}
	d, err := anomaly.New(anomaly.Options{IPv4Prefix: a.IPv4Prefix, IPv6Prefix: a.IPv6Prefix,
		DistinctIPWindow: a.DistinctIPWindow.Std(), DistinctIPThreshold: a.DistinctIPThreshold, Actions: actions})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// buildWebhooks reads each endpoint's secret file and returns the endpoints.
func buildWebhooks(cfg config.Config) ([]webhook.Endpoint, error) {
	out, errs := webhookEndpoints(cfg)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return out, nil
}

// errNoSecretFile: a webhook without secret_file, which the validator
// reports already (SD-WEBHOOK-002), so CheckStart leaves it out.
var errNoSecretFile = errors.New("not set")

// webhookEndpoints is buildWebhooks returning every problem, in the order
// of the list, not only the first: the start check lists them all
// (startcheck.go).
func webhookEndpoints(cfg config.Config) ([]webhook.Endpoint, []error) {
	var (
		out  []webhook.Endpoint
		errs []error
	)
	seen := map[string]bool{}
	for i, w := range cfg.Webhooks {
		var secret []byte
		err := errNoSecretFile
		if w.SecretFile != "" {
			var raw []byte
			if raw, err = config.ReadSecretFile(w.SecretFile); err == nil {
				secret, err = webhook.ParseSecret(strings.TrimSpace(string(raw)))
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d].secret_file: %w", i, err))
		}
		u, err := url.Parse(w.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d].url: %w", i, err))
			continue
		}
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("%d-%s", i, u.Host)
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("webhooks[%d].name: %q is used twice: %w", i, name, sessiond.ErrInvalidArgument))
			continue
		}
		if strings.HasPrefix(name, ssf.EndpointPrefix) {
			// The outbox names a Shared Signals stream's deliveries so: a
			// webhook of that name would take them.
			errs = append(errs, fmt.Errorf("webhooks[%d].name: %q starts with %q, kept for Shared Signals streams: %w", i, name, ssf.EndpointPrefix, sessiond.ErrInvalidArgument))
			continue
		}
		seen[name] = true
		ep := webhook.Endpoint{Name: name, URL: w.URL, Secret: secret, MaxAttempts: w.MaxAttempts, MaxPendingAge: w.MaxPendingAge.Std()}
		for _, t := range w.Events {
			ep.Events = append(ep.Events, sessiond.EventType(t))
		}
		out = append(out, ep)
	}
	return out, errs
}

// authFailedHook records failed API-key authentications as httpapi reports
// them (aggregated per address, bounded fields), with the peer's address
// (never the key).
func authFailedHook(events *fanout) func(context.Context, httpapi.AuthFailure) {
	return func(ctx context.Context, f httpapi.AuthFailure) {
		client, err := sessiond.CleanClient(sessiond.Client{IP: f.ClientIP, UserAgent: f.UserAgent})
		if err != nil {
			client = sessiond.Client{}
		}
		events.emit(ctx, sessiond.Event{Type: EventAPIKeyAuthFailed, Client: client,
			Details: map[string]any{"path": f.Path, "had_credentials": f.HadCredentials, "count": f.Count, "unreported": f.Unreported}})
	}
}

// rateLimits turns the rate_limit section into the API's limits. One
// key's revocation streams are held to a quarter of conns, the API
// listener's connection budget, at most: the bound is there so that one
// key cannot spend that budget, and a descriptor limit of 1024 leaves 768
// connections, under the default of 1000.
func rateLimits(c config.RateLimit, conns int, log *slog.Logger) httpapi.RateLimits {
	opts := func(r config.RateRule) ratelimit.Options {
		return ratelimit.Options{Rate: r.PerSecond(), Burst: r.Burst}
	}
	streams := c.RevocationStreamsPerAPIKey
	if share := max(conns/4, 1); streams > share {
		log.Warn("rate_limit.revocation_streams_per_api_key lowered to a quarter of the connections this node accepts (raise the open-file limit to allow more)",
			"configured", streams, "lowered_to", share, "connections", conns)
		streams = share
	}
	return httpapi.RateLimits{AuthFailures: opts(c.AuthFailures), PerAPIKey: opts(c.PerAPIKey), PerClientIP: opts(c.PerClientIP),
		StreamsPerAPIKey: streams}
}

// apiKeyChangedHook records changes made through /v1/api-keys that
// apiKeyRecorder did not write with the change; the acting key is added by
// fanout.Record. A key nobody received (httpapi.KeyNotReceived) is revoked
// with reason not_received, as apikey create records it; one whose
// revocation failed too (httpapi.KeyRevokeFailed), which may be live, is
// created with revocation failed.
func apiKeyChangedHook(events *fanout) func(context.Context, string, apikey.Key) {
	return func(ctx context.Context, action string, k apikey.Key) {
		events.emit(ctx, apiKeyEvent(action, k))
	}
}

// apiKeyEvent is the event of action on k made through /v1/api-keys.
func apiKeyEvent(action string, k apikey.Key) sessiond.Event {
	types := map[string]sessiond.EventType{apikey.ActionCreated: EventAPIKeyCreated, apikey.ActionRevoked: EventAPIKeyRevoked,
		apikey.ActionScopes: EventAPIKeyScopes, httpapi.KeyNotReceived: EventAPIKeyRevoked, httpapi.KeyRevokeFailed: EventAPIKeyCreated}
	details := map[string]any{"key_id": k.ID, "name": k.Name, "scopes": apikey.Join(k.Scopes), "by": "api"}
	switch action {
	case httpapi.KeyNotReceived:
		details["reason"] = httpapi.KeyNotReceived
	case httpapi.KeyRevokeFailed:
		details["revocation"] = "failed"
	}
	return sessiond.Event{Type: types[action], Details: details}
}

// apiKeyRecorder writes the events of changes made through /v1/api-keys
// in the key set's own write, when the store can (apikey.Recorder): on a
// full disk the change fails with its event rather than being kept
// without it (docs/operations.md, "The disk is full").
type apiKeyRecorder struct{ events *fanout }

var _ apikey.Recorder = apiKeyRecorder{}

// Prepare stamps the event of c as emit would and has the fanout prepare
// its records.
func (r apiKeyRecorder) Prepare(ctx context.Context, c apikey.Change) (sessiond.Event, sessiond.ChangeRecords, bool) {
	return changeRecorder(r).Prepare(ctx, apiKeyEvent(c.Action, c.Key))
}

// Committed logs e's line, as emit does, and feeds the metrics.
func (r apiKeyRecorder) Committed(ctx context.Context, e sessiond.Event) {
	changeRecorder(r).Committed(ctx, e)
}

// changeRecorder has an event written with the change it records, as
// apiKeyRecorder does for the API's key changes: the console's
// (console.EventRecorder).
type changeRecorder struct{ events *fanout }

var _ console.EventRecorder = changeRecorder{}

// Prepare stamps e as emit would and has the fanout prepare its records.
func (r changeRecorder) Prepare(ctx context.Context, e sessiond.Event) (sessiond.Event, sessiond.ChangeRecords, bool) {
	e = r.events.stamp(ctx, e)
	events, ds, ok, err := r.events.Prepare(ctx, e)
	if err != nil {
		r.events.slog.ErrorContext(ctx, "prepare event", "event_id", e.ID, "type", string(e.Type), "err", err)
		return e, sessiond.ChangeRecords{}, false
	}
	return e, sessiond.ChangeRecords{Events: events, Deliveries: ds}, ok
}

// Committed logs e's line, as emit does, and feeds the metrics.
func (r changeRecorder) Committed(ctx context.Context, e sessiond.Event) {
	r.events.logEvent(ctx, e)
	r.events.Committed(ctx, e)
}
