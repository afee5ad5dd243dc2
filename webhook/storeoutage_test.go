package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// downOutbox is an outbox that claims but cannot record an outcome, as a
// store that went down during the attempt.
type downOutbox struct{ sessiond.Outbox }

func (downOutbox) FinishDelivery(context.Context, string, sessiond.DeliveryState, int, time.Time, string, time.Time) error {
	return sessiond.ErrStoreUnavailable
}

func (downOutbox) FinishClaimed(context.Context, sessiond.Delivery, sessiond.DeliveryState, int, time.Time, string, time.Time) error {
	return sessiond.ErrStoreUnavailable
}

// TestDispatcher_StoreDownOutcomeVisible: an attempt whose outcome the
// store cannot record (an outage, not a lost claim) is still logged and
// counted, and the pass reports the error: only a lost claim's outcome
// is dropped silently (its own line says so).
func TestDispatcher_StoreDownOutcomeVisible(t *testing.T) {
	boom := errors.New("receiver answered 500")
	tests := []struct {
		name    string
		answer  answer
		outcome string
		msg     string
	}{
		{"delivered", answer{}, webhook.OutcomeDelivered, "webhook delivered"},
		{"retry", answer{false, boom}, webhook.OutcomeRetry, "webhook delivery failed; will retry"},
		{"dead", answer{true, boom}, webhook.OutcomeDead, "webhook delivery dead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ob := newOutbox(t)
			if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "msg_1", Endpoint: "ssf:x", EventID: "e1",
				Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			s := &gateSender{entered: make(chan struct{}), release: make(chan struct{}), first: tt.answer}
			close(s.release)
			var logs bytes.Buffer
			var observed atomic.Value
			d := newDispatcher(t, webhook.Options{Outbox: downOutbox{ob}, Clock: sessiondtest.NewClock(t0), Senders: []webhook.Sender{s},
				Logger:   slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Observer: func(_, outcome string) { observed.Store(outcome) }})
			n, err := d.DeliverDue(ctx)
			if n != 1 || !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Fatalf("DeliverDue(store down) = %d, %v; want 1, ErrStoreUnavailable", n, err)
			}
			if got, _ := observed.Load().(string); got != tt.outcome {
				t.Errorf("Observer saw %q; want %q: the attempt was made, its outcome only unrecorded", got, tt.outcome)
			}
			if !strings.Contains(logs.String(), `"msg":"`+tt.msg+`"`) {
				t.Errorf("no %q line for an attempt the store could not record; logs:\n%s", tt.msg, logs.String())
			}
			if strings.Contains(logs.String(), "claim lost") {
				t.Errorf("a store outage logged as a lost claim; logs:\n%s", logs.String())
			}
		})
	}
}
