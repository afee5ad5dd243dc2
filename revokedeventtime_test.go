package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// slowWrites is a memory store whose revoking writes take writeDelay on
// the Manager's clock, as a database's do under load: the revocation time
// is the one the Manager passed in, and anything stamped after the write
// began is later.
type slowWrites struct {
	*memstore.Store
	clock *sessiondtest.Clock
}

const writeDelay = 7800 * time.Microsecond

func (s slowWrites) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	s.clock.Advance(writeDelay)
	return s.Store.RevokeRecorded(ctx, id, at, reason, revoked)
}

func (s slowWrites) RevokeSubjectRecorded(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, revoked func([]sessiond.Revocation) sessiond.ChangeRecords) ([]sessiond.Revocation, error) {
	s.clock.Advance(writeDelay)
	return s.Store.RevokeSubjectRecorded(ctx, subject, except, at, reason, revoked)
}

func (s slowWrites) CreateRecorded(ctx context.Context, sess *sessiond.Session, max int, evict bool, rec sessiond.ChangeRecords,
	evicted func(sessiond.Revocation) sessiond.ChangeRecords, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	s.clock.Advance(writeDelay)
	return s.Store.CreateRecorded(ctx, sess, max, evict, rec, evicted, tokens...)
}

// TestManager_RevokedEventTime: a session.revoked event carries the
// revocation's time as the store holds it (details.revoked_at), however
// long the write took, on every path that revokes a session one at a
// time, and keeps its own time as when it was recorded, not before the
// write (the stream reads the log by time, allowing Settle after it). The
// revocation stream sends a revocation from the store's feed (the store's
// time) and again from the event log, and the snapshot gives the store's:
// one revocation must carry one revoked_at.
func TestManager_RevokedEventTime(t *testing.T) {
	tests := []struct {
		name string
		// revoke ends at least one session of subject "alice" and
		// returns the IDs of the sessions it ended.
		revoke func(t *testing.T, m *sessiond.Manager, clock *sessiondtest.Clock) []sessiond.SessionID
	}{
		{"Logout", func(t *testing.T, m *sessiond.Manager, _ *sessiondtest.Clock) []sessiond.SessionID {
			iss := createFor(t, m, "alice")
			if err := m.Revoke(t.Context(), iss.Session.ID, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{iss.Session.ID}
		}},
		{"RevokeSubject", func(t *testing.T, m *sessiond.Manager, _ *sessiondtest.Clock) []sessiond.SessionID {
			a, b := createFor(t, m, "alice"), createFor(t, m, "alice")
			if n, err := m.RevokeSubject(t.Context(), "alice", "", sessiond.ReasonAdmin); err != nil || n != 2 {
				t.Fatalf("RevokeSubject = %d, %v; want 2, nil", n, err)
			}
			return []sessiond.SessionID{a.Session.ID, b.Session.ID}
		}},
		{"Rotate", func(t *testing.T, m *sessiond.Manager, _ *sessiondtest.Clock) []sessiond.SessionID {
			iss := createFor(t, m, "alice")
			if _, err := m.Rotate(t.Context(), iss.Session.ID); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{iss.Session.ID}
		}},
		{"RefreshReuse", func(t *testing.T, m *sessiond.Manager, clock *sessiondtest.Clock) []sessiond.SessionID {
			iss := createFor(t, m, "alice")
			if _, err := m.Refresh(t.Context(), iss.RefreshToken, sessiond.Client{}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour) // past the reuse interval: theft
			if _, err := m.Refresh(t.Context(), iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRefreshReused) {
				t.Fatalf("reused refresh = %v; want ErrRefreshReused", err)
			}
			return []sessiond.SessionID{iss.Session.ID}
		}},
		{"LimitEviction", func(t *testing.T, m *sessiond.Manager, _ *sessiondtest.Clock) []sessiond.SessionID {
			first := createFor(t, m, "alice")
			createFor(t, m, "alice") // MaxSessions 2 below: evicts none
			createFor(t, m, "alice") // evicts first
			return []sessiond.SessionID{first.Session.ID}
		}},
	}
	for _, tt := range tests {
		for _, sc := range sinkCases() {
			t.Run(tt.name+"/"+sc.name, func(t *testing.T) {
				clock := sessiondtest.NewClock(t0)
				store := slowWrites{Store: memstore.New(), clock: clock}
				codec, _ := jwttest.Codec(t, t0, 90*24*time.Hour)
				m := newManager(t, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: store, Signed: codec,
					Opaque: opaquetoken.Codec{}, Clock: clock, Events: sc.sink, GCInterval: -1, MaxSessions: 2}, nil)
				ended := tt.revoke(t, m, clock)

				revs, err := store.Revocations(t.Context(), t0.Add(-time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				revokedAt := map[sessiond.SessionID]time.Time{}
				for _, r := range revs {
					revokedAt[r.SessionID] = r.RevokedAt
				}
				// What the sink saw (carried: Committed after the store
				// wrote it; declined: Record after the change), and what
				// the store's event log holds.
				sc.sink.mu.Lock()
				seen := append(append([]sessiond.Event(nil), sc.sink.committed...), sc.sink.recorded...)
				sc.sink.mu.Unlock()
				logged, _, err := store.QueryEvents(t.Context(), sessiond.EventQuery{Type: sessiond.EventSessionRevoked})
				if err != nil {
					t.Fatal(err)
				}
				for _, sid := range ended {
					want, ok := revokedAt[sid]
					if !ok {
						t.Fatalf("store holds no revocation of %s", sid)
					}
					n := 0
					for _, e := range append(seen, logged...) {
						if e.Type != sessiond.EventSessionRevoked || e.SessionID != sid {
							continue
						}
						n++
						got, _ := e.Details["revoked_at"].(string)
						if at, err := time.Parse(time.RFC3339Nano, got); err != nil || !at.Equal(want) {
							t.Errorf("session.revoked of %s: details.revoked_at = %q; want the store's revocation time %s",
								sid, got, want.Format(time.RFC3339Nano))
						}
						if e.Time.Before(want.Add(writeDelay)) {
							t.Errorf("session.revoked of %s: Time = %s; want when it was recorded, after the %s write from %s",
								sid, e.Time.Format(time.RFC3339Nano), writeDelay, want.Format(time.RFC3339Nano))
						}
					}
					if n == 0 {
						t.Errorf("no session.revoked event of %s", sid)
					}
				}
			})
		}
	}
}

func createFor(t *testing.T, m *sessiond.Manager, subject string) *sessiond.Issued {
	t.Helper()
	iss, err := m.Create(t.Context(), subject, sessiond.CreateOptions{})
	if err != nil {
		t.Fatalf("Create(%q): %v", subject, err)
	}
	return iss
}
