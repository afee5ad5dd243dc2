package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestAuthFailed_Bounded: unauthenticated requests cannot make the server
// write without limit (issue 14, defect 2). Many failures from one address
// make one report per interval with their count; many addresses at most
// 100 reports per interval; what a report holds is bounded and printable.
func TestAuthFailed_Bounded(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reports []httpapi.AuthFailure
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.AuthFailed = func(_ context.Context, f httpapi.AuthFailure) {
			mu.Lock()
			reports = append(reports, f)
			mu.Unlock()
		}
	})
	// No API key, a 30 KB path and a User-Agent with a terminal escape.
	hostile := func(ip string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/v1/subjects/"+strings.Repeat("%1b%5b2J", 4000)+"/sessions", nil)
		r.RemoteAddr = ip + ":40000"
		r.Header.Set("User-Agent", "\x1b]0;pwned\x07"+strings.Repeat("\u202e", 200))
		r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 40))
		return r
	}
	send := func(ip string) {
		w := httptest.NewRecorder()
		var r *http.Request
		if strings.HasPrefix(ip, "198.") {
			r = hostile(ip)
		} else {
			r = httptest.NewRequest(http.MethodGet, "/v1/events", nil)
			r.RemoteAddr = ip + ":40000"
		}
		e.handler.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized && w.Code != http.StatusTooManyRequests {
			t.Fatalf("status = %d; want 401 or 429", w.Code)
		}
	}
	total := func() (n int) {
		for _, r := range reports {
			n += r.Count + r.Unreported
		}
		return n
	}

	for range 300 {
		send("198.51.100.7")
	}
	if len(reports) != 1 || reports[0].Count != 1 {
		t.Fatalf("300 failures from one address: %d reports (%+v); want 1", len(reports), reports)
	}
	r := reports[0]
	for name, v := range map[string]string{"path": r.Path, "user agent": r.UserAgent} {
		if len(v) > httpapi.MaxAuthFailureText || !utf8.ValidString(v) || strings.ContainsAny(v, "\x1b\x07\u202e") {
			t.Errorf("%s = %d bytes %q; want at most %d printable", name, len(v), v, httpapi.MaxAuthFailureText)
		}
	}
	if r.ClientIP != "198.51.100.7" || !r.HadCredentials || !strings.HasPrefix(r.Path, "/v1/subjects/%1b") {
		t.Errorf("report = %+v", r)
	}

	// The next interval reports the 299 held back.
	e.clock.Advance(httpapi.DefaultAuthFailureInterval)
	send("198.51.100.7")
	if len(reports) != 2 || reports[1].Count != 300 {
		t.Fatalf("after an interval: %+v; want a second report counting 300", reports)
	}

	// 1500 addresses: at most 100 reports an interval, and nothing is
	// lost from the counts once reported.
	e.clock.Advance(httpapi.DefaultAuthFailureInterval)
	before := len(reports)
	for i := range 1500 {
		send(fmt.Sprintf("2001:db8::%x", i))
	}
	if got := len(reports) - before; got != 100 {
		t.Errorf("1500 addresses made %d reports in one interval; want 100", got)
	}
	for range 2 {
		e.clock.Advance(httpapi.DefaultAuthFailureInterval)
		for i := range 1500 {
			send(fmt.Sprintf("2001:db8::%x", i))
		}
	}
	if len(reports) > before+300 {
		t.Errorf("%d reports in 3 intervals; want at most 300", len(reports)-before)
	}
	e.clock.Advance(time.Hour)
	send("203.0.113.9") // carries the count of pruned addresses, if any
	if n := total(); n > 301+4500+1 || n < 301+300 {
		t.Errorf("reports account for %d failures of %d sent", n, 301+4500+1)
	}
}
