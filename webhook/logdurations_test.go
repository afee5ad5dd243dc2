package webhook_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// TestDispatcher_LogDurations: the delivery log lines give durations as
// the server's other lines do (grace, period: "20s"), not as slog's JSON
// default for a time.Duration, a bare count of nanoseconds.
func TestDispatcher_LogDurations(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(t0)
	// 500 once (retry, cooling down), then 204 (delivers again).
	rcv := newReceiver(t, clock, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	ob := newOutbox(t)
	var logs testenv.SyncBuffer
	s := &holdingSender{}
	s.hold.Store(true)
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Senders: []webhook.Sender{s},
		Logger:    slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Endpoints: []webhook.Endpoint{endpoint("siem", rcv.srv.URL)}})
	d.SetJitter(func(n int64) int64 { return n - 1 }) // the full backoff: 2s
	if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "msg_1", Endpoint: "ssf:x", EventID: "e1",
		Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	record(t, d, event(sessiond.EventSessionRevoked))
	deliverDue(t, d) // 500: retry in 2s, cooling for 2s; the Sender holds msg_1 a minute
	clock.Advance(2 * time.Second)
	deliverDue(t, d) // 204: delivers again after 2s

	lines := map[string]map[string]any{}
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines[m["msg"].(string)] = m
	}
	for _, tc := range []struct {
		msg, key string
		want     string
	}{
		{"webhook delivery failed; will retry", "retry_in", "2s"},
		{"webhook endpoint cooling down", "cool_for", "2s"},
		{"webhook endpoint delivers again", "down_for", "2s"},
		{"webhook delivery held by its sender", "retry_in", "1m0s"},
	} {
		t.Run(tc.key+" of "+tc.msg, func(t *testing.T) {
			m, ok := lines[tc.msg]
			if !ok {
				t.Fatalf("no %q line in the log:\n%s", tc.msg, logs.String())
			}
			if got := m[tc.key]; got != tc.want {
				t.Errorf("%s = %#v; want %q", tc.key, got, tc.want)
			}
		})
	}
}
