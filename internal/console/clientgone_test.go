package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
)

// gatedEvents is an event log whose queries, once armed, tell the test
// they started and then wait for their caller to give up.
type gatedEvents struct {
	sessiond.EventLog
	armed   *atomic.Bool
	entered chan struct{}
}

func (g gatedEvents) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	if !g.armed.Load() {
		return g.EventLog.QueryEvents(ctx, q)
	}
	g.entered <- struct{}{}
	<-ctx.Done()
	return nil, "", fmt.Errorf("gated event log: %w", ctx.Err())
}

// TestConsole_ClientGoneIsNoError: a browser that leaves while its page
// reads the store (a tab closed, another link followed) ends the read with
// its request. Nothing is wrong with the store and no one waits for the
// page, so the line is INFO, not an ERROR that pages someone: the API
// logs the same case as INFO with status 499 (internal/httpapi).
func TestConsole_ClientGoneIsNoError(t *testing.T) {
	var logs lockedBuffer
	var armed atomic.Bool
	entered := make(chan struct{}, 1)
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Events = gatedEvents{EventLog: f.store, armed: &armed, entered: entered}
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := f.signedIn()
	armed.Store(true)
	leaveMidCall(t, f, c, entered, func(ctx context.Context) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/console/events", nil)
		req.Header.Set("Accept", "text/html")
		return req
	})
	for _, line := range leftLines(t, &logs, "console: query events") {
		if !strings.Contains(line, `"level":"INFO"`) {
			t.Errorf("a page whose browser left logged %s; want it at INFO", line)
		}
	}
}

// leaveMidCall sends the request newReq makes with the context given, from
// the signed-in browser c, and leaves (cancels it) once entered says its
// handler is in its store call; then it shuts the console down, which
// waits for the handler, and so for its log line.
func leaveMidCall(t *testing.T, f *fixture, c *http.Client, entered <-chan struct{}, newReq func(context.Context) *http.Request) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req := newReq(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered // the call is in the store
	cancel()  // and the browser leaves
	<-done
	if err := f.con.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// leftLines returns the log's lines with message msg, trimmed, failing the
// test when there are none, or when the log holds an ERROR line: a browser
// that left is no error.
func leftLines(t *testing.T, logs *lockedBuffer, msg string) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, `"msg":"`+msg+`"`) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	if len(out) == 0 {
		t.Errorf("no %s line; the log:\n%s", msg, logs.String())
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("an ERROR line for a browser that left:\n%s", logs.String())
	}
	return out
}

// gatedRetry is an outbox whose RetryDelivery tells the test it started
// and then waits for its caller to give up.
type gatedRetry struct {
	sessiond.Outbox
	entered chan struct{}
}

func (g gatedRetry) RetryDelivery(ctx context.Context, id string, due time.Time) error {
	g.entered <- struct{}{}
	<-ctx.Done()
	return fmt.Errorf("gated outbox: %w", ctx.Err())
}

// TestConsole_ClientGoneMidWrite: a browser that leaves while an action
// writes (here a retry of a dead delivery) leaves its outcome unknown:
// the write may have been done before the store saw the cancellation.
// The line says so, at WARN, with what to check; it is no ERROR, since
// nothing is known to have failed.
func TestConsole_ClientGoneMidWrite(t *testing.T) {
	var logs lockedBuffer
	entered := make(chan struct{}, 1)
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Outbox = gatedRetry{Outbox: f.store, entered: entered}
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const id = "msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	f.enqueue(id)
	f.finish(id, sessiond.DeliveryDead, 3, "POST: 500")
	c := f.signedIn()
	leaveMidCall(t, f, c, entered, func(ctx context.Context) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/console/webhooks/retry", strings.NewReader(url.Values{"id": {id}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", f.srv.URL)
		return req
	})
	for _, line := range leftLines(t, &logs, "console: retry delivery") {
		if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, `"outcome":"unknown`) || !strings.Contains(line, id) {
			t.Errorf("an action whose browser left logged %s; want it at WARN with outcome unknown and the delivery's ID", line)
		}
	}
}
