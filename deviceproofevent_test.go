package sessiond_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_RecordDeviceProofRefusedBounded: a client holding a bound
// session's cookies without its key (or its own session, on purpose) can
// be refused on every request; each refusal must not be a WARN line, an
// event and a webhook delivery. One event a minute per session and stage,
// at most 60 a minute in all.
func TestManager_RecordDeviceProofRefusedBounded(t *testing.T) {
	observed := map[string]int{}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.DeviceProofRefusedObserver = func(stage string) { observed[stage]++ }
	})
	ctx := context.Background()
	refused := func(session, stage string) sessiond.Event {
		return sessiond.Event{Type: sessiond.EventDeviceProofRefused, Subject: "alice", SessionID: sessiond.SessionID(session),
			Client: sessiond.Client{IP: "198.51.100.7"}, Details: map[string]any{"stage": stage, "reason": "device proof: none sent"}}
	}
	count := func() int { return len(h.events.OfType(sessiond.EventDeviceProofRefused)) }
	for range 10 {
		h.m.Record(ctx, refused("s1", "request"))
	}
	if n := count(); n != 1 {
		t.Fatalf("%d events for 10 refusals of one session; want 1", n)
	}
	h.m.Record(ctx, refused("s1", "refresh"))
	if n := count(); n != 2 {
		t.Errorf("%d events after another stage of the session; want 2", n)
	}
	for i := range 100 {
		h.m.Record(ctx, refused(fmt.Sprintf("other%d", i), "request"))
	}
	if n := count(); n != 61 {
		t.Errorf("%d events of 102 sessions' refusals in a minute; want 61 (60 request, 1 refresh)", n)
	}
	h.clock.Advance(time.Minute)
	h.m.Record(ctx, refused("s1", "request"))
	if n := count(); n != 62 {
		t.Errorf("%d events a minute later; want 62", n)
	}
	// The observer (the metrics' hook) is told of every refusal.
	if want := map[string]int{"request": 111, "refresh": 1}; !maps.Equal(observed, want) {
		t.Errorf("DeviceProofRefusedObserver told %v; want %v (every refusal)", observed, want)
	}
	// Other events Record hands on are not bounded.
	for range 3 {
		h.m.Record(ctx, sessiond.Event{Type: sessiond.EventDeviceRefreshed, SessionID: "s1"})
	}
	if n := len(h.events.OfType(sessiond.EventDeviceRefreshed)); n != 3 {
		t.Errorf("%d session.device_refreshed events of 3; want 3", n)
	}
}
