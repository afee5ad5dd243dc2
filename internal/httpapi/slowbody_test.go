package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestDeadline_SlowBodyIsNotAStoreOutage: a client whose body arrives
// after the request's store deadline (deadline.go), or with less than a
// quarter of it left for the store calls, is answered 408, before any
// store call, and nothing counts it as the store failing; a body in time
// is served as usual. The deadline once turned a slow client into a
// 503 store_unavailable and a store-error count, which the shipped alert
// pages on.
func TestDeadline_SlowBodyIsNotAStoreOutage(t *testing.T) {
	t.Parallel()
	var storeErrs atomic.Int32
	e := newEnvWith(t, sessiond.StrategyHybrid,
		func(o *sessiond.Options) { o.StoreErrorObserver = func(string, error) { storeErrs.Add(1) } },
		func(o *httpapi.Options) {
			o.WriteTimeout = 2 * time.Second // a deadline of 1.5 s, 375 ms of it kept for the store
			o.StoreErrorObserver = func(string, error) { storeErrs.Add(1) }
		})
	post := func(delay time.Duration) (int, string) {
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(`{"subject":`))
			time.Sleep(delay)
			_, _ = pw.Write([]byte(`"alice"}`))
			_ = pw.Close()
		}()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/v1/sessions", pr)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.srv.Client().Do(req) // not e.hc, which reads the body before sending
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(0); code != http.StatusCreated {
		t.Fatalf("a body in time = %d %s; want 201", code, body)
	}
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{
		{"with under 375 ms of the deadline left", 1300 * time.Millisecond},
		{"after the deadline", 1700 * time.Millisecond},
	} {
		if code, body := post(c.delay); code != http.StatusRequestTimeout || strings.Contains(body, "store_unavailable") {
			t.Errorf("a body %s = %d %s; want 408, not a store outage", c.name, code, body)
		}
	}
	if n := storeErrs.Load(); n != 0 {
		t.Errorf("%d store errors reported; want none (the store never failed)", n)
	}
}
