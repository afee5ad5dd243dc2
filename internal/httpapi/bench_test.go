package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// BenchmarkVerifyHybrid measures POST /v1/sessions/verify through the
// whole handler (middleware, API key, rate limits that never refuse,
// decoding, Manager.Verify, encoding, the JSON log line), without the
// network, under the request deadline of the default write_timeout (15s)
// as `sessiond serve` runs it.
func BenchmarkVerifyHybrid(b *testing.B) {
	e := newEnv(b, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
		o.WriteTimeout = 15 * time.Second
		never := ratelimit.Options{Rate: 1e9, Burst: 1e9}
		o.RateLimits = httpapi.RateLimits{PerAPIKey: never, PerClientIP: never}
	})
	tr := e.create("bench-user")
	body := `{"access_token":"` + string(tr.AccessToken) + `"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/sessions/verify", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+apiKey)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("verify = %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkHealthz is the fixed cost of the middleware (request ID,
// headers, recovery, log line) around the cheapest route.
func BenchmarkHealthz(b *testing.B) {
	e := newEnv(b, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("healthz = %d", w.Code)
		}
	}
}

// BenchmarkBare is the harness alone: a handler writing a fixed body.
func BenchmarkBare(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
	}
}
