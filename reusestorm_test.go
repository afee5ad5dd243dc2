package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/memstore"
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

// hookedStore is a store with none of the optional extensions, so the
// Manager learns whether a call revoked a session from Store.Revoke's
// answer alone; beforeRevoke runs once, before the first revocation.
type hookedStore struct {
	sessiond.Store
	beforeRevoke func()
}

func (s *hookedStore) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason) (*sessiond.Session, error) {
	once(&s.beforeRevoke)
	return s.Store.Revoke(ctx, id, at, r)
}

// TestManager_ReuseRevokedMeanwhile: a retired refresh token replayed
// outside the reuse interval is theft, and the session (or a rotation's
// successor) it would end may be revoked between the refresh's check and
// the reuse revocation. Revoked meanwhile for another reason (the owner's
// logout), the theft is still recorded, once, and the session keeps its
// reason; revoked meanwhile for reuse, the detection that revoked it
// recorded the theft (the storm of TestManager_ReuseStormOneEvent) and
// this one records nothing. Every way the Manager records a revocation's
// events is covered: in the store's transaction, after it, and through a
// store that says only what Store.Revoke says.
func TestManager_ReuseRevokedMeanwhile(t *testing.T) {
	ctx := context.Background()
	type storeKind struct {
		name  string
		carry bool
		sink  func(*countingSink) sessiond.EventSink
		// store returns the store, the memory store under it, and a
		// setter of the hook that runs before the Manager's next
		// revocation.
		store func() (sessiond.Store, *memstore.Store, func(func()))
	}
	withRecorder := func() (sessiond.Store, *memstore.Store, func(func())) {
		st := &raceStore{Store: memstore.New()}
		return st, st.Store, func(f func()) { st.beforeRevoke = f }
	}
	var kinds []storeKind
	for _, mode := range sinkModes {
		kinds = append(kinds, storeKind{"change recorder/" + mode.name, mode.carry, mode.sink, withRecorder})
	}
	kinds = append(kinds, storeKind{"plain store", false, func(c *countingSink) sessiond.EventSink { return plainSink{c} },
		func() (sessiond.Store, *memstore.Store, func(func())) {
			mem := memstore.New()
			st := &hookedStore{Store: mem}
			return st, mem, func(f func()) { st.beforeRevoke = f }
		}})
	for _, kind := range kinds {
		for _, tc := range []struct {
			name      string
			rotate    bool // the session was rotated before the replay: its successor is revoked
			meanwhile sessiond.RevokeReason
			reused    int // session.refresh_token_reused events this replay records
		}{
			{"logout", false, sessiond.ReasonLogout, 1},
			{"reuse detected elsewhere", false, sessiond.ReasonReuse, 0},
			{"successor's logout", true, sessiond.ReasonLogout, 1},
			{"successor's reuse detected elsewhere", true, sessiond.ReasonReuse, 0},
		} {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				st, mem, hook := kind.store()
				sink := &countingSink{carry: kind.carry}
				h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store, o.Events = st, kind.sink(sink) })
				login := h.create(t, "reuse-meanwhile", sessiond.CreateOptions{})
				next, err := h.m.Refresh(ctx, login.RefreshToken, sessiond.Client{})
				if err != nil {
					t.Fatal(err)
				}
				h.clock.Advance(10 * time.Second) // past the 5 s reuse interval
				ended := login.Session.ID
				if tc.rotate {
					succ, err := h.m.Rotate(ctx, next.Session.ID)
					if err != nil {
						t.Fatal(err)
					}
					ended = succ.Session.ID
					h.clock.Advance(10 * time.Second)
				}
				// A microsecond before this call's revocation: a store without
				// ChangeRecorder tells them apart by the time alone.
				at := h.clock.Now().UTC().Truncate(time.Microsecond).Add(-time.Microsecond)
				hook(func() {
					if _, err := mem.Revoke(ctx, ended, at, tc.meanwhile); err != nil {
						t.Error(err)
					}
				})
				_, err = h.m.Refresh(ctx, login.RefreshToken, sessiond.Client{IP: "192.0.2.66"})
				if !errors.Is(err, sessiond.ErrRefreshReused) {
					t.Errorf("Refresh(retired token) = %v; want ErrRefreshReused", err)
				}
				if n := sink.count(sessiond.EventRefreshReused, login.Session.ID); n != tc.reused {
					t.Errorf("%d %s events after the session was revoked meanwhile (%s); want %d",
						n, sessiond.EventRefreshReused, tc.meanwhile, tc.reused)
				}
				if n := sink.count(sessiond.EventSessionRevoked, ended); n != 0 {
					t.Errorf("%d %s events for a revocation this call did not make; want 0", n, sessiond.EventSessionRevoked)
				}
				s, err := mem.Get(ctx, ended)
				if err != nil || s.RevokeReason != tc.meanwhile {
					t.Errorf("session after the replay = %+v, %v; want revoked with reason %s (the first revocation's)", s, err, tc.meanwhile)
				}
			})
		}
	}
}
