package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/opaquetoken"
)

func ExampleMetrics() {
	store := memstore.New()
	m, err := metrics.New(metrics.Options{
		OutboxDepth:      metrics.CountOutbox(store),
		WebhookEndpoints: []string{"siem"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Wiring: m is an EventSink for the Manager (next to the event log and
	// the webhook dispatcher), m.WebhookObserver() is the dispatcher's
	// Observer, and the server times every verify.
	_ = m.Record(context.Background(), sessiond.Event{Type: sessiond.EventSessionRevoked, Details: map[string]any{"reason": "logout"}})
	m.ObserveVerify(metrics.VerifyOutcome(nil), 40*time.Microsecond)
	m.WebhookObserver()("siem", "delivered")

	// Serve m.Handler() at /metrics.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for sc := bufio.NewScanner(rec.Body); sc.Scan(); {
		line := sc.Text()
		for _, want := range []string{`sessiond_sessions_revoked_total{reason="logout"}`, `sessiond_verify_total{outcome="ok"}`,
			`sessiond_webhook_deliveries_total{endpoint="siem",outcome="delivered"}`, `sessiond_webhook_outbox_depth{state="dead"}`} {
			if strings.HasPrefix(line, want) {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// sessiond_sessions_revoked_total{reason="logout"} 1
	// sessiond_verify_total{outcome="ok"} 1
	// sessiond_webhook_deliveries_total{endpoint="siem",outcome="delivered"} 1
	// sessiond_webhook_outbox_depth{state="dead"} 0
}

func ExampleMetrics_InProcess() {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	mgr, err := sessiond.New(context.Background(), sessiond.Options{
		Strategy: sessiond.StrategyDatabase, Store: memstore.New(), Opaque: opaquetoken.Codec{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Close()
	// The Manager is built after the metrics it reports to, so its
	// in-process sizes are registered once it exists.
	if err := m.InProcess(mgr.Stats); err != nil {
		fmt.Println(err)
		return
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for sc := bufio.NewScanner(rec.Body); sc.Scan(); {
		if line := sc.Text(); strings.HasPrefix(line, "sessiond_inprocess_entries{") {
			fmt.Println(line)
		}
	}
	// Output:
	// sessiond_inprocess_entries{set="refresh_cache"} 0
	// sessiond_inprocess_entries{set="revoked_set"} 0
	// sessiond_inprocess_entries{set="verify_cache"} 0
}
