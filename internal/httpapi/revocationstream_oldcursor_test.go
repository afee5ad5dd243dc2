package httpapi_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier/stream"
)

// readCounter is an event log that counts the session.revoked entries it
// hands out.
type readCounter struct {
	sessiond.EventLog
	revoked atomic.Int64
}

func (l *readCounter) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	evs, next, err := l.EventLog.QueryEvents(ctx, q)
	for _, e := range evs {
		if e.Type == sessiond.EventSessionRevoked {
			l.revoked.Add(1)
		}
	}
	return evs, next, err
}

// TestRevocationStream_OldCursorReadsNoExpiredRevocations: a client
// resuming from a cursor hours old (any verify key can send one, up to the
// log's retention) must not make the stream read the revocations of those
// hours: their access tokens have all expired and none is sent, so reading
// them would only cost the server memory and the store reads in proportion
// to the log, on every such connection. The watermarks and retired keys of
// those hours are still sent: they stay in force.
func TestRevocationStream_OldCursorReadsNoExpiredRevocations(t *testing.T) {
	t.Parallel()
	var log *readCounter
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) {
		log = &readCounter{EventLog: rs.Log}
		rs.Log = log
	})
	now := e.clock.Now()
	old := now.Add(-20 * time.Hour) // within the 24h retention, far past the 5m access lifetime
	const expired = 500
	var evs []sessiond.Event
	for i := range expired {
		at := old.Add(time.Duration(i) * time.Second)
		evs = append(evs, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionRevoked,
			SessionID: sessiond.SessionID(fmt.Sprintf("sess-old-%d", i)), Subject: "old", Details: map[string]any{"reason": "logout"}})
	}
	ib := old.Add(-time.Second)
	mark := sessiond.Event{ID: sessiond.NewEventID(old.Add(time.Hour)), Time: old.Add(time.Hour), Type: httpapi.EventWatermarkRaised,
		Details: map[string]any{"all": true, "issued_before": ib.Format(time.RFC3339Nano)}}
	recent := now.Add(-time.Second)
	fresh := sessiond.Event{ID: sessiond.NewEventID(recent), Time: recent, Type: sessiond.EventSessionRevoked,
		SessionID: "sess-recent", Subject: "recent", Details: map[string]any{"reason": "logout"}}
	if err := e.store.AppendEvents(t.Context(), append(evs, mark, fresh)...); err != nil {
		t.Fatal(err)
	}

	c := e.open(stream.CursorAt(old.Add(-time.Minute)))
	if b := c.event(); b.Name != stream.EventWatermark || b.ID != mark.ID {
		t.Fatalf("first event %s %s %s; want the old watermark %s", b.Name, b.ID, b.Data, mark.ID)
	}
	if r, _ := c.revoked(); r.SessionID != "sess-recent" {
		t.Fatalf("revoked %s; want sess-recent", r.SessionID)
	}
	c.close()
	if n := log.revoked.Load(); n > 10 {
		t.Errorf("resuming from a cursor 20h old read %d session.revoked entries of the log; want only those whose tokens may live (1)", n)
	}
}
