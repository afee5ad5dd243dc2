package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// bulkPending is a memory store whose bulk revocation has not happened
// yet: it fails, as a store does that went away in the middle of a kill
// switch, or as another node sees it while the bulk write still runs.
type bulkPending struct{ *memstore.Store }

func (bulkPending) RevokeMatching(context.Context, sessiond.RevokeFilter, time.Time, sessiond.RevokeReason) (int, []string, error) {
	return 0, nil, sessiond.ErrStoreUnavailable
}

// TestManager_WatermarkBeforeStore: once a kill switch has raised its
// watermark, a session it covers is over everywhere the Manager answers,
// before (or without) the store's own record of it: Verify, Get, List and
// Rotate refuse it. Rotate must not turn it into a new session dated after
// the watermark, which the incident would then never end.
func TestManager_WatermarkBeforeStore(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, func(o *sessiond.Options) { o.Store = bulkPending{memstore.New()} })
			ctx := context.Background()
			iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(2 * time.Second)
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Fatalf("RevokeMatching = %v; want the store's failure after the watermark", err)
			}
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Fatalf("Verify = %v; want ErrRevoked from the watermark", err)
			}
			if _, err := h.m.Get(ctx, iss.Session.ID); !errors.Is(err, sessiond.ErrNotFound) {
				t.Errorf("Get = %v; want ErrNotFound, as for any ended session", err)
			}
			if list, err := h.m.List(ctx, "alice"); err != nil || len(list) != 0 {
				t.Errorf("List = %d sessions, %v; want none live", len(list), err)
			}
			next, err := h.m.Rotate(ctx, iss.Session.ID)
			if err == nil {
				_, verr := h.m.Verify(ctx, next.AccessToken, sessiond.Client{})
				t.Fatalf("Rotate of a session the watermark ended = a new session (its verify: %v); want ErrNotFound", verr)
			}
			if !errors.Is(err, sessiond.ErrNotFound) {
				t.Errorf("Rotate = %v; want ErrNotFound", err)
			}
			// A login after the incident is not caught by it.
			if _, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if list, err := h.m.List(ctx, "alice"); err != nil || len(list) != 1 {
				t.Errorf("List after a new login = %d sessions, %v; want 1", len(list), err)
			}
		})
	}
}

// revokeHook is a memory store that runs after, once, right after its
// next single-session revocation: another node's kill switch landing in
// the middle of a Rotate, between the old session's end and its
// successor's creation.
type revokeHook struct {
	*memstore.Store
	after func()
}

func (s *revokeHook) fire() {
	if f := s.after; f != nil {
		s.after = nil
		f()
	}
}

func (s *revokeHook) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason) (*sessiond.Session, error) {
	sess, err := s.Store.Revoke(ctx, id, at, r)
	s.fire()
	return sess, err
}

func (s *revokeHook) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason,
	rec func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	sess, ok, err := s.Store.RevokeRecorded(ctx, id, at, r, rec)
	s.fire()
	return sess, ok, err
}

// TestManager_RotateDuringKillSwitch: a session rotated while a kill switch
// runs does not outlive the incident through its successor. The successor
// keeps the old session's creation (authentication) time, which the
// watermark covers; before, it was dated after the watermark.
func TestManager_RotateDuringKillSwitch(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			store := &revokeHook{Store: memstore.New()}
			h := newHarness(t, st, func(o *sessiond.Options) { o.Store = store })
			ctx := context.Background()
			old, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(2 * time.Second)
			store.after = func() {
				if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
					t.Errorf("RevokeMatching = %v", err)
				}
				h.clock.Advance(time.Second)
			}
			next, err := h.m.Rotate(ctx, old.Session.ID)
			if err != nil {
				t.Fatalf("Rotate = %v; want a successor (the incident came after its check)", err)
			}
			if !next.Session.CreatedAt.Equal(old.Session.CreatedAt) {
				t.Errorf("successor created %v; want the old session's %v", next.Session.CreatedAt, old.Session.CreatedAt)
			}
			if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("Verify(successor) = %v; want ErrRevoked: the incident ended its session", err)
			}
			if next.RefreshToken != "" {
				if _, err := h.m.Refresh(ctx, next.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("Refresh(successor) = %v; want ErrRevoked", err)
				}
			}
			if list, err := h.m.List(ctx, "alice"); err != nil || len(list) != 0 {
				t.Errorf("List = %d live, %v; want none", len(list), err)
			}
		})
	}
}

// TestManager_RotateKeepsAuthTime: the successor of a rotation carries the
// time the user authenticated, in its session and in its access token.
func TestManager_RotateKeepsAuthTime(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	old, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Minute)
	next, err := h.m.Rotate(ctx, old.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == old.Session.ID || s.CreatedAt.Unix() != old.Session.CreatedAt.Unix() {
		t.Errorf("rotated session %s created %v (auth_time); want a new ID created %v", s.ID, s.CreatedAt, old.Session.CreatedAt)
	}
}
