package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// countingSink keeps the events a Manager hands it: recorded after their
// change (Record), or written by the store with it (Prepare, then
// Committed). With carry false, Prepare declines and every event goes
// through Record.
type countingSink struct {
	carry bool
	mu    sync.Mutex
	got   []sessiond.Event
}

func (s *countingSink) Record(_ context.Context, e sessiond.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, e)
	return nil
}

func (s *countingSink) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	if !s.carry {
		return nil, nil, false, nil
	}
	return []sessiond.Event{e}, nil, true, nil
}

func (s *countingSink) Committed(ctx context.Context, e sessiond.Event) { _ = s.Record(ctx, e) }

// count is how many events of type typ s got for session id.
func (s *countingSink) count(typ sessiond.EventType, id sessiond.SessionID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.got {
		if e.Type == typ && e.SessionID == id {
			n++
		}
	}
	return n
}

// plainSink is a sink that cannot hand its writes to the store: the
// Manager records every event after its change.
type plainSink struct{ c *countingSink }

func (s plainSink) Record(ctx context.Context, e sessiond.Event) error { return s.c.Record(ctx, e) }

// sinkModes are the three ways a Manager records an event of a
// revocation: written in its transaction, or after it because the sink
// declines or cannot carry it.
var sinkModes = []struct {
	name  string
	carry bool
	sink  func(*countingSink) sessiond.EventSink
}{
	{"carried", true, func(c *countingSink) sessiond.EventSink { return c }},
	{"declined", false, func(c *countingSink) sessiond.EventSink { return c }},
	{"plain", false, func(c *countingSink) sessiond.EventSink { return plainSink{c} }},
}

// cluster is n hybrid Managers ("nodes") on connections to one store's
// data, sharing a signing key, a fake clock and an event sink, with no
// reuse interval: a retired refresh token presented again is theft.
type cluster struct {
	nodes  []*sessiond.Manager
	stores []nodeStore
	clock  *sessiondtest.Clock
	sink   *countingSink
}

func newCluster(t *testing.T, ms managerStore, n int, carry bool, sink func(*countingSink) sessiond.EventSink) *cluster {
	t.Helper()
	// Near the real time: Redis expires keys by the session's times.
	start := time.Now().UTC().Truncate(time.Second)
	c := &cluster{stores: ms.nodes(t, n), clock: sessiondtest.NewClock(start), sink: &countingSink{carry: carry}}
	codec, _ := jwttest.Codec(t, start, 90*24*time.Hour)
	for _, st := range c.stores {
		c.nodes = append(c.nodes, newManager(t, sessiond.Options{
			Strategy: sessiond.StrategyHybrid, Store: st, Signed: codec, Opaque: opaquetoken.Codec{},
			Clock: c.clock, Events: sink(c.sink), GCInterval: -1, ReuseInterval: -1,
		}, nil))
	}
	return c
}

// storm runs op n times at once, spread over the nodes, and returns the
// results.
func (c *cluster) storm(n int, op func(*sessiond.Manager) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = op(c.nodes[i%len(c.nodes)])
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// stormSize is how many requests a storm makes at once.
const stormSize = 24

// stormCases are the ways one stolen refresh token comes back many times
// at once: refreshes of a token retired before (replay), refreshes of
// the live token (a race that one wins and the others lose to a retired
// token), revocation requests (RFC 7009) of a retired token.
var stormCases = []struct {
	name   string
	retire bool // refresh once before the storm
	ok     int  // calls of the storm that succeed (a revocation always does)
	op     func(m *sessiond.Manager, tok sessiond.Secret) error
}{
	{"replay of a retired token", true, 0, refreshOp},
	{"refresh race", false, 1, refreshOp},
	{"revocation of a retired token", true, stormSize, func(m *sessiond.Manager, tok sessiond.Secret) error {
		return m.RevokeToken(context.Background(), tok)
	}},
}

func refreshOp(m *sessiond.Manager, tok sessiond.Secret) error {
	_, err := m.Refresh(context.Background(), tok, sessiond.Client{IP: "192.0.2.66"})
	return err
}

// TestManager_ReuseStormOneEvent: many parallel requests presenting one
// stolen refresh token, on two nodes, are one theft. The session ends once
// with reason reuse and session.refresh_token_reused is recorded once: the
// detection whose revocation ended the session records it (in the
// revocation's transaction when the store can); the others find the
// session already revoked and record nothing, so one incident raises one
// webhook and one alert.
func TestManager_ReuseStormOneEvent(t *testing.T) {
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			for _, mode := range sinkModes {
				for _, sc := range stormCases {
					t.Run(mode.name+"/"+sc.name, func(t *testing.T) {
						c := newCluster(t, ms, 2, mode.carry, mode.sink)
						ctx := context.Background()
						iss, err := c.nodes[0].Create(ctx, "mallory-victim", sessiond.CreateOptions{})
						if err != nil {
							t.Fatal(err)
						}
						c.clock.Advance(time.Minute)
						tok := iss.RefreshToken
						if sc.retire {
							if _, err := c.nodes[0].Refresh(ctx, tok, sessiond.Client{}); err != nil {
								t.Fatalf("first Refresh = %v; want nil", err)
							}
							c.clock.Advance(time.Minute)
						}
						ok := 0
						for _, err := range c.storm(stormSize, func(m *sessiond.Manager) error { return sc.op(m, tok) }) {
							switch {
							case err == nil:
								ok++
							case errors.Is(err, sessiond.ErrRefreshReused), errors.Is(err, sessiond.ErrRevoked):
							default:
								t.Errorf("%s in the storm = %v; want nil, ErrRefreshReused or ErrRevoked", sc.name, err)
							}
						}
						if ok != sc.ok {
							t.Errorf("%d calls of the storm succeeded; want %d", ok, sc.ok)
						}
						id := iss.Session.ID
						s, err := c.stores[1].Get(ctx, id)
						if err != nil || s.RevokeReason != sessiond.ReasonReuse {
							t.Fatalf("session after the storm = %+v, %v; want revoked with reason reuse", s, err)
						}
						if n := c.sink.count(sessiond.EventRefreshReused, id); n != 1 {
							t.Errorf("%d %s events for one theft; want 1", n, sessiond.EventRefreshReused)
						}
						if n := c.sink.count(sessiond.EventSessionRevoked, id); n != 1 {
							t.Errorf("%d %s events; want 1", n, sessiond.EventSessionRevoked)
						}
						if !mode.carry {
							return
						}
						logged, _, err := c.stores[0].QueryEvents(ctx, sessiond.EventQuery{SessionID: id, Type: sessiond.EventRefreshReused})
						if err != nil || len(logged) != 1 {
							t.Errorf("the store's event log holds %d %s events (%v); want 1, written with the revocation",
								len(logged), sessiond.EventRefreshReused, err)
						}
					})
				}
			}
		})
	}
}
