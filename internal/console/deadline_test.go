package console_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
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
