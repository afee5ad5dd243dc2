package metrics_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/sessiond/sessiond/metrics"
)

// goneWriter is a response whose scraper went away: every write fails, as
// one to a closed connection does.
type goneWriter struct {
	header http.Header
	err    error
}

func (w *goneWriter) Header() http.Header       { return w.header }
func (w *goneWriter) WriteHeader(int)           {}
func (w *goneWriter) Write([]byte) (int, error) { return 0, w.err }

// TestMetrics_ScraperGoneIsNoError: a scraper that goes away mid-scrape
// (its scrape_timeout, a Prometheus restart) fails the writes of the
// scrape, which promhttp reports once per metric family left. That is the
// peer's side, which Prometheus records itself (up, scrape duration): no
// ERROR line pages an operator for it.
func TestMetrics_ScraperGoneIsNoError(t *testing.T) {
	var logs bytes.Buffer
	m := newMetrics(t, metrics.Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	m.Handler().ServeHTTP(&goneWriter{header: http.Header{}, err: syscall.EPIPE}, req)
	if !strings.Contains(logs.String(), syscall.EPIPE.Error()) {
		t.Fatalf("the failed writes were not logged at all; the log:\n%s", logs.String())
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("a scrape whose scraper went away logged %s; want no WARN or ERROR", strings.TrimSpace(line))
		}
	}
}

// TestMetrics_ScrapeWriteFailureIsError: a write that fails for another
// reason than the scraper leaving is not hidden at DEBUG.
func TestMetrics_ScrapeWriteFailureIsError(t *testing.T) {
	var logs bytes.Buffer
	m := newMetrics(t, metrics.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	m.Handler().ServeHTTP(&goneWriter{header: http.Header{}, err: errors.New("encoder broke")}, req)
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "encoder broke") {
		t.Errorf("a failed write that is not the scraper leaving: want an ERROR line naming it; the log:\n%s", logs.String())
	}
}
