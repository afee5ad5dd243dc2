package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
)

// downSink is an event sink whose store can be made unavailable.
type downSink struct {
	events *sessiondtest.Events
	down   atomic.Bool
}

func (s *downSink) Record(ctx context.Context, e sessiond.Event) error {
	if s.down.Load() {
		return fmt.Errorf("event log: %w", sessiond.ErrStoreUnavailable)
	}
	return s.events.Record(ctx, e)
}

// TestJWT_LoginAndRefreshNeedTheirEvent: the jwt strategy stores nothing
// but the events of its logins and refreshes, so when they cannot be
// recorded (the store is down) the login or refresh fails as
// ErrStoreUnavailable (503), as in the other strategies, instead of
// handing out tokens that no event log shows (docs/operations.md: create
// and refresh answer 503 during an outage).
func TestJWT_LoginAndRefreshNeedTheirEvent(t *testing.T) {
	sink := &downSink{events: &sessiondtest.Events{}}
	h := newHarness(t, sessiond.StrategyJWT, func(o *sessiond.Options) { o.Events = sink })
	ctx := context.Background()
	iss := h.create(t, "alice", sessiond.CreateOptions{})

	sink.down.Store(true)
	if got, err := h.m.Create(ctx, "bob", sessiond.CreateOptions{}); !errors.Is(err, sessiond.ErrStoreUnavailable) || got != nil {
		t.Errorf("Create with the event log down = %v, %v; want no tokens and ErrStoreUnavailable", got, err)
	}
	if got, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrStoreUnavailable) || got != nil {
		t.Errorf("Refresh with the event log down = %v, %v; want no tokens and ErrStoreUnavailable", got, err)
	}
	for _, e := range sink.events.All() {
		if e.Subject == "bob" || e.Type == sessiond.EventSessionRefreshed {
			t.Errorf("event %s of %q recorded while the log was down", e.Type, e.Subject)
		}
	}

	sink.down.Store(false)
	if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err != nil {
		t.Fatalf("Refresh once the log is back: %v", err)
	}
	if n := len(sink.events.OfType(sessiond.EventSessionRefreshed)); n != 1 {
		t.Errorf("%d session.refreshed events; want 1", n)
	}
}
