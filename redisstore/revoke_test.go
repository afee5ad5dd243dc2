package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_RevokeKilledAfterScript: on a single Redis a revocation is
// revoked, entered in the revocation index, taken out of the live indexes
// and published by one script. A node that stops as soon as that script
// answers (KillAfterRevoke: as if killed then, sending nothing more) has
// still told every other node: the second store on the prefix hears it on
// the feed and finds it in Revocations (what its Resync reads), and
// CountLive no longer counts it. Each case revokes hybrid sessions, whose
// access tokens only the feed and Revocations stop on other nodes (a
// session created revoked is published as a revocation too).
func TestStore_RevokeKilledAfterScript(t *testing.T) {
	singleRedis(t)
	t.Parallel()
	// The subject needs JSON escaping in the feed message.
	const subject = `al"ice/é <\x>`
	type fixture struct {
		st       *redisstore.Store
		t0, at   time.Time
		sessions []*sessiond.Session // the subject's, created at t0
	}
	revoked := func(f fixture, reason sessiond.RevokeReason, ss ...*sessiond.Session) []sessiond.Revocation {
		out := make([]sessiond.Revocation, len(ss))
		for i, s := range ss {
			out[i] = sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: f.at, ExpiresAt: s.ExpiresAt, Reason: reason}
		}
		return out
	}
	event := func(at time.Time, id sessiond.SessionID) sessiond.ChangeRecords {
		return sessiond.ChangeRecords{Events: []sessiond.Event{{ID: sessiond.NewEventID(at), Time: at,
			Type: sessiond.EventSessionRevoked, Subject: subject, SessionID: id}}}
	}
	hybrid := func(created time.Time) *sessiond.Session {
		s := newSession(subject, created)
		s.Strategy = sessiond.StrategyHybrid
		return s
	}
	tests := []struct {
		name     string
		sessions int
		// revoke makes the change and returns what it revoked, its error
		// and the number of events it writes with it.
		revoke func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error)
		live   int // hybrid sessions CountLive finds after it
	}{
		{"Revoke", 1, func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error) {
			_, err := f.st.Revoke(ctx, f.sessions[0].ID, f.at, sessiond.ReasonLogout)
			return revoked(f, sessiond.ReasonLogout, f.sessions[0]), 0, err
		}, 0},
		{"RevokeRecorded", 1, func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error) {
			_, _, err := f.st.RevokeRecorded(ctx, f.sessions[0].ID, f.at, sessiond.ReasonLogout,
				func(s *sessiond.Session) sessiond.ChangeRecords { return event(f.at, s.ID) })
			return revoked(f, sessiond.ReasonLogout, f.sessions[0]), 1, err
		}, 0},
		{"RevokeSubject", 3, func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error) {
			_, err := f.st.RevokeSubject(ctx, subject, f.sessions[2].ID, f.at, sessiond.ReasonAdmin)
			return revoked(f, sessiond.ReasonAdmin, f.sessions[:2]...), 0, err
		}, 1},
		{"RevokeSubjectRecorded", 2, func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error) {
			_, err := f.st.RevokeSubjectRecorded(ctx, subject, "", f.at, sessiond.ReasonAdmin,
				func(revs []sessiond.Revocation) sessiond.ChangeRecords { return event(f.at, "") })
			return revoked(f, sessiond.ReasonAdmin, f.sessions...), 1, err
		}, 0},
		{"CreateLimited", 2, func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error) {
			// A login at at evicts the least recently active sessions.
			_, err := f.st.CreateLimited(ctx, hybrid(f.at), 2, true)
			return revoked(f, sessiond.ReasonLimit, f.sessions[0]), 0, err
		}, 2},
		{"CreateRecorded", 2, func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error) {
			_, err := f.st.CreateRecorded(ctx, hybrid(f.at), 1, true, sessiond.ChangeRecords{},
				func(r sessiond.Revocation) sessiond.ChangeRecords { return event(f.at, r.SessionID) })
			return revoked(f, sessiond.ReasonLimit, f.sessions...), 2, err
		}, 1},
		{"CreateRevoked", 0, func(ctx context.Context, f fixture) ([]sessiond.Revocation, int, error) {
			s := hybrid(f.t0)
			s.RevokedAt, s.RevokeReason = f.at, sessiond.ReasonAdmin
			err := f.st.Create(ctx, s)
			return revoked(f, sessiond.ReasonAdmin, s), 0, err
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			prefix := randomPrefix()
			st := newStore(t, redisstore.Options{Prefix: prefix})
			other := newStore(t, redisstore.Options{Prefix: prefix}) // another node
			heard := make(chan sessiond.Revocation, 16)
			if err := other.SubscribeRevocations(ctx, func(r sessiond.Revocation) { heard <- r }, nil); err != nil {
				t.Fatalf("SubscribeRevocations() = %v", err)
			}
			f := fixture{st: st, t0: now()}
			f.at = f.t0.Add(time.Second)
			for i := range tt.sessions {
				s := hybrid(f.t0)
				s.LastActiveAt = f.t0.Add(time.Duration(i) * time.Millisecond) // the first is the least recently active
				if err := st.Create(ctx, s); err != nil {
					t.Fatalf("Create() = %v", err)
				}
				f.sessions = append(f.sessions, s)
			}
			redisstore.KillAfterRevoke(st)
			want, events, err := tt.revoke(ctx, f)
			if !errors.Is(err, redisstore.ErrKilled) {
				t.Fatalf("%s() = %v; want ErrKilled, right after its script", tt.name, err)
			}

			pending := slices.Clone(want)
			timeout := time.After(2 * time.Second)
		feed:
			for len(pending) > 0 {
				select {
				case r := <-heard:
					if i := slices.IndexFunc(pending, func(w sessiond.Revocation) bool { return revocationEqual(r, w) }); i >= 0 {
						pending = slices.Delete(pending, i, i+1)
					} else {
						t.Errorf("feed delivered %+v; want one of %+v", r, pending)
					}
				case <-timeout:
					t.Errorf("feed: %d of %d revocations not heard by the other node within 2s: %+v", len(pending), len(want), pending)
					break feed
				}
			}
			got, err := other.Revocations(ctx, f.t0)
			if err != nil {
				t.Fatalf("Revocations() = %v", err)
			}
			for _, w := range want {
				if !slices.ContainsFunc(got, func(r sessiond.Revocation) bool { return revocationEqual(r, w) }) {
					t.Errorf("Revocations() = %+v; want %+v among them", got, w)
				}
			}
			if live, err := other.CountLive(ctx, f.at); err != nil || live[sessiond.StrategyHybrid] != tt.live {
				t.Errorf("CountLive() = %v, %v; want %d hybrid", live, err, tt.live)
			}
			if evs, _, err := other.QueryEvents(ctx, sessiond.EventQuery{}); err != nil || len(evs) != events {
				t.Errorf("QueryEvents() = %d events, %v; want %d (written with the change)", len(evs), err, events)
			}
		})
	}
}

// TestStore_RevokeRecordsAgain: a session revoked in its hash but never
// recorded (as a node on a Cluster killed between the revocation and its
// record leaves it, or a redisstore before the one-script revocation) is
// recorded and published by the next Revoke, once: a third Revoke
// publishes nothing.
func TestStore_RevokeRecordsAgain(t *testing.T) {
	singleRedis(t)
	t.Parallel()
	ctx := t.Context()
	prefix := randomPrefix()
	killed := newStore(t, redisstore.Options{Prefix: prefix})
	redisstore.BatchBySlot(killed) // the Cluster's path: revoke, then record
	st := newStore(t, redisstore.Options{Prefix: prefix})
	heard := make(chan sessiond.Revocation, 16)
	if err := st.SubscribeRevocations(ctx, func(r sessiond.Revocation) { heard <- r }, nil); err != nil {
		t.Fatalf("SubscribeRevocations() = %v", err)
	}
	t0 := now()
	s := newSession("dave", t0)
	s.Strategy = sessiond.StrategyHybrid
	if err := st.Create(ctx, s); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	redisstore.KillAfterRevoke(killed)
	at := t0.Add(time.Second)
	if _, err := killed.Revoke(ctx, s.ID, at, sessiond.ReasonLogout); !errors.Is(err, redisstore.ErrKilled) {
		t.Fatalf("Revoke(killed node) = %v; want ErrKilled", err)
	}
	if got, err := st.Revocations(ctx, t0); err != nil || len(got) != 0 {
		t.Fatalf("Revocations() = %+v, %v; want none: the killed node recorded nothing", got, err)
	}
	want := sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: at, ExpiresAt: s.ExpiresAt, Reason: sessiond.ReasonLogout}
	for range 2 {
		got, err := st.Revoke(ctx, s.ID, at.Add(time.Minute), sessiond.ReasonAdmin)
		if err != nil || !got.RevokedAt.Equal(at) || got.RevokeReason != sessiond.ReasonLogout {
			t.Fatalf("Revoke(again) = %+v, %v; want the session as first revoked", got, err)
		}
	}
	select {
	case r := <-heard:
		if !revocationEqual(r, want) {
			t.Errorf("feed delivered %+v; want %+v", r, want)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("feed: the revocation recorded again was not published within 2s")
	}
	select {
	case r := <-heard:
		t.Errorf("feed delivered %+v again; want it published once", r)
	case <-time.After(100 * time.Millisecond):
	}
	if got, err := st.Revocations(ctx, t0); err != nil || len(got) != 1 || !revocationEqual(got[0], want) {
		t.Errorf("Revocations() = %+v, %v; want [%+v]", got, err, want)
	}
	if live, err := st.CountLive(ctx, at); err != nil || live[sessiond.StrategyHybrid] != 0 {
		t.Errorf("CountLive() = %v, %v; want no hybrid session", live, err)
	}
}
