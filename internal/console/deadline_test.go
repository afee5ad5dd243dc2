package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
)

// hangingEvents is an event log whose queries wait for their caller to
// give up, as a store that hangs (frozen, a table held under a lock).
type hangingEvents struct{ sessiond.EventLog }

func (hangingEvents) QueryEvents(ctx context.Context, _ sessiond.EventQuery) ([]sessiond.Event, string, error) {
	<-ctx.Done()
	return nil, "", fmt.Errorf("hanging event log: %w", ctx.Err())
}

// TestConsole_RequestDeadline: a console page whose store hangs is
// answered with the page's 503 once Options.RequestDeadline passes, not
// left without an answer until the server's write timeout cuts the
// connection.
func TestConsole_RequestDeadline(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Events = hangingEvents{EventLog: f.store}
		o.RequestDeadline = 200 * time.Millisecond
	})
	c := f.signedIn()
	// The client gives up well after the deadline: without one, the page
	// never answers and this request fails instead.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/console/events", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("events page with the store hanging: %v; want the page's 503", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("events page with the store hanging = %d; want 503", resp.StatusCode)
	}
}

// stuck is a store call that does not end when its context does: a
// client waiting for a connection another caller is opening (rueidis's
// reconnect to a frozen Redis), a driver that does not watch its context.
// It returns once the test is over.
type stuck chan struct{}

func (s stuck) wait(ctx context.Context) error {
	<-s
	return fmt.Errorf("stuck store: %w", ctx.Err())
}

type stuckEvents struct {
	sessiond.EventLog
	stuck
}

func (s stuckEvents) QueryEvents(ctx context.Context, _ sessiond.EventQuery) ([]sessiond.Event, string, error) {
	return nil, "", s.wait(ctx)
}

type stuckMeta struct {
	sessiond.MetaStore
	stuck
	on *atomic.Bool
}

func (s stuckMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if s.on.Load() {
		return nil, 0, s.wait(ctx)
	}
	return s.MetaStore.GetMeta(ctx, name)
}

// TestConsole_RequestDeadlineStoreIgnoresContext: a store call that runs
// past the request's deadline, ignoring its context, does not hold the
// answer: the console answers 503, saying why, a moment after the
// deadline, where it used to wait for the call and miss the server's write
// timeout (an empty response; Chromium retried it silently, 30 s).
func TestConsole_RequestDeadlineStoreIgnoresContext(t *testing.T) {
	cases := []struct {
		name, method, path string
		set                func(s stuck, f *fixture, o *console.Options, on *atomic.Bool)
	}{
		{"events page", http.MethodGet, "/console/events", func(s stuck, f *fixture, o *console.Options, _ *atomic.Bool) {
			o.Events = stuckEvents{EventLog: f.store, stuck: s}
		}},
		{"overview", http.MethodGet, "/console/overview", func(s stuck, _ *fixture, o *console.Options, _ *atomic.Bool) {
			o.Live = func(ctx context.Context) (int, console.Counted, error) { return 0, console.Counted{}, s.wait(ctx) }
		}},
		{"operator's key check", http.MethodGet, "/console/incident", func(s stuck, f *fixture, o *console.Options, on *atomic.Bool) {
			o.Keys = apikey.New(stuckMeta{MetaStore: f.store, stuck: s, on: on}, f.clock, time.Second)
		}},
		{"revoke form", http.MethodPost, "/console/sessions/revoke", func(s stuck, f *fixture, o *console.Options, on *atomic.Bool) {
			o.Keys = apikey.New(stuckMeta{MetaStore: f.store, stuck: s, on: on}, f.clock, time.Second)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := make(stuck)
			var on atomic.Bool
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				tc.set(s, f, o, &on)
				o.RequestDeadline = 200 * time.Millisecond
			})
			t.Cleanup(func() { close(s) }) // before the console's Close, which waits for the call
			c := f.signedIn()
			on.Store(true)
			f.clock.Advance(2 * time.Second) // past the key set's refresh period
			// The client gives up long after the deadline; without the
			// fix the answer waits for the stuck call, which outlives it.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			form := url.Values{"subject": {"alice"}, "id": {"x"}}
			req, _ := http.NewRequestWithContext(ctx, tc.method, f.srv.URL+tc.path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s with a store call stuck past the deadline: %v; want the console's 503", tc.method, tc.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s = %d (Retry-After %q); want 503 with Retry-After", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if !strings.Contains(string(body), "did not answer in time") {
				t.Errorf("%s %s body does not say the store did not answer:\n%s", tc.method, tc.path, body)
			}
		})
	}
}

// TestConsole_ShutdownStuckCall: a handler answered for, whose store call
// never ends, does not hold the server's shutdown: Shutdown stops waiting
// for it when its context ends and says what is still running (Close,
// which serve used, waited for it without a bound).
func TestConsole_ShutdownStuckCall(t *testing.T) {
	s := make(stuck)
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Live = func(ctx context.Context) (int, console.Counted, error) { return 0, console.Counted{}, s.wait(ctx) }
		o.RequestDeadline = 200 * time.Millisecond
	})
	t.Cleanup(func() { close(s) })
	c := f.signedIn()
	resp, err := c.Get(f.srv.URL + "/console/overview")
	if err != nil {
		t.Fatalf("overview with a stuck store call: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("overview with a stuck store call = %d; want 503", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the shutdown grace is over
	err = f.con.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "/console/overview") {
		t.Errorf("Shutdown with a handler stuck in the store = %v; want an error naming GET /console/overview", err)
	}
}

// TestConsole_UnavailablePageNavigates: the page the console answers
// itself when a store call outlives the deadline ("Store unavailable")
// carries the console's navigation and, for a page, a link to load it
// again, made without the store (the operator's name is not read); it
// had a link to the overview only. A form's action gets no such link:
// it may have been done, and is looked at before it is repeated.
func TestConsole_UnavailablePageNavigates(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, retry string
		set                       func(s stuck, f *fixture, o *console.Options, on *atomic.Bool)
	}{
		{"events page", http.MethodGet, "/console/events?subject=a%26b&type=session.created", "/console/events?subject=a%26b&amp;type=session.created",
			func(s stuck, f *fixture, o *console.Options, _ *atomic.Bool) {
				o.Events = stuckEvents{EventLog: f.store, stuck: s}
			}},
		{"revoke form", http.MethodPost, "/console/sessions/revoke", "", func(s stuck, f *fixture, o *console.Options, on *atomic.Bool) {
			o.Keys = apikey.New(stuckMeta{MetaStore: f.store, stuck: s, on: on}, f.clock, time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := make(stuck)
			var on atomic.Bool
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				tc.set(s, f, o, &on)
				o.RequestDeadline = 200 * time.Millisecond
			})
			t.Cleanup(func() { close(s) })
			c := f.signedIn()
			on.Store(true)
			f.clock.Advance(2 * time.Second) // past the key set's refresh period
			var form url.Values
			if tc.method == http.MethodPost {
				form = url.Values{"subject": {"alice"}, "id": {"x"}}
			}
			resp, body := f.do(c, tc.method, tc.path, form, "same-origin")
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "did not answer in time") {
				t.Fatalf("%s %s = %d; want the console's 503\n%s", tc.method, tc.path, resp.StatusCode, body)
			}
			nav := between(body, `<nav aria-label="Console">`, "</nav>")
			for _, page := range []string{"overview", "sessions", "events", "webhooks", "keys", "incident"} {
				if !strings.Contains(nav, `href="/console/`+page+`"`) {
					t.Errorf("%s %s: the 503 page's navigation lacks %s: %q", tc.method, tc.path, page, nav)
				}
			}
			retry := between(body, `<a class="retry"`, "</a>")
			switch {
			case tc.retry == "" && retry != "":
				t.Errorf("%s %s: the 503 page offers to send the form again: %s", tc.method, tc.path, retry)
			case tc.retry != "" && !strings.Contains(retry, `href="`+tc.retry+`"`):
				t.Errorf("%s %s: the 503 page's retry link %q; want one to %s", tc.method, tc.path, retry, tc.retry)
			}
		})
	}
}
