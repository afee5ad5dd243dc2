package metrics_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/metrics"
)

// TestMetrics_TLSCertificate: the served certificate's validity is read
// at each scrape (a renewed certificate shows at the next one), both ends
// in Unix seconds; without TLS neither series is served.
func TestMetrics_TLSCertificate(t *testing.T) {
	const before, after = "sessiond_tls_certificate_not_before_timestamp_seconds", "sessiond_tls_certificate_not_after_timestamp_seconds"
	nb, na := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	m := newMetrics(t, metrics.Options{TLSCertificate: func() (time.Time, time.Time) { return nb, na }})
	for _, step := range []struct{ name string }{{"loaded"}, {"renewed"}} {
		s := series(scrape(t, m.Handler()))
		if s[before] != float64(nb.Unix()) || s[after] != float64(na.Unix()) {
			t.Errorf("%s: %s = %v, %s = %v; want %d, %d", step.name, before, s[before], after, s[after], nb.Unix(), na.Unix())
		}
		nb, na = nb.AddDate(0, 2, 0), na.AddDate(0, 2, 0)
	}
	s := series(scrape(t, newMetrics(t, metrics.Options{}).Handler()))
	for _, name := range []string{before, after} {
		if _, ok := s[name]; ok {
			t.Errorf("%s served without TLS", name)
		}
	}
}
