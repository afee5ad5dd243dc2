package redisstore_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_CountLive follows the live count through everything that
// changes it: a touch moving the idle expiry later (and one from a node
// whose clock is behind, which does not move it back), a refresh, each
// kind of revocation, absolute expiry and garbage collection.
func TestStore_CountLive(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	ctx := t.Context()
	t0 := now()
	count := func(at time.Time) map[sessiond.Strategy]int {
		t.Helper()
		got, err := st.CountLive(ctx, at)
		if err != nil {
			t.Fatalf("CountLive(%v) = %v", at, err)
		}
		for k, v := range got {
			if v == 0 {
				delete(got, k)
			}
		}
		return got
	}
	want := func(what string, at time.Time, db, hybrid int) {
		t.Helper()
		w := map[sessiond.Strategy]int{}
		if db > 0 {
			w[sessiond.StrategyDatabase] = db
		}
		if hybrid > 0 {
			w[sessiond.StrategyHybrid] = hybrid
		}
		if got := count(at); !mapsEqual(got, w) {
			t.Errorf("%s: CountLive(t0+%v) = %v; want %v", what, at.Sub(t0), got, w)
		}
	}
	create := func(subject string, strategy sessiond.Strategy, tokens ...sessiond.Token) *sessiond.Session {
		t.Helper()
		s := newSession(subject, t0)
		s.Strategy = strategy
		for i := range tokens {
			tokens[i].SessionID = s.ID
		}
		if err := st.Create(ctx, s, tokens...); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		return s
	}
	if got := count(t0); len(got) != 0 {
		t.Errorf("CountLive on an empty store = %v; want none", got)
	}

	touched := create("alice", sessiond.StrategyDatabase)
	behind := create("alice", sessiond.StrategyDatabase)
	refreshTok := newToken(sessiond.KindRefresh, "", t0)
	refreshed := create("bob", sessiond.StrategyHybrid, refreshTok)
	create("bob", sessiond.StrategyHybrid)
	revoked := create("carol", sessiond.StrategyHybrid)
	dead := newSession("carol", t0)
	dead.RevokedAt, dead.RevokeReason = t0, sessiond.ReasonAdmin
	if err := st.Create(ctx, dead); err != nil {
		t.Fatalf("Create(revoked) = %v", err)
	}
	want("created", t0, 2, 3)

	// Idle expiry is t0+30m, absolute t0+8h (newSession).
	if err := st.Touch(ctx, touched.ID, t0.Add(20*time.Minute), t0.Add(50*time.Minute)); err != nil {
		t.Fatalf("Touch() = %v", err)
	}
	if err := st.Touch(ctx, behind.ID, t0.Add(time.Minute), t0.Add(10*time.Minute)); err != nil {
		t.Fatalf("Touch() = %v", err)
	}
	next := newToken(sessiond.KindRefresh, refreshed.ID, t0.Add(time.Minute))
	if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: refreshTok.Hash, Next: next, Now: t0.Add(time.Minute),
		GraceSince: t0.Add(time.Minute), LastActiveAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(40 * time.Minute)}); err != nil {
		t.Fatalf("SwapRefresh() = %v", err)
	}
	if _, err := st.Revoke(ctx, revoked.ID, t0.Add(time.Minute), sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	want("at t0+5m", t0.Add(5*time.Minute), 2, 2)
	want("idle expiry given from behind passed", t0.Add(15*time.Minute), 2, 2)
	want("original idle expiry passed", t0.Add(35*time.Minute), 1, 1)
	want("refreshed idle expiry passed", t0.Add(45*time.Minute), 1, 0)
	want("touched idle expiry passed", t0.Add(55*time.Minute), 0, 0)

	// Revocations of every kind leave the count at once.
	for range 3 {
		create("dave", sessiond.StrategyDatabase)
	}
	want("dave's", t0, 5, 2)
	if _, err := st.RevokeSubject(ctx, "dave", "", t0, sessiond.ReasonAdmin); err != nil {
		t.Fatalf("RevokeSubject() = %v", err)
	}
	want("RevokeSubject", t0, 2, 2)
	for range 2 {
		create("erin", sessiond.StrategyHybrid)
	}
	extra := newSession("erin", t0)
	extra.Strategy = sessiond.StrategyHybrid
	if evicted, err := st.CreateLimited(ctx, extra, 1, true); err != nil || len(evicted) != 2 {
		t.Fatalf("CreateLimited(max 1) = %d evicted, %v; want 2", len(evicted), err)
	}
	want("CreateLimited", t0, 2, 3)
	if n, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"bob"}}, t0, sessiond.ReasonIncident); err != nil || n != 2 {
		t.Fatalf("RevokeMatching(bob) = %d, %v; want 2", n, err)
	}
	want("RevokeMatching", t0, 2, 1)
	want("absolute expiry", t0.Add(8*time.Hour), 0, 0)

	// DeleteExpired takes idle-expired sessions out (their entries go).
	if n, err := st.DeleteExpired(ctx, t0.Add(35*time.Minute), 100); err != nil || n != 10 {
		t.Fatalf("DeleteExpired(t0+35m) = %d, %v; want 10 (all but touched and refreshed)", n, err)
	}
	want("after DeleteExpired", t0, 1, 0)
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
