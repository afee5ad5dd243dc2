package sessiond_test

// Which findings and refusals become events, and how often.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
)

// anomalyEventsOf returns the session.anomaly events of rule.
func anomalyEventsOf(h *harness, rule string) []sessiond.Event {
	var out []sessiond.Event
	for _, e := range h.events.OfType(sessiond.EventAnomaly) {
		if e.Details["rule"] == rule {
			out = append(out, e)
		}
	}
	return out
}

// distinct_ips reports once per crossing already: a second crossing (new
// networks, a thief's) within the Manager's 10-minute dedup of repeats is
// recorded too, as every finding is (docs/anomaly.md).
func TestAnomalyEvents_EveryDistinctIPsCrossing(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyDatabase, withAnomalies(map[anomaly.Rule]anomaly.Action{
		anomaly.RuleDistinctIPs: anomaly.ActionAlert,
	}))
	iss := h.create(t, "quinn", sessiond.CreateOptions{Client: sessiond.Client{IP: "203.0.113.10", UserAgent: chromeWin}})
	verify := func(at time.Duration, ip string) sessiond.Verification {
		t.Helper()
		h.clock.Set(t0.Add(at))
		v, err := h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{IP: ip, UserAgent: chromeWin})
		if err != nil {
			t.Fatalf("Inspect at %s from %s: %v", at, ip, err)
		}
		return v
	}
	verify(0, "198.51.100.7")
	verify(time.Minute, "192.0.2.7")
	if v := verify(2*time.Minute, "100.64.0.7"); len(v.Anomalies) != 1 {
		t.Fatalf("third network: %+v; want the distinct_ips crossing", v.Anomalies)
	}
	// The owner is still on 100.64.0.0/24 after the first network left the
	// window (count back to 2) ...
	verify(10*time.Minute+15*time.Second, "100.64.0.7")
	// ... and a new network makes a second crossing.
	v := verify(10*time.Minute+30*time.Second, "203.0.114.9")
	if len(v.Anomalies) != 1 || v.Anomalies[0].Rule != anomaly.RuleDistinctIPs {
		t.Fatalf("second crossing: %+v; want distinct_ips returned to the caller", v.Anomalies)
	}
	if got := anomalyEventsOf(h, string(anomaly.RuleDistinctIPs)); len(got) != 2 {
		t.Errorf("%d distinct_ips events for two crossings; want 2 (the second crossing was returned but not recorded)", len(got))
	}
}

// The dedup drops repeats of the same change, not a different one: after
// the owner's own network change is recorded, a request from a third,
// unrelated network (the thief) is recorded too.
func TestAnomalyEvents_AnotherNetworkIsRecorded(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyDatabase, withAnomalies(map[anomaly.Rule]anomaly.Action{
		anomaly.RuleIPChange: anomaly.ActionAlert,
	}))
	iss := h.create(t, "rhea", sessiond.CreateOptions{Client: sessiond.Client{IP: "203.0.113.10", UserAgent: chromeWin}})
	if _, err := h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{IP: "198.51.100.7", UserAgent: chromeWin}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	v, err := h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{IP: "192.0.2.66", UserAgent: chromeWin})
	if err != nil || len(v.Anomalies) != 1 {
		t.Fatalf("third network: %+v, %v; want one ip_change", v.Anomalies, err)
	}
	found := false
	for _, e := range anomalyEventsOf(h, string(anomaly.RuleIPChange)) {
		if e.Client.IP == "192.0.2.66" || strings.Contains(e.Details["detail"].(string), "192.0.2.0/24") {
			found = true
		}
	}
	if !found {
		t.Errorf("no session.anomaly event names 192.0.2.0/24: a different network within 10 minutes is deduplicated with the first")
	}
}

// session.unknown_id is limited to one event per sender a minute so that
// no single sender spends the node's 60-a-minute budget: an IPv6 host
// rotating through its own /64 is one sender.
func TestUnknownToken_ThrottleIPv6Network(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	for i := range 200 {
		_, _ = h.m.Verify(ctx, "forged", sessiond.Client{IP: fmt.Sprintf("2001:db8:7:7::%x", i+1)})
	}
	_, _ = h.m.Verify(ctx, "forged", sessiond.Client{IP: "198.51.100.200"})
	var other bool
	for _, e := range h.events.OfType(sessiond.EventUnknownToken) {
		other = other || e.Client.IP == "198.51.100.200"
	}
	if !other {
		t.Errorf("%d session.unknown_id events for one /64, none for the other sender: one IPv6 host used up the node's budget",
			len(h.events.OfType(sessiond.EventUnknownToken)))
	}
}

// A finding's detail names the networks, so each new network is a new
// finding the dedup does not hold back: one session moving through the
// /64s of an IPv6 /48 (65,536 of them, one per request) must not record an
// event per request. Each session records at most 10 findings in 10
// minutes; every finding is still returned and its action applied, and
// another session's are recorded as before.
func TestAnomalyEvents_SessionBudget(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyDatabase, withAnomalies(map[anomaly.Rule]anomaly.Action{
		anomaly.RuleIPChange: anomaly.ActionStepUp,
	}))
	home := sessiond.Client{IP: "2001:db8:0:1::1", UserAgent: chromeWin}
	mallory := h.create(t, "mallory", sessiond.CreateOptions{Client: home})
	rhea := h.create(t, "rhea", sessiond.CreateOptions{Client: home})
	const requests = 200
	for i := range requests {
		v, err := h.m.Inspect(ctx, mallory.AccessToken, sessiond.Client{IP: fmt.Sprintf("2001:db8:1:%x::1", i), UserAgent: chromeWin})
		if err != nil {
			t.Fatalf("Inspect from network %d: %v", i, err)
		}
		if len(v.Anomalies) != 1 || !v.StepUp {
			t.Fatalf("Inspect from network %d = %+v, step up %v; want the ip_change finding and its step_up", i, v.Anomalies, v.StepUp)
		}
	}
	if n := len(h.events.OfType(sessiond.EventAnomaly)); n != 10 {
		t.Errorf("%d session.anomaly events for one session from %d networks in one instant; want 10", n, requests)
	}
	if _, err := h.m.Inspect(ctx, rhea.AccessToken, sessiond.Client{IP: "2001:db8:2::1", UserAgent: chromeWin}); err != nil {
		t.Fatal(err)
	}
	if got := h.events.OfType(sessiond.EventAnomaly); got[len(got)-1].SessionID != rhea.Session.ID {
		t.Errorf("another session's network change was not recorded: the budget is per session")
	}
	// The next window records the session again.
	h.clock.Advance(10 * time.Minute)
	before := len(h.events.OfType(sessiond.EventAnomaly))
	if _, err := h.m.Inspect(ctx, mallory.AccessToken, sessiond.Client{IP: "2001:db8:3::1", UserAgent: chromeWin}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.events.OfType(sessiond.EventAnomaly)) - before; n != 1 {
		t.Errorf("%d events for a new network 10 minutes later; want 1", n)
	}
}

// The session budget is counted in a window of the session's own that
// slides: at most 10 findings recorded in any 10 minutes. Counted in fixed
// windows, global (started by whichever session first recorded) or the
// session's own, a session could record up to twice its budget across an
// edge: 10 just before it and 10 just after.
func TestAnomalyEvents_SessionBudgetWindow(t *testing.T) {
	type burst struct {
		at       time.Duration // since t0
		who      string        // "mallory", or "other" (another session)
		networks int           // new networks, one finding each
		want     int           // findings of this burst recorded
	}
	tests := []struct {
		name   string
		bursts []burst
	}{
		{"AcrossTheGlobalEdge", []burst{
			{0, "other", 1, 1}, // starts what was the global window
			{10*time.Minute - time.Second, "mallory", 10, 10},
			{10*time.Minute + time.Second, "mallory", 10, 0},
			// Mallory's own 10 minutes have passed.
			{20*time.Minute - time.Second, "mallory", 10, 10},
		}},
		{"AcrossTheSessionsOwnEdge", []burst{
			{0, "mallory", 1, 1},
			{10*time.Minute - time.Second, "mallory", 9, 9},
			// Only the finding at 0 has left the last 10 minutes.
			{10 * time.Minute, "mallory", 10, 1},
			{20*time.Minute - time.Second, "mallory", 10, 9},
		}},
		{"AnotherSessionUnaffected", []burst{
			{0, "mallory", 10, 10},
			{time.Minute, "other", 10, 10},
			{2 * time.Minute, "mallory", 5, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, sessiond.StrategyDatabase, withAnomalies(map[anomaly.Rule]anomaly.Action{
				anomaly.RuleIPChange: anomaly.ActionLog,
			}))
			home := sessiond.Client{IP: "2001:db8:0:1::1", UserAgent: chromeWin}
			sessions := map[string]*sessiond.Issued{
				"mallory": h.create(t, "mallory", sessiond.CreateOptions{Client: home}),
				"other":   h.create(t, "other", sessiond.CreateOptions{Client: home}),
			}
			network := 0
			for _, b := range tt.bursts {
				h.clock.Set(t0.Add(b.at))
				before := len(h.events.OfType(sessiond.EventAnomaly))
				for range b.networks {
					network++
					client := sessiond.Client{IP: fmt.Sprintf("2001:db8:1:%x::1", network), UserAgent: chromeWin}
					if _, err := h.m.Inspect(ctx, sessions[b.who].AccessToken, client); err != nil {
						t.Fatalf("Inspect at %s from network %d: %v", b.at, network, err)
					}
				}
				if got := len(h.events.OfType(sessiond.EventAnomaly)) - before; got != b.want {
					t.Errorf("%s at %s, %d new networks: %d session.anomaly events; want %d", b.who, b.at, b.networks, got, b.want)
				}
			}
			// Whatever the bursts, no 10 minutes hold more than 10 of a
			// session's events.
			times := map[sessiond.SessionID][]time.Time{}
			for _, e := range h.events.OfType(sessiond.EventAnomaly) {
				times[e.SessionID] = append(times[e.SessionID], e.Time)
			}
			for id, ts := range times {
				for _, from := range ts {
					n := 0
					for _, at := range ts {
						if !at.Before(from) && at.Sub(from) < 10*time.Minute {
							n++
						}
					}
					if n > 10 {
						t.Errorf("session %s: %d session.anomaly events in the 10 minutes from %s; want at most 10", id, n, from.Sub(t0))
						break
					}
				}
			}
		})
	}
}
