package metrics_test

import (
	"context"
	"io/fs"
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

// notMetrics are the `sessiond_…` words the pages use for other things
// than metrics, each with where it is from. Any other such word must be a
// metric a scrape serves: a name with no usual suffix
// (sessiond_config_drift) is checked as any other.
var notMetrics = map[string]string{
	"sessiond_revocations": "pgstore's LISTEN channel (pgstore.md)",
	"sessiond_test":        "sdk/sessiond_test.mjs (browser.md)",
	"sessiond_test_":       "the schema each pgstore test creates (pgstore.md)",
	"sessiond_eu":          "an example store namespace (config-rules.md)",
}

// docMetric matches a `sessiond_…` word that may name a metric: not an
// nginx variable or location ($sessiond_…, @sessiond_…), not part of a
// path or a longer word.
var docMetric = regexp.MustCompile(`(^|[^$@/\w.-])(sessiond_\w+)`)

// docPages are the pages an operator reads metric names in: docs (every
// level), the README, and the shipped Prometheus rules.
func docPages(t *testing.T) []string {
	t.Helper()
	var pages []string
	err := filepath.WalkDir("../docs", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Glob("../deploy/prometheus/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return append(append(pages, "../README.md"), rules...)
}

// TestMetrics_DocsNameRealMetrics: every metric the pages and the shipped
// alert rules name (any `sessiond_…` word but those of notMetrics) is one a
// scrape serves, with every optional collector on, and docs/operations.md's
// table lists every metric served, with its labels; so a reader's query or
// alert does not match nothing, and no metric goes unexplained.
func TestMetrics_DocsNameRealMetrics(t *testing.T) {
	m := newMetrics(t, metrics.Options{
		ActiveSessions:      func(context.Context) (map[sessiond.Strategy]int, time.Duration, error) { return nil, 0, nil },
		OutboxDepth:         func(context.Context) (map[sessiond.DeliveryState]int, time.Duration, error) { return nil, 0, nil },
		UnackedRevocations:  func() uint64 { return 0 },
		OutOfMemoryRefusals: func() uint64 { return 0 },
		LogLinesLost:        func() uint64 { return 0 },
		ConfigDrift:         func() int { return 0 },
		TLSCertificate:      func() (time.Time, time.Time) { return time.Unix(0, 0), time.Unix(1, 0) },
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

	var operations string
	for _, page := range docPages(t) {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(page) == "operations.md" {
			operations = string(b)
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, match := range docMetric.FindAllStringSubmatch(line, -1) {
				name := match[2]
				if _, ok := notMetrics[name]; ok {
					continue
				}
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if h, ok := strings.CutSuffix(name, suffix); ok && served[h] != nil {
						base = h // a histogram's series
					}
				}
				if served[base] == nil && !grepPrefix(line, name, served) {
					t.Errorf("%s names %s, which no scrape serves", page, name)
				}
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
	for name := range notMetrics {
		if served[name] != nil {
			t.Errorf("notMetrics lists %s, a metric a scrape serves", name)
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d sessiond metrics served; want every one", len(served))
	}
}

// grepPrefix reports whether name is written in line as a `^name` pattern
// (a grep of a scrape) that starts some served metric's name.
func grepPrefix(line, name string, served map[string]*dto.MetricFamily) bool {
	if !strings.Contains(line, "^"+name) {
		return false
	}
	for s := range served {
		if strings.HasPrefix(s, name) {
			return true
		}
	}
	return false
}
