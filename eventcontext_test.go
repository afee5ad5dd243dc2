package sessiond_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// cancelAfterWrite is a memory store that cancels the caller's request
// right after a revocation is stored: a client that hangs up once its
// logout is done, before the Manager records the event.
type cancelAfterWrite struct {
	*memstore.Store
	cancel context.CancelFunc
}

func (s cancelAfterWrite) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	r, err := s.Store.Revoke(ctx, id, at, reason)
	s.cancel()
	return r, err
}

func (s cancelAfterWrite) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	r, ok, err := s.Store.RevokeRecorded(ctx, id, at, reason, revoked)
	s.cancel()
	return r, ok, err
}

// ctxSink records each event and whether its ctx was already done, as a
// sink writing to a store would fail with it.
type ctxSink struct {
	mu   sync.Mutex
	done map[sessiond.EventType]error
}

func (s *ctxSink) Record(ctx context.Context, e sessiond.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done[e.Type] = ctx.Err()
	return ctx.Err()
}

// TestManager_EventOutlivesClientGone: an event is the audit record of a
// change already made. A client that hangs up after the change (a browser
// closing the tab after logout) must not cost the event: the sink gets a
// context its request's cancellation does not end (values kept, bounded
// in time). Before, the sink got the request's context and a store-backed
// sink failed with context.Canceled: the logout stood, its event was lost,
// and an ERROR line said so.
func TestManager_EventOutlivesClientGone(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &ctxSink{done: map[sessiond.EventType]error{}}
	st := cancelAfterWrite{Store: memstore.New(), cancel: cancel}
	m := h.node(t, st, func(o *sessiond.Options) { o.Events = sink })
	iss, err := m.Create(context.Background(), "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the store did not cancel the request: the test tests nothing")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	got, ok := sink.done[sessiond.EventSessionRevoked]
	if !ok {
		t.Fatalf("no %s event recorded; events: %v", sessiond.EventSessionRevoked, sink.done)
	}
	if got != nil {
		t.Errorf("the sink got a context ended by the client's hang-up (%v): a store-backed sink loses the event", got)
	}
}
