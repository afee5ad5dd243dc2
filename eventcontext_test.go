package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if got := revokeEndingRequest(t, ctx, cancel); got != nil {
		t.Errorf("the sink got a context ended by the client's hang-up (%v): a store-backed sink loses the event", got)
	}
}

// revokeEndingRequest logs alice out with ctx, which end ends once the
// store has made the change, and returns the error of the context the
// sink got for the logout's event (nil: still live when recorded).
func revokeEndingRequest(t *testing.T, ctx context.Context, end func()) error {
	t.Helper()
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	sink := &ctxSink{done: map[sessiond.EventType]error{}}
	st := cancelAfterWrite{Store: memstore.New(), cancel: end}
	m := h.node(t, st, func(o *sessiond.Options) { o.Events = sink })
	iss, err := m.Create(context.Background(), "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the store did not end the request: the test tests nothing")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	got, ok := sink.done[sessiond.EventSessionRevoked]
	if !ok {
		t.Fatalf("no %s event recorded; events: %v", sessiond.EventSessionRevoked, sink.done)
	}
	return got
}

// expiringCtx is a request context whose deadline passes when the store
// has made the change: a request timeout (http.TimeoutHandler, a
// client's deadline) that fires after the change, before its event.
type expiringCtx struct {
	context.Context
	mu       sync.Mutex
	deadline time.Time
	done     chan struct{}
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), deadline: time.Now().Add(time.Hour), done: make(chan struct{})}
}

func (c *expiringCtx) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = time.Now().Add(-time.Millisecond)
	close(c.done)
}

func (c *expiringCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *expiringCtx) Done() <-chan struct{} { return c.done }

func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestManager_EventOutlivesRequestDeadline: a request whose deadline
// passes once its change is made (a slow store, a request timeout) still
// gets the change's event recorded, as one whose client hung up does: the
// record gets a short bound of its own, not what the request had left.
func TestManager_EventOutlivesRequestDeadline(t *testing.T) {
	ctx := newExpiringCtx()
	if got := revokeEndingRequest(t, ctx, ctx.expire); got != nil {
		t.Errorf("the sink got a context the request's passed deadline ended (%v): a store-backed sink loses the event", got)
	}
}

// blockingSink holds the record of a concurrent-login event until its
// context ends, as a store that does not answer would, and keeps why it
// ended.
type blockingSink struct {
	entered chan struct{}
	ended   chan error
}

func (s *blockingSink) Record(ctx context.Context, e sessiond.Event) error {
	if e.Type != sessiond.EventConcurrentLogin {
		return nil
	}
	close(s.entered)
	<-ctx.Done()
	s.ended <- ctx.Err()
	return ctx.Err()
}

// TestManager_CloseEndsEventRecord: Close stops the Manager's loops and
// waits for them; an event one of them is recording on a store that does
// not answer ends with it, as it did before events outlived their
// request's cancellation. Otherwise Close waited out the record's own
// bound (the server's stop with it) and could return with nothing left
// to join only once the store had been given seconds more.
func TestManager_CloseEndsEventRecord(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	sink := &blockingSink{entered: make(chan struct{}), ended: make(chan error, 1)}
	m, err := sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(),
		Signed: h.codec, Opaque: opaquetoken.Codec{}, Clock: h.clock, GCInterval: -1, WatermarkPoll: -1, Events: sink})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := m.Create(context.Background(), "alice", sessiond.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Second)
	}
	<-sink.entered
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-sink.ended; !errors.Is(got, context.Canceled) {
		t.Errorf("the record of an event under way when the Manager closed ended with %v; want context.Canceled (Close ends it)", got)
	}
}
