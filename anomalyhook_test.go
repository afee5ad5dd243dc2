package sessiond_test

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
)

// TestManager_AnomalyEventDetails: the typed rule, action and stage reach
// event details as plain strings, as consumers read them (metrics labels,
// the server's "log-only anomalies are not alerted" filter, JSON).
func TestManager_AnomalyEventDetails(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyDatabase, withAnomalies(anomaly.DefaultActions()))
	iss := h.create(t, "olga", sessiond.CreateOptions{Client: sessiond.Client{IP: "203.0.113.10", UserAgent: chromeWin}})
	if _, err := h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{IP: "198.51.100.1", UserAgent: chromeWin}); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range h.events.All() {
		if e.Type != sessiond.EventAnomaly {
			continue
		}
		found = true
		want := map[string]string{"rule": "ip_change", "action": "log", "stage": "verify"}
		for k, w := range want {
			if got, ok := e.Details[k].(string); !ok || got != w {
				t.Errorf("Details[%q] = %#v (%T); want the plain string %q", k, e.Details[k], e.Details[k], w)
			}
		}
	}
	if !found {
		t.Fatal("no anomaly event recorded")
	}
}
