package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// outageStore fails, as a store gone away in the middle of the reuse
// handling, the revocation of one session or the listing of sessions
// (List, ListSpan).
type outageStore struct {
	*memstore.Store
	failRevoke sessiond.SessionID
	failList   bool
}

func (s *outageStore) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason) (*sessiond.Session, error) {
	if id == s.failRevoke {
		return nil, sessiond.ErrStoreUnavailable
	}
	return s.Store.Revoke(ctx, id, at, r)
}

func (s *outageStore) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason,
	rec func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	if id == s.failRevoke {
		return nil, false, sessiond.ErrStoreUnavailable
	}
	return s.Store.RevokeRecorded(ctx, id, at, r, rec)
}

func (s *outageStore) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	if s.failList {
		return nil, sessiond.ErrStoreUnavailable
	}
	return s.Store.List(ctx, subject, now)
}

func (s *outageStore) ListSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*sessiond.Session, error) {
	if s.failList {
		return nil, sessiond.ErrStoreUnavailable
	}
	return s.Store.ListSpan(ctx, subject, created, expires, now)
}

// TestManager_ReuseStoreOutageRecorded: a retired refresh token replayed
// outside the reuse interval is theft even when the store fails to end
// what it should end (the session, or the successor of a session rotated
// since, which takes listing the subject's sessions first): the
// session.refresh_token_reused event is recorded without the revocation,
// Refresh answers ErrRefreshReused, not a revoked session's answer, and
// RevokeToken (RFC 7009) answers the store's ErrStoreUnavailable.
func TestManager_ReuseStoreOutageRecorded(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		rotate bool // the session was rotated before the replay
		// fail breaks st, given the replayed token's session and, after a
		// rotation, its successor.
		fail func(st *outageStore, session, successor sessiond.SessionID)
	}{
		{"revoking the session fails", false, func(st *outageStore, s, _ sessiond.SessionID) { st.failRevoke = s }},
		{"revoking the rotated session's successor fails", true, func(st *outageStore, _, succ sessiond.SessionID) { st.failRevoke = succ }},
		{"listing the rotated session's successors fails", true, func(st *outageStore, _, _ sessiond.SessionID) { st.failList = true }},
	} {
		for _, op := range []struct {
			name string
			do   func(m *sessiond.Manager, tok sessiond.Secret) error
			want error
		}{
			{"Refresh", func(m *sessiond.Manager, tok sessiond.Secret) error {
				_, err := m.Refresh(ctx, tok, sessiond.Client{IP: "192.0.2.66"})
				return err
			}, sessiond.ErrRefreshReused},
			{"RevokeToken", func(m *sessiond.Manager, tok sessiond.Secret) error {
				return m.RevokeToken(ctx, tok)
			}, sessiond.ErrStoreUnavailable},
		} {
			t.Run(tc.name+"/"+op.name, func(t *testing.T) {
				st := &outageStore{Store: memstore.New()}
				h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st })
				login := h.create(t, "reuse-outage", sessiond.CreateOptions{})
				next, err := h.m.Refresh(ctx, login.RefreshToken, sessiond.Client{})
				if err != nil {
					t.Fatal(err)
				}
				h.clock.Advance(10 * time.Second) // past the 5 s reuse interval
				var succ sessiond.SessionID
				if tc.rotate {
					iss, err := h.m.Rotate(ctx, next.Session.ID)
					if err != nil {
						t.Fatal(err)
					}
					succ = iss.Session.ID
					h.clock.Advance(10 * time.Second)
				}
				tc.fail(st, login.Session.ID, succ)
				err = op.do(h.m, login.RefreshToken)
				if !errors.Is(err, op.want) {
					t.Errorf("%s(retired token) with the store failing = %v; want %v", op.name, err, op.want)
				}
				if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
					t.Errorf("%d %s events with the store failing; want 1, recorded without the revocation", n, sessiond.EventRefreshReused)
				}
			})
		}
	}
}
