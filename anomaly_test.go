package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
)

const (
	chromeWin  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	chromeWin2 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36"
	firefoxLin = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
)

func withAnomalies(actions map[anomaly.Rule]anomaly.Action) func(*sessiond.Options) {
	return func(o *sessiond.Options) {
		d, err := anomaly.New(anomaly.Options{Actions: actions})
		if err != nil {
			panic(err)
		}
		o.Anomalies = d
	}
}

func TestManager_Anomalies(t *testing.T) {
	ctx := context.Background()
	issued := sessiond.Client{IP: "203.0.113.10", UserAgent: chromeWin}
	t.Run("database verify: step up on a browser change, not on a version bump", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyDatabase, withAnomalies(anomaly.DefaultActions()))
		iss := h.create(t, "nora", sessiond.CreateOptions{Client: issued})
		v, err := h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{IP: "203.0.113.99", UserAgent: chromeWin2})
		if err != nil || len(v.Anomalies) != 0 || v.StepUp {
			t.Fatalf("same /24, version bump: %+v, %v; want no anomaly", v.Anomalies, err)
		}
		v, err = h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{IP: "203.0.113.99", UserAgent: firefoxLin})
		if err != nil || !v.StepUp || len(v.Anomalies) != 1 || v.Anomalies[0].Rule != "user_agent_change" {
			t.Fatalf("browser change = %+v stepUp=%v, %v; want one user_agent_change asking for step-up", v.Anomalies, v.StepUp, err)
		}
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("step-up must leave the session valid: %v", err)
		}
		if n := h.events.Count(sessiond.EventAnomaly); n != 1 {
			t.Errorf("%d anomaly events; want 1", n)
		}
		// The same finding again is not recorded again within the dedup window.
		h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{IP: "203.0.113.99", UserAgent: firefoxLin})
		if n := h.events.Count(sessiond.EventAnomaly); n != 1 {
			t.Errorf("%d anomaly events after a repeat; want 1", n)
		}
	})
	t.Run("hybrid refresh from another device revokes", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, withAnomalies(anomaly.DefaultActions()))
		iss := h.create(t, "omar", sessiond.CreateOptions{Client: issued})
		_, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{IP: "198.51.100.7", UserAgent: firefoxLin})
		if !errors.Is(err, sessiond.ErrRevoked) {
			t.Fatalf("refresh from another device = %v; want ErrRevoked", err)
		}
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("access token after the anomaly revocation = %v; want ErrRevoked", err)
		}
		s, _ := h.store.Get(ctx, iss.Session.ID)
		if s.RevokeReason != sessiond.ReasonAnomaly {
			t.Errorf("reason = %q; want anomaly", s.RevokeReason)
		}
	})
	t.Run("hybrid refresh from the same device passes", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, withAnomalies(anomaly.DefaultActions()))
		iss := h.create(t, "pia", sessiond.CreateOptions{Client: issued})
		next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{IP: "203.0.113.11", UserAgent: chromeWin2})
		if err != nil || len(next.Anomalies) != 0 {
			t.Fatalf("refresh from the same device = %+v, %v", next, err)
		}
	})
}

// TestAnomaly_ReuseFromAnotherDeviceIsReuse: a thief replaying a retired
// refresh token from its own device, under the default rules (whose
// refresh_device_change revokes), ends the session as reuse, with its
// session.refresh_token_reused event (RFC 9700 §4.14.2; checklist items
// 78 and 111), not as an anomaly with no word of the theft.
func TestAnomaly_ReuseFromAnotherDeviceIsReuse(t *testing.T) {
	ctx := context.Background()
	victim := sessiond.Client{IP: "203.0.113.10", UserAgent: chromeWin}
	thief := sessiond.Client{IP: "198.51.100.7", UserAgent: firefoxLin}
	h := newHarness(t, sessiond.StrategyHybrid, withAnomalies(anomaly.DefaultActions()))
	iss := h.create(t, "victor", sessiond.CreateOptions{Client: victim})
	rt1 := iss.RefreshToken
	next, err := h.m.Refresh(ctx, rt1, victim)
	if err != nil {
		t.Fatalf("victim's refresh = %v", err)
	}
	h.clock.Advance(time.Minute) // well past the 5s reuse interval

	_, err = h.m.Refresh(ctx, rt1, thief)
	if err == nil {
		t.Fatal("thief's replay of RT1 succeeded")
	}
	if _, err := h.m.Refresh(ctx, next.RefreshToken, victim); err == nil {
		t.Error("victim's RT2 still works after the replay of RT1")
	}
	if !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Errorf("thief's replay = %v; want ErrRefreshReused", err)
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
		var reasons []any
		for _, e := range h.events.OfType(sessiond.EventSessionRevoked) {
			reasons = append(reasons, e.Details["reason"])
		}
		t.Errorf("replay of a retired refresh token from another device: %d %s events (revoked with reasons %v, thief's error %v); want 1 (checklist 78/111)",
			n, sessiond.EventRefreshReused, reasons, errors.Unwrap(err))
	}
}
