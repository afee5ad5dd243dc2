package sessiondtest

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// activityFixture is a session with one current refresh token, written to
// by Touch and SwapRefresh as nodes whose clocks differ would write it.
type activityFixture struct {
	*fixture
	s   *sessiond.Session
	cur sessiond.Token // the session's current refresh token
}

// activityWrite records activity at last (idle expiry idle) one way.
type activityWrite struct {
	name  string
	write func(f *activityFixture, last, idle time.Time) error
}

var activityWrites = []activityWrite{
	{"Touch", func(f *activityFixture, last, idle time.Time) error {
		return f.st.Touch(f.ctx, f.s.ID, last, idle)
	}},
	{"SwapRefresh", func(f *activityFixture, last, idle time.Time) error {
		next := NewToken(sessiond.KindRefresh, f.s.ID, last)
		err := f.st.SwapRefresh(f.ctx, sessiond.RefreshSwap{
			Old: f.cur.Hash, Next: next, Now: last, GraceSince: last, LastActiveAt: last, IdleExpiresAt: idle,
		})
		if err == nil {
			f.cur = next
		}
		return err
	}},
}

// testActivityNeverBack: activity written by a node whose clock is behind,
// after a node ahead wrote it, leaves the later activity in place, whether
// each wrote it with Touch or SwapRefresh. The session stays live until the
// later idle expiry for Get, List, DeleteExpired and CountLive alike.
func testActivityNeverBack(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	const lag = 10 * time.Second
	behind := at(10 * time.Minute)
	ahead := behind.Add(lag)
	idle := func(last time.Time) time.Time { return last.Add(30 * time.Minute) }
	for _, first := range activityWrites {
		for _, second := range activityWrites {
			t.Run(first.name+"Ahead"+second.name+"Behind", func(t *testing.T) {
				f := setupActivity(t, newStore)
				if err := first.write(f, ahead, idle(ahead)); err != nil {
					t.Fatalf("%s(last active %v) = %v; want nil", first.name, ahead, err)
				}
				if err := second.write(f, behind, idle(behind)); err != nil {
					t.Fatalf("%s(last active %v, %v behind) = %v; want nil", second.name, behind, lag, err)
				}
				f.s.LastActiveAt, f.s.IdleExpiresAt = ahead, idle(ahead)
				f.wantSession(f.s)
				f.wantLive(idle(behind).Add(lag / 2))
			})
		}
	}
}

func setupActivity(t *testing.T, newStore func(t *testing.T) sessiond.Store) *activityFixture {
	t.Helper()
	f := setup(t, newStore)
	s := NewSession("alice", t0)
	cur := NewToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), cur)
	return &activityFixture{fixture: f, s: s, cur: cur}
}

// wantLive checks that f.s counts as live at now: List returns it,
// DeleteExpired keeps it and, when the store has one, the live counter
// counts it.
func (f *activityFixture) wantLive(now time.Time) {
	f.t.Helper()
	list, err := f.st.List(f.ctx, f.s.Subject, now)
	if err != nil || len(list) != 1 || list[0].ID != f.s.ID {
		f.t.Errorf("List(%v) = %d sessions, %v; want %s", now, len(list), err, f.s.ID)
	}
	if lc, ok := f.st.(sessiond.LiveCounter); ok {
		if got, err := lc.CountLive(f.ctx, now); err != nil || got[f.s.Strategy] != 1 {
			f.t.Errorf("CountLive(%v) = %v, %v; want %s 1", now, got, err, f.s.Strategy)
		}
	}
	if n, err := f.st.DeleteExpired(f.ctx, now, 10); err != nil || n != 0 {
		f.t.Errorf("DeleteExpired(%v) = %d, %v; want 0, nil", now, n, err)
	}
	f.get(f.s.ID)
}
