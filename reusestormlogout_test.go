package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// gatedStore is the memory store with gate run before each revocation
// reaches it, for tests that land another revocation in between.
type gatedStore struct {
	*memstore.Store
	gate func(ctx context.Context, id sessiond.SessionID, r sessiond.RevokeReason, at time.Time)
}

func (s *gatedStore) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason) (*sessiond.Session, error) {
	s.gate(ctx, id, r, at)
	return s.Store.Revoke(ctx, id, at, r)
}

func (s *gatedStore) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason,
	rec func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	s.gate(ctx, id, r, at)
	return s.Store.RevokeRecorded(ctx, id, at, r, rec)
}

// logoutGate holds the first two revocations for reuse of one session
// until both have arrived, then lets the owner's logout land before them:
// two detections of one theft (a storm replaying a stolen token) that both
// checked the session live, and a logout in between.
type logoutGate struct {
	store   *memstore.Store
	id      sessiond.SessionID
	mu      sync.Mutex
	arrived int
	release chan struct{}
}

func (s *logoutGate) gate(ctx context.Context, id sessiond.SessionID, r sessiond.RevokeReason, at time.Time) {
	if id != s.id || r != sessiond.ReasonReuse {
		return
	}
	s.mu.Lock()
	s.arrived++
	n := s.arrived
	s.mu.Unlock()
	switch {
	case n == 2:
		if _, err := s.store.Revoke(ctx, id, at, sessiond.ReasonLogout); err != nil {
			panic(err)
		}
		close(s.release)
	case n < 2:
		<-s.release
	}
}

// TestManager_ReuseStormWithLogoutOneEvent: revoke records the theft event
// when the session was ended meanwhile for another reason (a logout
// between the detection's check and its revocation), so that the logout
// does not hide the theft; every detection of a storm that checked the
// session before the logout finds it so, and one node must still record
// the theft once, not once per replay.
func TestManager_ReuseStormWithLogoutOneEvent(t *testing.T) {
	ctx := context.Background()
	g := &logoutGate{store: memstore.New(), release: make(chan struct{})}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = &gatedStore{Store: g.store, gate: g.gate} })
	login := h.create(t, "storm-logout", sessiond.CreateOptions{})
	if _, err := h.m.Refresh(ctx, login.RefreshToken, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second) // past the 5 s reuse interval
	g.id = login.Session.ID

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.m.Refresh(ctx, login.RefreshToken, sessiond.Client{IP: "192.0.2.66"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, sessiond.ErrRefreshReused) {
			t.Errorf("replay %d = %v; want ErrRefreshReused", i, err)
		}
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
		t.Errorf("%d %s events for one theft (two replays, the owner's logout between their checks and their revocations); want 1",
			n, sessiond.EventRefreshReused)
	}
}

// adminGate: at the first revocation for reuse of id, the
// owner's logout lands, and then an operator (or an anomaly rule) revokes
// the already-ended session for a third reason through the Manager, before
// the theft's own revocation reaches the store.
type adminGate struct {
	store *memstore.Store
	id    sessiond.SessionID
	m     *sessiond.Manager
	done  bool
}

func (s *adminGate) gate(ctx context.Context, id sessiond.SessionID, r sessiond.RevokeReason, at time.Time) {
	if id != s.id || r != sessiond.ReasonReuse || s.done {
		return
	}
	s.done = true
	if _, err := s.store.Revoke(ctx, id, at, sessiond.ReasonLogout); err != nil {
		panic(err)
	}
	if err := s.m.Revoke(ctx, id, sessiond.ReasonAdmin); err != nil {
		panic(err)
	}
}

// TestManager_LateTheftNotHiddenByEventlessRevoke: a revocation that has
// no theft to record (Manager.Revoke of a session ended already, for
// another reason) must not use the per-node once-a-minute memory of late
// theft reports, or the theft detected right after finds it taken and
// records nothing: the logout would hide it.
func TestManager_LateTheftNotHiddenByEventlessRevoke(t *testing.T) {
	ctx := context.Background()
	g := &adminGate{store: memstore.New()}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = &gatedStore{Store: g.store, gate: g.gate} })
	g.m = h.m
	login := h.create(t, "probe-late", sessiond.CreateOptions{})
	if _, err := h.m.Refresh(ctx, login.RefreshToken, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second) // past the reuse interval
	g.id = login.Session.ID
	if _, err := h.m.Refresh(ctx, login.RefreshToken, sessiond.Client{IP: "192.0.2.66"}); !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Fatalf("replay = %v; want ErrRefreshReused", err)
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
		t.Errorf("%d %s events; want 1 (a revocation that recorded nothing must not use up the once-a-minute memory)", n, sessiond.EventRefreshReused)
	}
}
