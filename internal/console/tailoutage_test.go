package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
)

// downLog is an event log whose store can stop answering reads, as
// PostgreSQL stopped does: each read refused while down is counted on
// refused.
type downLog struct {
	sessiond.EventLog
	down    atomic.Bool
	refused chan struct{}
}

func (l *downLog) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	if l.down.Load() {
		select {
		case l.refused <- struct{}{}:
		default:
		}
		return nil, "", fmt.Errorf("event log: query events: %w", sessiond.ErrStoreUnavailable)
	}
	return l.EventLog.QueryEvents(ctx, q)
}

// notice reads the tail's next message, which must be the notice event,
// and returns its data.
func notice(t *testing.T, s *sseReader, event string) map[string]string {
	t.Helper()
	m, ok := s.next()
	if !ok || m.Event != event {
		t.Fatalf("next message %+v (stream open: %v, %v); want event %s", m, ok, s.err(), event)
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil {
		t.Fatalf("%s data %q: %v", event, m.Data, err)
	}
	return d
}

// TestConsole_EventTailStoreOutage: while the store does not answer, the
// open live tail says so once (it said nothing, and the page kept saying
// it was watching for new events), keeps its stream, and says when it
// reads the log again, before the events it then finds.
func TestConsole_EventTailStoreOutage(t *testing.T) {
	var log *downLog
	var logged lockedBuffer
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		log = &downLog{EventLog: f.store, refused: make(chan struct{})}
		o.Events = log
		o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	})
	c := f.signedIn()
	s, _ := f.openTail(c, "")
	s.readID()
	log.down.Store(true)
	d := notice(t, s, "unavailable")
	if d["reason"] != "store" || d["since"] == "" {
		t.Errorf("unavailable notice %v; want reason store, with since", d)
	}
	// More polls refused: no more notices (the next message is checked
	// below), and the stream stays open.
	for range 3 {
		select {
		case <-log.refused:
		case <-time.After(30 * time.Second): // a guard against a hang, not a measure
			t.Fatal("the tail stopped reading the log during the outage")
		}
	}
	// Logged once for the outage, not once a poll (every open tail polls
	// each second).
	if n := strings.Count(logged.String(), "console: tail events"); n != 1 {
		t.Errorf("%d warnings over four refused polls; want 1:\n%s", n, logged.String())
	}
	f.clock.Advance(time.Second)
	during := f.logAt(f.clock.Now(), "alice") // by another node, whose reads work
	log.down.Store(false)
	if d := notice(t, s, "available"); d["since"] == "" || d["until"] == "" {
		t.Errorf("available notice %v; want since and until", d)
	}
	if ids := rowsUntil(t, s, during); len(ids) != 1 {
		t.Errorf("after the outage the tail sent %v; want only %s", ids, during)
	}
}

// TestConsole_EventTailLaterNotError: a live tail this node cannot serve
// now (it shuts down; its console sessions cannot be checked) is answered
// with a stream that says why and ends, which the browser's EventSource
// reconnects from (to a node still serving): an error status (503) made
// it stop for good. An open tail that ends for the shutdown says so too.
func TestConsole_EventTailLaterNotError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		end    func(*console.Console)
		reason string
	}{
		{"shutting down", func(c *console.Console) { c.EndTails() }, "shutdown"},
		{"console sessions unavailable", func(c *console.Console) { c.Close() }, "store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			open, _ := f.openTail(c, "")
			lastID := open.readID()
			tc.end(f.con)
			if tc.name == "shutting down" {
				// The open tail ends, saying why.
				if d := notice(t, open, "unavailable"); d["reason"] != tc.reason {
					t.Errorf("open tail's notice %v; want reason %s", d, tc.reason)
				}
				if m, ok := open.next(); ok {
					t.Errorf("the open tail went on after the shutdown notice: %+v", m)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/console/events/tail", nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Last-Event-ID", lastID)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// The answer ends: ReadAll returns (the context bounds a hang).
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("reconnect: %d %s %q; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			body := string(b)
			if !strings.HasPrefix(body, "retry: 3000\n") || !strings.Contains(body, "event: unavailable\n") || !strings.Contains(body, `"reason":"`+tc.reason+`"`) {
				t.Errorf("reconnect answered %q; want a retry and an unavailable notice, reason %s", body, tc.reason)
			}
			// No id: the browser keeps the one it had, and resumes from it.
			if strings.Contains(body, "id:") {
				t.Errorf("reconnect answered %q; want no id", body)
			}
		})
	}
}

// hangLog is an event log whose reads can hang until their context ends,
// as on a store behind a partition.
type hangLog struct {
	sessiond.EventLog
	hang atomic.Bool
}

func (l *hangLog) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	if l.hang.Load() {
		<-ctx.Done()
		return nil, "", ctx.Err()
	}
	return l.EventLog.QueryEvents(ctx, q)
}

// TestConsole_EventTailStoreHangs: a store that stops answering without
// refusing (a partition, a failover) holds each of the live tail's polls
// only as long as a page's store calls (RequestDeadline): the tail then
// says the store is unavailable, where it waited on it in silence, and
// goes on when it answers.
func TestConsole_EventTailStoreHangs(t *testing.T) {
	var log *hangLog
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		log = &hangLog{EventLog: f.store}
		o.Events = log
		o.RequestDeadline = 50 * time.Millisecond
	})
	c := f.signedIn()
	s, _ := f.openTail(c, "")
	s.readID()
	log.hang.Store(true)
	if d := notice(t, s, "unavailable"); d["reason"] != "store" {
		t.Errorf("unavailable notice %v; want reason store", d)
	}
	f.clock.Advance(time.Second)
	after := f.logAt(f.clock.Now(), "alice")
	log.hang.Store(false)
	notice(t, s, "available")
	if ids := rowsUntil(t, s, after); len(ids) != 1 {
		t.Errorf("after the store answered again the tail sent %v; want only %s", ids, after)
	}
}

// lockedBuffer is a log destination the tail's goroutine writes while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
