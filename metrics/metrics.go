// Package metrics exposes sessiond's Prometheus metrics: sessions, verify
// outcomes and latency, anomalies, webhook deliveries and store errors, plus
// the Go runtime and process collectors, on a private registry served by
// Handler at /metrics.
//
// Every label takes its values from a fixed set; anything else is counted
// as "other" (or "error" for verify outcomes), so no input can grow the
// number of series.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventSink = (*Metrics)(nil)

// EventAnomaly is the type of the event an anomaly rule emits, with
// details "rule" and "action". The root package does not define it yet.
const EventAnomaly sessiond.EventType = "session.anomaly"

// Verify outcomes, the values of sessiond_verify_total{outcome}.
// VerifyRetiredKey is a token refused, as token_invalid on the wire, for
// naming a signing key dropped on purpose (sessiond.ErrKeyRetired): the
// tokens clients still hold after a kill switch with key rotation, kept
// out of token_invalid so the token-guessing alert on it stays quiet.
// VerifyChallenge is a valid token whose check asked the client to retry
// with something the server just sent it (sessiond.ErrChallenge: a DPoP
// nonce): a client doing everything right meets one at every nonce
// rotation, so it is neither a refused token nor a fault.
// VerifyBindingRequired is a valid session refused because the policy
// requires a device binding it lacks (httpsession's
// ErrDeviceBindingRequired, DBSC "required"): every browser without DBSC
// meets it, so it is neither a guessed token nor a fault.
const (
	VerifyOK               = "ok"
	VerifyTokenInvalid     = "token_invalid"
	VerifyRetiredKey       = "retired_key"
	VerifyChallenge        = "challenge"
	VerifyBindingRequired  = "binding_required"
	VerifyTokenExpired     = "token_expired"
	VerifySessionRevoked   = "session_revoked"
	VerifyIdleTimeout      = "idle_timeout"
	VerifyAbsoluteTimeout  = "absolute_timeout"
	VerifyStoreUnavailable = "store_unavailable"
	VerifyError            = "error"
)

// other replaces a label value outside its fixed set.
const other = "other"

// Fixed label values. Each series is created at zero up front, so rate()
// and alerts see it before the first event. The revoke reason "ssf" is
// ssf.ReasonSSF (sessions a Shared Signals receiver ends), written out:
// metrics imports no other adapter.
var (
	strategies     = []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid}
	revokeReasons  = []string{"logout", "admin", "rotated", "limit", "anomaly", "reuse", "incident", "ssf", "retried", other}
	verifyOutcomes = []string{VerifyOK, VerifyTokenInvalid, VerifyRetiredKey, VerifyChallenge, VerifyBindingRequired, VerifyTokenExpired,
		VerifySessionRevoked, VerifyIdleTimeout, VerifyAbsoluteTimeout, VerifyStoreUnavailable, VerifyError}
	anomalyRules   = []string{"ip_change", "user_agent_change", "distinct_ips", "refresh_device_change", other}
	anomalyActions = []string{"log", "alert", "step_up", "revoke", other}
	// dbscOutcomes: registrations, refreshes, and refused proofs by stage.
	dbscOutcomes    = []string{"bound", "refreshed", "refused_registration", "refused_refresh", "refused_request", other}
	webhookOutcomes = []string{"delivered", "retry", "dead", other}
	outboxStates    = []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDead}
	// storeOps are the store methods, in snake_case, plus the two counts
	// this package makes at scrape time.
	storeOps = []string{
		"create", "create_limited", "get", "lookup", "touch", "swap_refresh", "revoke", "revoke_subject",
		"revoke_matching", "list", "revocations", "delete_expired", "ping", "get_meta", "put_meta", "publish_meta",
		"incr", "append_events", "query_events", "delete_events_before", "enqueue_deliveries", "claim_deliveries",
		"finish_delivery", "list_deliveries", "count_deliveries", "delete_deliveries_before",
		"subscribe_revocations", "count_sessions", other,
	}
	// storeErrorKinds: the store did not answer, or it answered with a
	// conflict it gave up on (sessiond.ErrConflict).
	storeErrorKinds = []string{StoreUnavailable, StoreConflict}
)

// The error label values of sessiond_store_errors_total.
const (
	StoreUnavailable = "unavailable"
	StoreConflict    = "conflict"
)

// Histogram buckets, in seconds.
var (
	// Session lifetimes: one minute to the 90-day refresh lifetime of the
	// internal preset.
	sessionDurationBuckets = []float64{
		60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600,
		86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400,
	}
	// Verify latency: a cached signature check takes microseconds, a store
	// round trip milliseconds.
	verifyDurationBuckets = []float64{
		1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
		1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1,
	}
)

// callbackTimeout bounds each store count made during a scrape.
const callbackTimeout = 5 * time.Second

// ErrReported, wrapped in an error that ActiveSessions or OutboxDepth
// returns, leaves the figure out of the scrape without counting the error
// in sessiond_store_errors_total or logging it: the caller reads the
// store in the background for every scrape and reports each failed read
// itself, once (StoreError), not once a scrape.
var ErrReported = errors.New("metrics: reported by the reader")

// Options configure Metrics. Zero fields take the documented defaults.
type Options struct {
	// ActiveSessions returns the number of live sessions per strategy and
	// how old that count is (the time since it was read from the store),
	// reported as sessiond_sessions_active and
	// sessiond_sessions_active_age_seconds. It is called on every scrape
	// with a 5s timeout, so it should be cheap (or cached by the caller,
	// hence the age). The three strategies are always reported, missing
	// ones as 0; other keys are ignored. On an error both are left out of
	// the scrape, and the error is counted as a store error
	// (op="count_sessions") and logged unless it wraps ErrReported. nil
	// leaves them out.
	ActiveSessions func(ctx context.Context) (map[sessiond.Strategy]int, time.Duration, error)
	// OutboxDepth returns the number of webhook deliveries pending and
	// dead, and how old that count is, reported as
	// sessiond_webhook_outbox_depth and
	// sessiond_webhook_outbox_depth_age_seconds, as ActiveSessions is
	// (op="count_deliveries"); other states are ignored. CountOutbox
	// counts an Outbox at every call. nil leaves them out.
	OutboxDepth func(ctx context.Context) (map[sessiond.DeliveryState]int, time.Duration, error)
	// WebhookEndpoints are the configured endpoint names, the values
	// sessiond_webhook_deliveries_total{endpoint} may take; any other name
	// is counted as "other".
	WebhookEndpoints []string
	// UnackedRevocations counts the revocations whose wait for a replica
	// timed out or failed (redisstore.Store.UnackedRevocations): each
	// would be undone by a failover before the replica caught up. nil
	// leaves sessiond_store_revocations_unacked_total out.
	UnackedRevocations func() uint64
	// OutOfMemoryRefusals counts the store calls Redis refused for want of
	// memory (redisstore.Store.OutOfMemoryRefusals): logins, refreshes and
	// other writes failing while verifies go on. nil leaves
	// sessiond_store_out_of_memory_total out.
	OutOfMemoryRefusals func() uint64
	// LogLinesLost counts the server's log lines lost: dropped while the
	// log's reader stalled, or refused by its output (a full disk, a
	// reader gone). nil leaves sessiond_log_lines_lost_total out.
	LogLinesLost func() uint64
	// ConfigDrift returns how many settings this node holds otherwise than
	// another live node of the deployment (the store's shared record of
	// every node's settings), reported as sessiond_config_drift. nil
	// leaves it out.
	ConfigDrift func() int
	// TLSCertificate returns the validity (NotBefore, NotAfter) of the
	// certificate the API listener serves now, reported as
	// sessiond_tls_certificate_not_before_timestamp_seconds and
	// sessiond_tls_certificate_not_after_timestamp_seconds (Unix time):
	// an alert compares the time left with the lifetime. nil, or zero
	// times (no certificate parsed), leave them out.
	TLSCertificate func() (notBefore, notAfter time.Time)
	// Logger receives errors met while serving a scrape; nil discards them.
	Logger *slog.Logger
}

// Metrics holds sessiond's metrics. Its methods are safe for concurrent use
// and cheap enough for the verify path.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler
	log     *slog.Logger

	created, refreshed, rotated, reuse prometheus.Counter
	noClient                           prometheus.Counter
	revoked                            map[string]prometheus.Counter
	dbsc                               map[string]prometheus.Counter
	verify                             map[string]prometheus.Counter
	verifyDuration, sessionDuration    prometheus.Histogram
	anomalies                          map[[2]string]prometheus.Counter
	webhooks                           map[[2]string]prometheus.Counter
	storeErrors                        map[[2]string]prometheus.Counter
	endpoints                          []string // allowed endpoint label values
}

// New registers every metric on a new private registry.
func New(opts Options) (*Metrics, error) {
	m := &Metrics{reg: prometheus.NewRegistry(), log: opts.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m.created = counter("sessiond_sessions_created_total", "Sessions created (logins).")
	m.refreshed = counter("sessiond_sessions_refreshed_total", "Sessions refreshed: new access token issued.")
	m.rotated = counter("sessiond_sessions_rotated_total", "Sessions rotated to a new session ID.")
	m.reuse = counter("sessiond_refresh_reuse_total", "Retired refresh tokens presented again (likely theft); each revokes its session.")
	m.noClient = counter("sessiond_refresh_without_client_total", "Refreshes sent without client information (IP, User-Agent): device-change detection cannot run on them.")

	revoked := vec("sessiond_sessions_revoked_total", "Sessions revoked, by reason.", "reason")
	m.revoked = curry1(revoked, revokeReasons)
	dbsc := vec("sessiond_dbsc_total", "Device-bound sessions (DBSC): sessions bound, bound cookies refreshed, and proofs or bound cookies refused, by stage.", "outcome")
	m.dbsc = curry1(dbsc, dbscOutcomes)
	verify := vec("sessiond_verify_total", "Token verifications, by outcome.", "outcome")
	m.verify = curry1(verify, verifyOutcomes)
	anomalies := vec("sessiond_anomalies_total", "Anomalies detected, by rule and the action taken.", "rule", "action")
	m.anomalies = curry2(anomalies, anomalyRules, anomalyActions)
	m.endpoints = append(uniq(opts.WebhookEndpoints), other)
	webhooks := vec("sessiond_webhook_deliveries_total", "Webhook delivery attempts, by endpoint and outcome (delivered, retry, dead).", "endpoint", "outcome")
	m.webhooks = curry2(webhooks, m.endpoints, webhookOutcomes)
	storeErrors := vec("sessiond_store_errors_total", "Store operations that failed, by operation and error (unavailable, conflict).", "op", "error")
	m.storeErrors = curry2(storeErrors, storeOps, storeErrorKinds)

	m.verifyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sessiond_verify_duration_seconds", Help: "Time to verify a token.", Buckets: verifyDurationBuckets,
	})
	m.sessionDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sessiond_session_duration_seconds", Help: "Lifetime, from creation to revocation, of sessions revoked one at a time.", Buckets: sessionDurationBuckets,
	})

	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.created, m.refreshed, m.rotated, m.reuse, m.noClient, revoked, dbsc, verify, anomalies, webhooks, storeErrors,
		m.verifyDuration, m.sessionDuration,
	}
	if opts.ActiveSessions != nil {
		cs = append(cs, countCollector[sessiond.Strategy]{m: m, fn: opts.ActiveSessions, keys: strategies, op: "count_sessions", msg: "metrics: count active sessions",
			desc: prometheus.NewDesc("sessiond_sessions_active", "Live sessions, by strategy.", []string{"strategy"}, nil),
			age: prometheus.NewDesc("sessiond_sessions_active_age_seconds",
				"Seconds since sessiond_sessions_active was counted in the store (it is reused for 30 s or more).", nil, nil)})
	}
	if opts.OutboxDepth != nil {
		cs = append(cs, countCollector[sessiond.DeliveryState]{m: m, fn: opts.OutboxDepth, keys: outboxStates, op: "count_deliveries", msg: "metrics: count webhook deliveries",
			desc: prometheus.NewDesc("sessiond_webhook_outbox_depth", "Webhook deliveries in the outbox, by state (pending, dead).", []string{"state"}, nil),
			age: prometheus.NewDesc("sessiond_webhook_outbox_depth_age_seconds",
				"Seconds since sessiond_webhook_outbox_depth was counted in the store (it is reused for 30 s or more).", nil, nil)})
	}
	if f := opts.UnackedRevocations; f != nil {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sessiond_store_revocations_unacked_total",
			Help: "Revocations, writes of the documents that revoke (incident watermarks, API keys, signing keys), spent login codes and one-time records (DBSC challenges, Shared Signals SETs) no replica acknowledged within store.revocation_wait (Redis): a failover before the replica caught up would undo them."},
			func() float64 { return float64(f()) }))
	}
	if f := opts.OutOfMemoryRefusals; f != nil {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sessiond_store_out_of_memory_total",
			Help: "Store calls Redis refused because it was out of memory (maxmemory reached under noeviction): logins, refreshes, events and one-time keys fail until memory is freed; verifies, listings and revocations go on."},
			func() float64 { return float64(f()) }))
	}
	if f := opts.LogLinesLost; f != nil {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sessiond_log_lines_lost_total",
			Help: "Log lines (requests and faults) lost because stderr did not take them: dropped while its reader stalled, so that requests never wait for the log, or refused by it (a full disk, a reader gone)."},
			func() float64 { return float64(f()) }))
	}
	if f := opts.ConfigDrift; f != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sessiond_config_drift",
			Help: "Settings that every node of a deployment must share (lifetimes, refresh, jwt, limits, cookies, anomaly rules, webhooks, KEK IDs…) which this node holds otherwise than another live node; 0 when all agree."},
			func() float64 { return float64(f()) }))
	}
	if f := opts.TLSCertificate; f != nil {
		cs = append(cs, tlsCertificateCollector(f))
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      scrapeLog{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
	return m, nil
}

// curry1 returns the vector's child for every value, created at zero.
func curry1(v *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(values))
	for _, a := range values {
		out[a] = v.WithLabelValues(a)
	}
	return out
}

// curry2 returns the vector's child for every pair of values, created at zero.
func curry2(v *prometheus.CounterVec, as, bs []string) map[[2]string]prometheus.Counter {
	out := make(map[[2]string]prometheus.Counter, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			out[[2]string{a, b}] = v.WithLabelValues(a, b)
		}
	}
	return out
}

func uniq(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	var out []string
	for _, s := range ss {
		if s != "" && s != other && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Handler serves the metrics in the Prometheus exposition formats. A
// failing callback drops its own metric from the scrape, not the rest.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Record is Observe as a sessiond.EventSink; it never fails.
func (m *Metrics) Record(_ context.Context, e sessiond.Event) error {
	m.Observe(e)
	return nil
}

// Observe counts an event: session created, refreshed, rotated, revoked
// (by details.reason; a session.bulk_revoked without a subject, the kill
// switch's, adds its details.count, as those sessions have no event each),
// refresh-token reuse, a device bound and a bound cookie refreshed, and
// anomaly (by details.rule and details.action). Other types are ignored,
// session.device_proof_refused among them: the Manager bounds those events,
// and ObserveDeviceProofRefused counts every refusal.
func (m *Metrics) Observe(e sessiond.Event) {
	switch e.Type {
	case sessiond.EventSessionCreated:
		m.created.Inc()
	case sessiond.EventSessionRefreshed:
		m.refreshed.Inc()
	case sessiond.EventSessionRotated:
		m.rotated.Inc()
	case sessiond.EventSessionRevoked:
		m.revoked[oneOf(revokeReasons, detail(e, "reason"), other)].Inc()
	case sessiond.EventBulkRevoked:
		// The kill switch (Manager.RevokeMatching: no subject) has no
		// event per session, so its sessions are counted here; a
		// subject's bulk revocation has one per session already.
		if n := count(e, "count"); n > 0 && e.Subject == "" {
			m.revoked[oneOf(revokeReasons, detail(e, "reason"), other)].Add(float64(n))
		}
	case sessiond.EventRefreshReused:
		m.reuse.Inc()
	case sessiond.EventDeviceBound:
		m.dbsc["bound"].Inc()
	case sessiond.EventDeviceRefreshed:
		m.dbsc["refreshed"].Inc()
	case EventAnomaly:
		m.anomalies[[2]string{oneOf(anomalyRules, detail(e, "rule"), other), oneOf(anomalyActions, detail(e, "action"), other)}].Inc()
	}
}

// detail returns a string detail of e, or "".
func detail(e sessiond.Event, key string) string {
	switch v := e.Details[key].(type) {
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	case sessiond.RevokeReason:
		return string(v)
	}
	return ""
}

// count returns a numeric detail of e (an int in process, a float64 once
// decoded from JSON), or 0.
func count(e sessiond.Event, key string) int64 {
	switch v := e.Details[key].(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

// oneOf returns v if it is in values, else fallback. The sets are small:
// a linear scan beats a map lookup.
func oneOf(values []string, v, fallback string) string {
	if slices.Contains(values, v) {
		return v
	}
	return fallback
}

// ObserveDeviceProofRefused counts one refused DBSC proof or bound cookie
// by its stage (registration, refresh or refresh_token, request; anything
// else counts as "other"): the function to set as
// sessiond.Options.DeviceProofRefusedObserver, which is told of every
// refusal, while their session.device_proof_refused events are bounded.
func (m *Metrics) ObserveDeviceProofRefused(stage string) {
	if stage == "refresh_token" {
		stage = "refresh"
	}
	m.dbsc[oneOf(dbscOutcomes, "refused_"+stage, other)].Inc()
}

// RefreshWithoutClient counts a refresh sent without client information.
func (m *Metrics) RefreshWithoutClient() { m.noClient.Inc() }

// ObserveVerify counts one verification with its outcome (one of the
// Verify… constants; anything else counts as "error") and its latency.
func (m *Metrics) ObserveVerify(outcome string, d time.Duration) {
	m.verify[oneOf(verifyOutcomes, outcome, VerifyError)].Inc()
	m.verifyDuration.Observe(d.Seconds())
}

// VerifyOutcome names the outcome of a verify call from its error. The
// check of Manager.InspectChecked decides what its own refusals count as:
// one that wraps sessiond.ErrInvalidToken (a bound token without its DPoP
// proof or bound cookie) counts as token_invalid, sessiond.ErrChallenge as
// challenge. An error with a method VerifyOutcome() string naming a value
// of the fixed set other than ok counts as that value, unless the store
// was unavailable: how an adapter this package may not import names its
// own refusal (httpsession's ErrDeviceBindingRequired, binding_required).
// Anything not listed here counts as error.
func VerifyOutcome(err error) string {
	switch {
	case err == nil:
		return VerifyOK
	case errors.Is(err, sessiond.ErrStoreUnavailable), errors.Is(err, sessiond.ErrConflict):
		// A conflict in a verification is the store giving up on a lost
		// race (a lock wait, a deadlock): nothing decided, answered 503
		// store_unavailable as an outage is.
		return VerifyStoreUnavailable
	}
	// After store_unavailable, which pages: a fault is never renamed.
	var named outcomeNamer
	if errors.As(err, &named) {
		if o := named.VerifyOutcome(); o != VerifyOK && slices.Contains(verifyOutcomes, o) {
			return o
		}
	}
	switch {
	case errors.Is(err, sessiond.ErrChallenge):
		return VerifyChallenge
	case errors.Is(err, sessiond.ErrRevoked):
		return VerifySessionRevoked
	case errors.Is(err, sessiond.ErrIdleTimeout):
		return VerifyIdleTimeout
	case errors.Is(err, sessiond.ErrAbsoluteTimeout):
		return VerifyAbsoluteTimeout
	case errors.Is(err, sessiond.ErrExpired):
		return VerifyTokenExpired
	case errors.Is(err, sessiond.ErrKeyRetired):
		return VerifyRetiredKey
	case errors.Is(err, sessiond.ErrInvalidToken), errors.Is(err, sessiond.ErrNotFound):
		return VerifyTokenInvalid
	}
	return VerifyError
}

// outcomeNamer is an error that names its own verify outcome.
type outcomeNamer interface {
	error
	VerifyOutcome() string
}

// ObserveSessionEnd records the lifetime of a session that was revoked:
// from its creation to its revocation. The server feeds it from the
// session.revoked events that carry details.lifetime_seconds, those of
// sessions revoked one at a time (Manager.Revoke, and the Manager itself
// on rotation, an anomaly or refresh-token reuse). A session that expires
// has no event when it ends, and the events of a subject's bulk
// revocation, of the session limit's evictions and of the kill switch
// carry no lifetime, so none of those is counted.
func (m *Metrics) ObserveSessionEnd(d time.Duration) {
	m.sessionDuration.Observe(max(d, 0).Seconds())
}

// WebhookObserver returns the function to set as webhook.Options.Observer.
func (m *Metrics) WebhookObserver() func(endpoint, outcome string) {
	return func(endpoint, outcome string) {
		m.webhooks[[2]string{oneOf(m.endpoints, endpoint, other), oneOf(webhookOutcomes, outcome, other)}].Inc()
	}
}

// StoreError counts a store operation that failed because the store is
// unavailable (error="unavailable"). op is the store method in snake_case
// (lookup, swap_refresh, claim_deliveries…); others count as "other". The
// server calls it for every store call that fails so
// (sessiond.Options.StoreErrorObserver and its own calls), and this
// package for the counts it makes at scrape time.
func (m *Metrics) StoreError(op string) {
	m.storeErrors[[2]string{oneOf(storeOps, op, other), StoreUnavailable}].Inc()
}

// StoreConflict counts a store operation that failed with
// sessiond.ErrConflict (error="conflict"): the store gave up on concurrent
// changes (a deadlock, a lost serialization, a set that kept changing) or
// found a duplicate. The call's request failed as if the store were
// unavailable (the API answers 503), so it counts beside those; op as in
// StoreError.
func (m *Metrics) StoreConflict(op string) {
	m.storeErrors[[2]string{oneOf(storeOps, op, other), StoreConflict}].Inc()
}

// funcCollector collects through a function, for values read at scrape
// time.
type funcCollector struct {
	desc    *prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c funcCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// tlsCertificateCollector reports both ends of the served certificate's
// validity from one call, so that they are of the same certificate.
func tlsCertificateCollector(f func() (time.Time, time.Time)) prometheus.Collector {
	before := prometheus.NewDesc("sessiond_tls_certificate_not_before_timestamp_seconds",
		"Start of the validity (NotBefore) of the TLS certificate the API listener serves, in Unix time.", nil, nil)
	after := prometheus.NewDesc("sessiond_tls_certificate_not_after_timestamp_seconds",
		"End of the validity (NotAfter) of the TLS certificate the API listener serves, in Unix time: clients refuse it from then on.", nil, nil)
	return multiCollector{descs: []*prometheus.Desc{before, after}, collect: func(ch chan<- prometheus.Metric) {
		nb, na := f()
		if na.IsZero() {
			return // 0 would read as expired in 1970
		}
		ch <- prometheus.MustNewConstMetric(before, prometheus.GaugeValue, float64(nb.Unix()))
		ch <- prometheus.MustNewConstMetric(after, prometheus.GaugeValue, float64(na.Unix()))
	}}
}

// multiCollector is funcCollector for several metrics read together.
type multiCollector struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c multiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}
func (c multiCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// countCollector reports counts by key and their age from one call, so
// that the age is that of the counts beside it.
type countCollector[K ~string] struct {
	m         *Metrics
	desc, age *prometheus.Desc
	fn        func(context.Context) (map[K]int, time.Duration, error)
	keys      []K    // the label values, each reported (0 when missing)
	op        string // the store error's op label
	msg       string // the log line of an error
}

func (c countCollector[K]) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.age }

func (c countCollector[K]) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), callbackTimeout)
	defer cancel()
	counts, age, err := c.fn(ctx)
	if err != nil {
		if !errors.Is(err, ErrReported) {
			c.m.StoreError(c.op)
			c.m.log.Error(c.msg, "err", err)
		}
		return
	}
	for _, k := range c.keys {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[k]), string(k))
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age.Seconds())
}

// CountOutbox returns an Options.OutboxDepth that counts ob's pending and
// dead deliveries at every call (age 0): one read of the store per state
// and scrape, a scan of its index on the SQL stores. sessiond's server
// shares one count among its scrapes instead.
func CountOutbox(ob sessiond.Outbox) func(context.Context) (map[sessiond.DeliveryState]int, time.Duration, error) {
	return func(ctx context.Context) (map[sessiond.DeliveryState]int, time.Duration, error) {
		m := make(map[sessiond.DeliveryState]int, len(outboxStates))
		for _, st := range outboxStates {
			n, err := ob.CountDeliveries(ctx, st)
			if err != nil {
				return nil, 0, err
			}
			m[st] = n
		}
		return m, 0, nil
	}
}

// inProcessSets are the values of sessiond_inprocess_entries{set}.
var inProcessSets = []string{"verify_cache", "refresh_cache", "revoked_set"}

// InProcess adds sessiond_inprocess_entries{set}, the entries this
// process holds in memory (the verify cache, the refresh grant cache, the
// revoked-session set), and sessiond_concurrent_login_checks_skipped_total,
// read from stats at every scrape; Manager.Stats
// fits as is. It is separate from Options because the Manager is built
// after the metrics it reports to. A second call fails.
func (m *Metrics) InProcess(stats func() sessiond.Stats) error {
	desc := prometheus.NewDesc("sessiond_inprocess_entries",
		"Entries held in this process's memory, by set: verify cache, refresh grant cache, revoked-session set.", []string{"set"}, nil)
	c := funcCollector{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		st := stats()
		for i, n := range []int{st.VerifyCacheEntries, st.RefreshCacheEntries, st.RevokedSetEntries} {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), inProcessSets[i])
		}
	}}
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register: %w", err)
	}
	skipped := prometheus.NewDesc("sessiond_concurrent_login_checks_skipped_total",
		"Logins whose concurrent-login check was skipped (over 100 a second, or a slow store): session.concurrent_login not reported for them.", nil, nil)
	d := funcCollector{desc: skipped, collect: func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(skipped, prometheus.CounterValue, float64(stats().ConcurrentChecksSkipped))
	}}
	if err := m.reg.Register(d); err != nil {
		return fmt.Errorf("metrics: register: %w", err)
	}
	return nil
}
