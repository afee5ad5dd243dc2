package metrics_test

import (
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/metrics"
)

// TestMetrics_RevokeReasonsOwnSeries: every reason a sessiond component
// revokes with is counted under its own name, as docs/operations.md and
// docs/webhooks.md list them, never folded into reason="other". "ssf" is
// ssf.ReasonSSF (the Shared Signals receiver); metrics may not import that
// adapter, so its value is written out here as in metrics.go.
func TestMetrics_RevokeReasonsOwnSeries(t *testing.T) {
	reasons := []sessiond.RevokeReason{
		sessiond.ReasonLogout, sessiond.ReasonAdmin, sessiond.ReasonRotated, sessiond.ReasonLimit,
		sessiond.ReasonAnomaly, sessiond.ReasonReuse, sessiond.ReasonIncident, "ssf",
	}
	for _, reason := range reasons {
		t.Run(string(reason), func(t *testing.T) {
			m := newMetrics(t, metrics.Options{})
			m.Observe(ev(sessiond.EventSessionRevoked, map[string]any{"reason": reason}))
			s := series(scrape(t, m.Handler()))
			own := `sessiond_sessions_revoked_total{reason="` + string(reason) + `"}`
			got, ok := s[own]
			if !ok {
				t.Fatalf("%s missing from the scrape", own)
			}
			if got != 1 {
				t.Errorf("%s = %v; want 1", own, got)
			}
			if o := s[`sessiond_sessions_revoked_total{reason="other"}`]; o != 0 {
				t.Errorf(`sessiond_sessions_revoked_total{reason="other"} = %v; want 0`, o)
			}
		})
	}
}

// TestMetrics_SessionDurationHelp: sessiond_session_duration_seconds is fed
// from session.revoked events only (internal/server, fanout.observe), so
// its HELP must not promise expired sessions, as docs/operations.md does
// not.
func TestMetrics_SessionDurationHelp(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	mf, ok := scrape(t, m.Handler())["sessiond_session_duration_seconds"]
	if !ok {
		t.Fatal("sessiond_session_duration_seconds missing from the scrape")
	}
	help := mf.GetHelp()
	if !strings.Contains(help, "revoked") || strings.Contains(help, "expired") {
		t.Errorf("HELP %q: want the lifetime of revoked sessions, without expired ones", help)
	}
}
