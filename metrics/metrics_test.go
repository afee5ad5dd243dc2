package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
)

// scrape GETs /metrics from h and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %s; want 200", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q; want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return mfs
}

// series flattens families into "name{k="v",…}" → value; histograms give
// _count, _sum and _bucket{le} series.
func series(mfs map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := labelText(m.GetLabel())
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[name+labels] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+labels] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[name+"_count"+labels] = float64(h.GetSampleCount())
				out[name+"_sum"+labels] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[fmt.Sprintf("%s_bucket{le=%q}", name, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func labelText(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func newMetrics(t *testing.T, opts metrics.Options) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(opts)
	if err != nil {
		t.Fatalf("New = %v; want nil", err)
	}
	return m
}

func ev(typ sessiond.EventType, details map[string]any) sessiond.Event {
	return sessiond.Event{ID: sessiond.NewEventID(time.Now()), Time: time.Now(), Type: typ, Subject: "alice", Details: details}
}

// TestMetrics_Scenario drives a scripted day through every method and
// checks each series moved by exactly what the script did.
func TestMetrics_Scenario(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	active := map[sessiond.Strategy]int{sessiond.StrategyHybrid: 7}
	m := newMetrics(t, metrics.Options{
		ActiveSessions: func(context.Context) (map[sessiond.Strategy]int, time.Duration, error) {
			return active, 42 * time.Second, nil
		},
		OutboxDepth:      metrics.CountOutbox(st),
		WebhookEndpoints: []string{"siem", "pager"},
	})

	before := series(scrape(t, m.Handler()))
	for _, name := range []string{
		`sessiond_sessions_created_total`, `sessiond_sessions_revoked_total{reason="incident"}`,
		`sessiond_verify_total{outcome="store_unavailable"}`, `sessiond_anomalies_total{action="revoke",rule="distinct_ips"}`,
		`sessiond_webhook_deliveries_total{endpoint="pager",outcome="dead"}`, `sessiond_store_errors_total{error="unavailable",op="lookup"}`,
		`sessiond_store_errors_total{error="conflict",op="create"}`,
		`sessiond_refresh_reuse_total`, `sessiond_session_duration_seconds_count`, `sessiond_verify_duration_seconds_count`,
		`sessiond_webhook_outbox_depth{state="pending"}`, `sessiond_webhook_outbox_depth{state="dead"}`,
	} {
		if v, ok := before[name]; !ok || v != 0 {
			t.Errorf("before any event, %s = %v (present %v); want 0, present", name, v, ok)
		}
	}

	// The script.
	for range 3 {
		m.Observe(ev(sessiond.EventSessionCreated, map[string]any{"strategy": "hybrid"}))
	}
	for range 2 {
		m.Observe(ev(sessiond.EventSessionRefreshed, nil))
	}
	m.Observe(ev(sessiond.EventSessionRotated, map[string]any{"previous_session_id": "x"}))
	m.Observe(ev(sessiond.EventSessionRevoked, map[string]any{"reason": "logout"}))
	m.Observe(ev(sessiond.EventSessionRevoked, map[string]any{"reason": sessiond.ReasonLogout}))
	m.Observe(ev(sessiond.EventSessionRevoked, map[string]any{"reason": "reuse"}))
	m.Observe(ev(sessiond.EventSessionRevoked, map[string]any{"reason": "coffee spilled"}))
	m.Observe(ev(sessiond.EventSessionRevoked, nil))
	m.Observe(ev(sessiond.EventRefreshReused, nil))
	m.Observe(ev(sessiond.EventBulkRevoked, map[string]any{"reason": "admin", "count": 5}))
	// The kill switch's bulk event has no subject and no event per session.
	m.Observe(sessiond.Event{Type: sessiond.EventBulkRevoked, Details: map[string]any{"reason": "incident", "count": 7}})
	m.Observe(sessiond.Event{Type: sessiond.EventBulkRevoked, Details: map[string]any{"reason": "incident", "count": float64(3)}})
	m.Observe(ev(metrics.EventAnomaly, map[string]any{"rule": "ip_change", "action": "log"}))
	m.Observe(ev(metrics.EventAnomaly, map[string]any{"rule": "ip_change", "action": "log"}))
	m.Observe(ev(metrics.EventAnomaly, map[string]any{"rule": "refresh_device_change", "action": "revoke"}))
	m.Observe(ev(metrics.EventAnomaly, map[string]any{"rule": "moon_phase", "action": "howl"}))
	m.Observe(ev("session.revoked_by_incident", nil)) // not a counted type
	if err := m.Record(ctx, ev(sessiond.EventSessionCreated, nil)); err != nil {
		t.Errorf("Record = %v; want nil", err)
	}

	m.ObserveVerify(metrics.VerifyOK, 5*time.Microsecond)
	m.ObserveVerify(metrics.VerifyOK, 40*time.Microsecond)
	m.ObserveVerify(metrics.VerifyOutcome(nil), 3*time.Millisecond)
	m.ObserveVerify(metrics.VerifyOutcome(fmt.Errorf("verify: %w", sessiond.ErrExpired)), 2*time.Second)
	m.ObserveVerify("banana", 0)

	m.ObserveSessionEnd(30 * time.Minute)
	m.ObserveSessionEnd(100 * 24 * time.Hour)

	obs := m.WebhookObserver()
	obs("siem", "retry")
	obs("siem", "delivered")
	obs("siem", "delivered")
	obs("pager", "dead")
	obs("removed-endpoint", "dead")
	obs("siem", "teleported")

	m.StoreError("lookup")
	m.StoreError("lookup")
	m.StoreError("DROP TABLE sessions")
	m.StoreConflict("create")

	now := time.Now()
	if err := st.EnqueueDeliveries(ctx,
		sessiond.Delivery{ID: "msg_1", Endpoint: "siem", CreatedAt: now, NextAttemptAt: now},
		sessiond.Delivery{ID: "msg_2", Endpoint: "siem", CreatedAt: now, NextAttemptAt: now},
		sessiond.Delivery{ID: "msg_3", Endpoint: "pager", CreatedAt: now, NextAttemptAt: now},
	); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishDelivery(ctx, "msg_3", sessiond.DeliveryDead, 8, now, "500", now); err != nil {
		t.Fatal(err)
	}
	active[sessiond.StrategyDatabase] = 2

	after := series(scrape(t, m.Handler()))
	want := map[string]float64{
		`sessiond_sessions_created_total`:                                         4,
		`sessiond_sessions_refreshed_total`:                                       2,
		`sessiond_sessions_rotated_total`:                                         1,
		`sessiond_sessions_revoked_total{reason="logout"}`:                        2,
		`sessiond_sessions_revoked_total{reason="reuse"}`:                         1,
		`sessiond_sessions_revoked_total{reason="other"}`:                         2,
		`sessiond_sessions_revoked_total{reason="admin"}`:                         0, // bulk events are not double counted
		`sessiond_sessions_revoked_total{reason="incident"}`:                      10,
		`sessiond_refresh_reuse_total`:                                            1,
		`sessiond_anomalies_total{action="log",rule="ip_change"}`:                 2,
		`sessiond_anomalies_total{action="revoke",rule="refresh_device_change"}`:  1,
		`sessiond_anomalies_total{action="other",rule="other"}`:                   1,
		`sessiond_verify_total{outcome="ok"}`:                                     3,
		`sessiond_verify_total{outcome="token_expired"}`:                          1,
		`sessiond_verify_total{outcome="error"}`:                                  1,
		`sessiond_verify_total{outcome="token_invalid"}`:                          0,
		`sessiond_verify_total{outcome="retired_key"}`:                            0,
		`sessiond_verify_total{outcome="challenge"}`:                              0, // present before the first
		`sessiond_verify_total{outcome="binding_required"}`:                       0,
		`sessiond_verify_duration_seconds_count`:                                  5,
		`sessiond_verify_duration_seconds_bucket{le="1e-06"}`:                     1, // the 0
		`sessiond_verify_duration_seconds_bucket{le="5e-06"}`:                     2,
		`sessiond_verify_duration_seconds_bucket{le="5e-05"}`:                     3,
		`sessiond_verify_duration_seconds_bucket{le="0.0025"}`:                    3,
		`sessiond_verify_duration_seconds_bucket{le="0.005"}`:                     4,
		`sessiond_verify_duration_seconds_bucket{le="1"}`:                         4,
		`sessiond_verify_duration_seconds_bucket{le="+Inf"}`:                      5,
		`sessiond_session_duration_seconds_count`:                                 2,
		`sessiond_session_duration_seconds_sum`:                                   1800 + 100*86400,
		`sessiond_session_duration_seconds_bucket{le="60"}`:                       0,
		`sessiond_session_duration_seconds_bucket{le="1800"}`:                     1,
		`sessiond_session_duration_seconds_bucket{le="7.776e+06"}`:                1,
		`sessiond_session_duration_seconds_bucket{le="+Inf"}`:                     2,
		`sessiond_webhook_deliveries_total{endpoint="siem",outcome="retry"}`:      1,
		`sessiond_webhook_deliveries_total{endpoint="siem",outcome="delivered"}`:  2,
		`sessiond_webhook_deliveries_total{endpoint="siem",outcome="other"}`:      1,
		`sessiond_webhook_deliveries_total{endpoint="pager",outcome="dead"}`:      1,
		`sessiond_webhook_deliveries_total{endpoint="other",outcome="dead"}`:      1,
		`sessiond_webhook_deliveries_total{endpoint="pager",outcome="delivered"}`: 0,
		`sessiond_webhook_outbox_depth{state="pending"}`:                          2,
		`sessiond_webhook_outbox_depth{state="dead"}`:                             1,
		`sessiond_sessions_active{strategy="hybrid"}`:                             7,
		`sessiond_sessions_active{strategy="database"}`:                           2,
		`sessiond_sessions_active{strategy="jwt"}`:                                0,
		`sessiond_sessions_active_age_seconds`:                                    42,
		`sessiond_store_errors_total{error="unavailable",op="lookup"}`:            2,
		`sessiond_store_errors_total{error="conflict",op="lookup"}`:               0,
		`sessiond_store_errors_total{error="unavailable",op="other"}`:             1,
		`sessiond_store_errors_total{error="conflict",op="create"}`:               1,
		`sessiond_store_errors_total{error="unavailable",op="create"}`:            0,
	}
	for name, w := range want {
		got, ok := after[name]
		if !ok {
			t.Errorf("%s missing from the scrape", name)
			continue
		}
		if got != w {
			t.Errorf("%s = %v; want %v (before: %v)", name, got, w, before[name])
		}
	}
	// Nothing else of sessiond's moved.
	for name, v := range after {
		if _, checked := want[name]; checked || !strings.HasPrefix(name, "sessiond_") || strings.Contains(name, "_bucket") ||
			strings.Contains(name, "_sum") || strings.HasPrefix(name, "sessiond_sessions_active") {
			continue
		}
		if v != before[name] {
			t.Errorf("%s moved from %v to %v; the script did not touch it", name, before[name], v)
		}
	}
	// And the runtime collectors are there.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "promhttp_metric_handler_errors_total"} {
		if _, ok := after[name]; !ok {
			if _, ok := after[name+`{cause="gathering"}`]; !ok {
				t.Errorf("%s missing from the scrape", name)
			}
		}
	}
}

// TestMetrics_BoundedLabels feeds garbage to every labelled input and
// checks each label keeps to its fixed set.
func TestMetrics_BoundedLabels(t *testing.T) {
	m := newMetrics(t, metrics.Options{WebhookEndpoints: []string{"siem"}})
	obs := m.WebhookObserver()
	for i := range 500 {
		junk := fmt.Sprintf("junk-%d", i)
		m.Observe(ev(sessiond.EventSessionRevoked, map[string]any{"reason": junk}))
		m.Observe(ev(metrics.EventAnomaly, map[string]any{"rule": junk, "action": junk + "x"}))
		m.Observe(ev(metrics.EventAnomaly, map[string]any{"rule": 42, "action": []string{junk}}))
		m.ObserveVerify(junk, time.Millisecond)
		obs(junk, junk)
		m.StoreError(junk)
		m.StoreConflict(junk)
	}
	mfs := scrape(t, m.Handler())
	limits := map[string]map[string][]string{
		"sessiond_sessions_revoked_total": {"reason": {"logout", "admin", "rotated", "limit", "anomaly", "reuse", "incident", "ssf", "retried", "other"}},
		"sessiond_verify_total": {"outcome": {"ok", "token_invalid", "retired_key", "challenge", "binding_required", "token_expired",
			"session_revoked", "idle_timeout", "absolute_timeout", "store_unavailable", "error"}},
		"sessiond_anomalies_total": {
			"rule":   {"ip_change", "user_agent_change", "distinct_ips", "refresh_device_change", "other"},
			"action": {"log", "alert", "step_up", "revoke", "other"},
		},
		"sessiond_webhook_deliveries_total": {"endpoint": {"siem", "other"}, "outcome": {"delivered", "retry", "dead", "other"}},
	}
	for family, labels := range limits {
		mf, ok := mfs[family]
		if !ok {
			t.Errorf("%s missing", family)
			continue
		}
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if allowed := labels[l.GetName()]; !slices.Contains(allowed, l.GetValue()) {
					t.Errorf("%s{%s=%q}: value outside %q", family, l.GetName(), l.GetValue(), allowed)
				}
			}
		}
	}
	if n := len(mfs["sessiond_store_errors_total"].GetMetric()); n > 60 {
		t.Errorf("sessiond_store_errors_total has %d series; want a fixed set of under 60", n)
	}
	for _, metric := range mfs["sessiond_store_errors_total"].GetMetric() {
		for _, l := range metric.GetLabel() {
			if v := l.GetValue(); strings.HasPrefix(v, "junk") {
				t.Errorf("sessiond_store_errors_total{%s=%q}: junk reached a label", l.GetName(), v)
			}
		}
	}
	s := series(mfs)
	for _, name := range []string{`sessiond_store_errors_total{error="unavailable",op="other"}`, `sessiond_store_errors_total{error="conflict",op="other"}`} {
		if got := s[name]; got != 500 {
			t.Errorf(`%s = %v; want 500`, name, got)
		}
	}
}

func TestMetrics_CallbackErrors(t *testing.T) {
	fail := errors.New("database is locked")
	m := newMetrics(t, metrics.Options{
		ActiveSessions: func(context.Context) (map[sessiond.Strategy]int, time.Duration, error) { return nil, 0, fail },
		OutboxDepth: func(context.Context) (map[sessiond.DeliveryState]int, time.Duration, error) {
			return nil, 0, fail
		},
	})
	// The registry collects concurrently, so a scrape may or may not show
	// the error its own callbacks met; the next one does.
	scrape(t, m.Handler())
	s := series(scrape(t, m.Handler()))
	for _, name := range []string{`sessiond_store_errors_total{error="unavailable",op="count_sessions"}`, `sessiond_store_errors_total{error="unavailable",op="count_deliveries"}`} {
		if got := s[name]; got != 1 && got != 2 {
			t.Errorf("%s = %v after two scrapes; want 1 or 2", name, got)
		}
	}
	for _, name := range []string{`sessiond_webhook_outbox_depth{state="pending"}`, `sessiond_webhook_outbox_depth{state="dead"}`, `sessiond_webhook_outbox_depth_age_seconds`,
		`sessiond_sessions_active{strategy="hybrid"}`, `sessiond_sessions_active_age_seconds`} {
		if _, ok := s[name]; ok {
			t.Errorf("%s present; want it left out when its count fails", name)
		}
	}
}

// TestMetrics_ErrReported: a count that its reader reports itself (one
// count shared by every scrape, reported once when it fails) is left out
// of the scrape without being counted or logged again at each scrape.
func TestMetrics_ErrReported(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCount bool
	}{
		{"reported", fmt.Errorf("%w: %w", metrics.ErrReported, sessiond.ErrStoreUnavailable), false},
		{"reported, wrapped again", fmt.Errorf("server: %w", fmt.Errorf("%w: timeout", metrics.ErrReported)), false},
		{"not reported", fmt.Errorf("sqlitestore: count: %w", sessiond.ErrStoreUnavailable), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged strings.Builder
			m := newMetrics(t, metrics.Options{
				ActiveSessions: func(context.Context) (map[sessiond.Strategy]int, time.Duration, error) { return nil, 0, tc.err },
				OutboxDepth:    func(context.Context) (map[sessiond.DeliveryState]int, time.Duration, error) { return nil, 0, tc.err },
				Logger:         slog.New(slog.NewTextHandler(&syncWriter{w: &logged}, nil)),
			})
			var s map[string]float64
			for range 3 {
				s = series(scrape(t, m.Handler()))
			}
			for _, op := range []string{"count_sessions", "count_deliveries"} {
				name := `sessiond_store_errors_total{error="unavailable",op="` + op + `"}`
				if got := s[name]; (got > 0) != tc.wantCount {
					t.Errorf("%s = %v after three scrapes; want counted: %v", name, got, tc.wantCount)
				}
			}
			if got := logged.Len() > 0; got != tc.wantCount {
				t.Errorf("logged %q; want a log line: %v", logged.String(), tc.wantCount)
			}
			for name := range s {
				if strings.HasPrefix(name, "sessiond_sessions_active") || strings.HasPrefix(name, "sessiond_webhook_outbox_depth") {
					t.Errorf("%s present; want it left out when its count fails", name)
				}
			}
		})
	}
}

// syncWriter serializes the writes of collectors that run concurrently.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestMetrics_OutboxDepthAge: the outbox depth and its age come from one
// call; states other than pending and dead are ignored, a missing one is
// 0.
func TestMetrics_OutboxDepthAge(t *testing.T) {
	m := newMetrics(t, metrics.Options{
		OutboxDepth: func(context.Context) (map[sessiond.DeliveryState]int, time.Duration, error) {
			return map[sessiond.DeliveryState]int{sessiond.DeliveryPending: 4, sessiond.DeliveryDelivered: 9}, 42 * time.Second, nil
		},
	})
	s := series(scrape(t, m.Handler()))
	for name, want := range map[string]float64{
		`sessiond_webhook_outbox_depth{state="pending"}`: 4, `sessiond_webhook_outbox_depth{state="dead"}`: 0,
		`sessiond_webhook_outbox_depth_age_seconds`: 42,
	} {
		if got, ok := s[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v); want %v", name, got, ok, want)
		}
	}
	if _, ok := s[`sessiond_webhook_outbox_depth{state="delivered"}`]; ok {
		t.Error(`sessiond_webhook_outbox_depth{state="delivered"} present; want only pending and dead`)
	}
}

func TestMetrics_OptionalCallbacks(t *testing.T) {
	s := series(scrape(t, newMetrics(t, metrics.Options{}).Handler()))
	for name := range maps.Keys(s) {
		if strings.HasPrefix(name, "sessiond_sessions_active") || strings.HasPrefix(name, "sessiond_webhook_outbox_depth") {
			t.Errorf("%s present without its callback", name)
		}
	}
}

func TestMetrics_PrivateRegistry(t *testing.T) {
	// Two instances in one process must not collide (no global registration).
	a := newMetrics(t, metrics.Options{})
	b := newMetrics(t, metrics.Options{})
	a.StoreError("ping")
	if got := series(scrape(t, b.Handler()))[`sessiond_store_errors_total{error="unavailable",op="ping"}`]; got != 0 {
		t.Errorf("b sees a's store error: %v; want 0", got)
	}
}

// namedOutcome is an error naming its own verify outcome.
type namedOutcome string

func (n namedOutcome) Error() string         { return "named " + string(n) }
func (n namedOutcome) VerifyOutcome() string { return string(n) }

func TestVerifyOutcome(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{fmt.Errorf("sessiond: verify: %w", sessiond.ErrInvalidToken), "token_invalid"},
		{sessiond.ErrNotFound, "token_invalid"},
		{fmt.Errorf("jwttoken: kid of a key dropped on purpose: %w", sessiond.ErrKeyRetired), "retired_key"},
		{sessiond.ErrExpired, "token_expired"},
		{sessiond.ErrRevoked, "session_revoked"},
		{sessiond.ErrIdleTimeout, "idle_timeout"},
		{sessiond.ErrAbsoluteTimeout, "absolute_timeout"},
		{fmt.Errorf("memstore: %w", sessiond.ErrStoreUnavailable), "store_unavailable"},
		// A store that gave up on a lost race (PostgreSQL's lock_timeout, a
		// deadlock) decided nothing: the API answers it 503
		// store_unavailable, and so it counts, not as a fault of sessiond.
		{fmt.Errorf("pgstore: touch: transaction lost a race, retry: %w", sessiond.ErrConflict), "store_unavailable"},
		{fmt.Errorf("dpop: use_dpop_nonce: %w", sessiond.ErrChallenge), "challenge"},
		{errors.New("boom"), "error"},
		// DBSC under "required": a session without a device binding is
		// neither a fault nor a guessed token; the other DBSC refusals
		// stay refused tokens.
		{httpsession.ErrDeviceBindingRequired, "binding_required"},
		{fmt.Errorf("check: %w", httpsession.ErrDeviceBindingRequired), "binding_required"},
		{fmt.Errorf("%w: none sent", httpsession.ErrDeviceProof), "token_invalid"},
		{httpsession.ErrKeyProofRequired, "token_invalid"},
		// A self-named outcome counts only if it is a failure of the set,
		// and never hides an unavailable store.
		{namedOutcome("ok"), "error"},
		{namedOutcome("banana"), "error"},
		{namedOutcome("binding_required"), "binding_required"},
		{errors.Join(namedOutcome("binding_required"), sessiond.ErrStoreUnavailable), "store_unavailable"},
	}
	for _, tt := range tests {
		if got := metrics.VerifyOutcome(tt.err); got != tt.want {
			t.Errorf("VerifyOutcome(%v) = %q; want %q", tt.err, got, tt.want)
		}
	}
}

func TestMetrics_DBSC(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	m.Observe(ev(sessiond.EventDeviceBound, nil))
	m.Observe(ev(sessiond.EventDeviceRefreshed, nil))
	m.Observe(ev(sessiond.EventDeviceRefreshed, nil))
	for _, stage := range []string{"registration", "refresh", "refresh_token", "request", "request", "junk", ""} {
		m.ObserveDeviceProofRefused(stage)
	}
	// The events are bounded by the Manager, which tells
	// ObserveDeviceProofRefused of every refusal: counting the events
	// too would count twice.
	m.Observe(ev(sessiond.EventDeviceProofRefused, map[string]any{"stage": "request"}))
	s := series(scrape(t, m.Handler()))
	for name, want := range map[string]float64{
		`sessiond_dbsc_total{outcome="bound"}`:                1,
		`sessiond_dbsc_total{outcome="refreshed"}`:            2,
		`sessiond_dbsc_total{outcome="refused_registration"}`: 1,
		`sessiond_dbsc_total{outcome="refused_refresh"}`:      2,
		`sessiond_dbsc_total{outcome="refused_request"}`:      2,
		`sessiond_dbsc_total{outcome="other"}`:                2,
	} {
		if got := s[name]; got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
}

func TestMetrics_InProcess(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	if _, ok := series(scrape(t, m.Handler()))[`sessiond_inprocess_entries{set="verify_cache"}`]; ok {
		t.Fatal("sessiond_inprocess_entries present before InProcess")
	}
	st := sessiond.Stats{VerifyCacheEntries: 3, RefreshCacheEntries: 5, RevokedSetEntries: 7, ConcurrentChecksSkipped: 11}
	if err := m.InProcess(func() sessiond.Stats { return st }); err != nil {
		t.Fatal(err)
	}
	if err := m.InProcess(func() sessiond.Stats { return st }); err == nil {
		t.Error("second InProcess: no error; want the duplicate refused")
	}
	// Read at scrape time: a change shows in the next scrape.
	for _, want := range []sessiond.Stats{st, {VerifyCacheEntries: 1, ConcurrentChecksSkipped: 12}} {
		st = want
		s := series(scrape(t, m.Handler()))
		if got := s["sessiond_concurrent_login_checks_skipped_total"]; got != float64(want.ConcurrentChecksSkipped) {
			t.Errorf("sessiond_concurrent_login_checks_skipped_total = %v; want %d", got, want.ConcurrentChecksSkipped)
		}
		for set, n := range map[string]int{"verify_cache": want.VerifyCacheEntries, "refresh_cache": want.RefreshCacheEntries, "revoked_set": want.RevokedSetEntries} {
			name := `sessiond_inprocess_entries{set="` + set + `"}`
			if got, ok := s[name]; !ok || got != float64(n) {
				t.Errorf("%s = %v (present %v); want %d", name, got, ok, n)
			}
		}
	}
}

// TestMetrics_StoreCounters: the Redis store's counts (revocations no
// replica acknowledged in time, calls refused for want of memory) and the
// log's lost lines are
// read on every scrape, and each series is absent when the store has none
// to report.
func TestMetrics_StoreCounters(t *testing.T) {
	for _, c := range []struct {
		name string
		opts func(f func() uint64) metrics.Options
	}{
		{"sessiond_store_revocations_unacked_total", func(f func() uint64) metrics.Options { return metrics.Options{UnackedRevocations: f} }},
		{"sessiond_store_out_of_memory_total", func(f func() uint64) metrics.Options { return metrics.Options{OutOfMemoryRefusals: f} }},
		{"sessiond_log_lines_lost_total", func(f func() uint64) metrics.Options { return metrics.Options{LogLinesLost: f} }},
	} {
		var n uint64
		m := newMetrics(t, c.opts(func() uint64 { return n }))
		for _, want := range []uint64{0, 3} {
			n = want
			if got, ok := series(scrape(t, m.Handler()))[c.name]; !ok || got != float64(want) {
				t.Errorf("%s = %v (present %v); want %d", c.name, got, ok, want)
			}
		}
		if _, ok := series(scrape(t, newMetrics(t, metrics.Options{}).Handler()))[c.name]; ok {
			t.Errorf("%s present without its function; want absent", c.name)
		}
	}
}

// TestMetrics_ConfigDrift: the number of settings this node holds
// otherwise than another node is read on every scrape, and the gauge is
// absent without its function.
func TestMetrics_ConfigDrift(t *testing.T) {
	n := 0
	m := newMetrics(t, metrics.Options{ConfigDrift: func() int { return n }})
	for _, want := range []int{0, 2} {
		n = want
		if got, ok := series(scrape(t, m.Handler()))["sessiond_config_drift"]; !ok || got != float64(want) {
			t.Errorf("sessiond_config_drift = %v (present %v); want %d", got, ok, want)
		}
	}
	if _, ok := series(scrape(t, newMetrics(t, metrics.Options{}).Handler()))["sessiond_config_drift"]; ok {
		t.Error("sessiond_config_drift present without its function; want absent")
	}
}

// failingOutbox fails CountDeliveries for one state.
type failingOutbox struct {
	sessiond.Outbox
	fail sessiond.DeliveryState
}

func (f failingOutbox) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	if state == f.fail {
		return 0, fmt.Errorf("count deliveries: %w", sessiond.ErrStoreUnavailable)
	}
	return f.Outbox.CountDeliveries(ctx, state)
}

// TestCountOutbox: both states in one map; when either count fails, the
// error and no map, so that the failed state is left out of the scrape
// rather than reported as 0.
func TestCountOutbox(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	now := time.Now()
	for i, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryPending, sessiond.DeliveryPending, sessiond.DeliveryDead} {
		id := fmt.Sprintf("d%d", i)
		if err := st.EnqueueDeliveries(ctx, sessiond.Delivery{ID: id, Endpoint: "siem", EventID: id, Payload: []byte("{}"), State: sessiond.DeliveryPending,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if state == sessiond.DeliveryDead {
			if err := st.FinishDelivery(ctx, id, sessiond.DeliveryDead, 8, now, "refused", now); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name string
		fail sessiond.DeliveryState
		want map[sessiond.DeliveryState]int
	}{
		{"both counted", "", map[sessiond.DeliveryState]int{sessiond.DeliveryPending: 3, sessiond.DeliveryDead: 1}},
		{"pending fails", sessiond.DeliveryPending, nil},
		{"dead fails", sessiond.DeliveryDead, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, age, err := metrics.CountOutbox(failingOutbox{Outbox: st, fail: tc.fail})(ctx)
			if (err != nil) != (tc.want == nil) || !maps.Equal(got, tc.want) || age != 0 {
				t.Errorf("CountOutbox = %v, age %v, %v; want %v (an error: %v), age 0", got, age, err, tc.want, tc.want == nil)
			}
		})
	}
}
