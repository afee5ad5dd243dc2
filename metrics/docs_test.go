package metrics_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
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

// TestMetrics_DocsNameRealMetrics: every metric the pages name (a
// `sessiond_…` ending as Prometheus names do) is one a scrape serves, with
// every optional collector on, and docs/operations.md's table lists every
// metric served; so a reader's query or alert does not match nothing.
func TestMetrics_DocsNameRealMetrics(t *testing.T) {
	m := newMetrics(t, metrics.Options{
		ActiveSessions:      func(context.Context) (map[sessiond.Strategy]int, time.Duration, error) { return nil, 0, nil },
		OutboxDepth:         func(context.Context) (map[sessiond.DeliveryState]int, time.Duration, error) { return nil, 0, nil },
		UnackedRevocations:  func() uint64 { return 0 },
		OutOfMemoryRefusals: func() uint64 { return 0 },
	})
	if err := m.InProcess(func() sessiond.Stats { return sessiond.Stats{} }); err != nil {
		t.Fatal(err)
	}
	served := map[string]*dto.MetricFamily{}
	for name, mf := range scrape(t, m.Handler()) {
		if strings.HasPrefix(name, "sessiond_") {
			served[name] = mf
		}
	}

	metric := regexp.MustCompile(`\bsessiond_\w+_(?:total|seconds|bucket|sum|count|active|depth|entries|bytes)\b`)
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../README.md")
	var operations string
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(page) == "operations.md" {
			operations = string(b)
		}
		for _, name := range metric.FindAllString(string(b), -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if h, ok := strings.CutSuffix(name, suffix); ok && served[h] != nil {
					base = h // a histogram's series
				}
			}
			if served[base] == nil {
				t.Errorf("%s names %s, which no scrape serves", filepath.Base(page), name)
			}
		}
	}
	rows := map[string]string{} // name → its labels, as the table writes them
	for _, r := range regexp.MustCompile("(?m)^\\| `(sessiond_\\w+)(?:\\{([\\w,]+)\\})?` \\|").FindAllStringSubmatch(operations, -1) {
		rows[r[1]] = r[2]
	}
	for name, mf := range served {
		labels, ok := rows[name]
		if !ok || len(mf.GetMetric()) == 0 {
			t.Errorf("docs/operations.md's metrics table has no row for %s", name)
			continue
		}
		var got []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			got = append(got, l.GetName())
		}
		want := strings.Split(labels, ",")
		if labels == "" {
			want = nil
		}
		slices.Sort(got) // the scrape's order
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("docs/operations.md: %s{%s}; the scrape's labels are {%s}", name, labels, strings.Join(got, ","))
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d sessiond metrics served; want every one", len(served))
	}
}
