package sessiondtest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// testLimiter checks sessiond.Limiter. Every store sessiond ships must
// implement it: concurrent-session control has to hold on every backend.
func testLimiter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	limiter := func(f *fixture) sessiond.Limiter {
		l, ok := f.st.(sessiond.Limiter)
		if !ok {
			f.t.Fatalf("%T does not implement sessiond.Limiter", f.st)
		}
		return l
	}
	t.Run("UnderLimit", func(t *testing.T) {
		f := setup(t, newStore)
		l := limiter(f)
		s := newSession("alice", t0)
		revs, err := l.CreateLimited(f.ctx, clone(s), 3, true, newToken(sessiond.KindAccess, s.ID, t0))
		if err != nil || len(revs) != 0 {
			t.Fatalf("CreateLimited under the limit = %v, %v; want no evictions", revs, err)
		}
		f.wantSession(s)
	})
	t.Run("EvictLeastRecentlyActive", func(t *testing.T) {
		f := setup(t, newStore)
		l := limiter(f)
		var ss []*sessiond.Session
		for i := range 3 {
			s := newSession("alice", at(time.Duration(i)*time.Minute))
			// The oldest session was active most recently: eviction goes by activity.
			s.LastActiveAt = at(time.Duration(10-i) * time.Minute)
			f.create(clone(s))
			ss = append(ss, s)
		}
		other := newSession("bob", t0)
		f.create(clone(other))
		n := newSession("alice", at(20*time.Minute))
		revs, err := l.CreateLimited(f.ctx, clone(n), 3, true)
		if err != nil {
			t.Fatalf("CreateLimited = %v", err)
		}
		if len(revs) != 1 || revs[0].SessionID != ss[2].ID || revs[0].Reason != sessiond.ReasonLimit {
			t.Fatalf("CreateLimited evicted %+v; want the least recently active %s with reason limit", revs, ss[2].ID)
		}
		if got := f.get(ss[2].ID); !got.RevokedAt.Equal(n.CreatedAt) || got.RevokeReason != sessiond.ReasonLimit {
			t.Errorf("evicted session RevokedAt=%v reason=%q; want %v limit", got.RevokedAt, got.RevokeReason, n.CreatedAt)
		}
		live, _ := f.st.List(f.ctx, "alice", at(20*time.Minute))
		if len(live) != 3 {
			t.Errorf("live sessions = %d; want 3", len(live))
		}
		if f.get(other.ID).Revoked() {
			t.Error("another subject's session was evicted")
		}
	})
	t.Run("Reject", func(t *testing.T) {
		f := setup(t, newStore)
		l := limiter(f)
		for range 2 {
			f.create(newSession("alice", t0))
		}
		n := newSession("alice", at(time.Minute))
		tok := newToken(sessiond.KindAccess, n.ID, n.CreatedAt)
		_, err := l.CreateLimited(f.ctx, clone(n), 2, false, tok)
		wantErr(t, "CreateLimited over the limit", err, sessiond.ErrLimitReached)
		f.wantGone(n.ID)
		f.wantNoToken(tok.Hash)
	})
	t.Run("IgnoresDeadSessions", func(t *testing.T) {
		f := setup(t, newStore)
		l := limiter(f)
		dead := newSession("alice", t0)
		f.create(clone(dead))
		if _, err := f.st.Revoke(f.ctx, dead.ID, at(time.Second), sessiond.ReasonLogout); err != nil {
			t.Fatal(err)
		}
		idle := newSession("alice", t0) // idle-expired by the time of the new login
		f.create(clone(idle))
		n := newSession("alice", at(time.Hour))
		if _, err := l.CreateLimited(f.ctx, clone(n), 1, false); err != nil {
			t.Fatalf("CreateLimited with only dead sessions = %v; want nil", err)
		}
	})
	t.Run("Single", func(t *testing.T) {
		f := setup(t, newStore)
		l := limiter(f)
		for range 4 {
			f.create(newSession("alice", t0))
		}
		n := newSession("alice", at(time.Minute))
		revs, err := l.CreateLimited(f.ctx, clone(n), 1, true)
		if err != nil || len(revs) != 4 {
			t.Fatalf("CreateLimited single = %d revoked, %v; want 4", len(revs), err)
		}
		live, _ := f.st.List(f.ctx, "alice", at(time.Minute))
		if len(live) != 1 || live[0].ID != n.ID {
			t.Errorf("live = %v; want only the new session", ids(live))
		}
	})
	for _, evict := range []bool{true, false} {
		t.Run(fmt.Sprintf("Concurrent20Max3Evict=%v", evict), func(t *testing.T) {
			f := setup(t, newStore)
			l := limiter(f)
			var wg sync.WaitGroup
			var mu sync.Mutex
			created, refused := 0, 0
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := newSession("alice", at(time.Duration(i)*time.Millisecond))
					_, err := l.CreateLimited(f.ctx, s, 3, evict, newToken(sessiond.KindAccess, s.ID, s.CreatedAt))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						created++
					case errors.Is(err, sessiond.ErrLimitReached) && !evict:
						refused++
					default:
						t.Errorf("CreateLimited = %v", err)
					}
				}()
			}
			wg.Wait()
			live, err := f.st.List(f.ctx, "alice", at(time.Second))
			if err != nil || len(live) != 3 {
				t.Fatalf("after 20 concurrent logins with max 3: %d live, %v; want exactly 3", len(live), err)
			}
			if !evict && (created != 3 || refused != 17) {
				t.Errorf("created=%d refused=%d; want 3 and 17", created, refused)
			}
			if evict && created != 20 {
				t.Errorf("created=%d; want all 20 (evicting)", created)
			}
		})
	}
}

// testMeta checks sessiond.MetaStore, which every shipped store implements
// so a cluster shares one signing key ring and one set of API keys.
func testMeta(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	meta := func(f *fixture) sessiond.MetaStore {
		m, ok := f.st.(sessiond.MetaStore)
		if !ok {
			f.t.Fatalf("%T does not implement sessiond.MetaStore", f.st)
		}
		return m
	}
	t.Run("RoundTripAndCAS", func(t *testing.T) {
		f := setup(t, newStore)
		m := meta(f)
		_, _, err := m.GetMeta(f.ctx, "keys")
		wantErr(t, "GetMeta(missing)", err, sessiond.ErrNotFound)
		v1, err := m.PutMeta(f.ctx, "keys", []byte(`{"a":1}`), 0)
		if err != nil || v1 == 0 {
			t.Fatalf("PutMeta(new) = %d, %v", v1, err)
		}
		_, err = m.PutMeta(f.ctx, "keys", []byte(`{"a":2}`), 0)
		wantErr(t, "PutMeta(exists, version 0)", err, sessiond.ErrConflict)
		v2, err := m.PutMeta(f.ctx, "keys", []byte(`{"a":3}`), v1)
		if err != nil || v2 == v1 {
			t.Fatalf("PutMeta(v1) = %d, %v; want a new version", v2, err)
		}
		_, err = m.PutMeta(f.ctx, "keys", []byte(`{"a":4}`), v1)
		wantErr(t, "PutMeta(stale version)", err, sessiond.ErrConflict)
		got, v, err := m.GetMeta(f.ctx, "keys")
		if err != nil || v != v2 || string(got) != `{"a":3}` {
			t.Fatalf("GetMeta = %s, %d, %v; want {\"a\":3}, %d", got, v, err, v2)
		}
		if _, _, err := m.GetMeta(f.ctx, "other"); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("documents are not independent: %v", err)
		}
	})
	t.Run("ConcurrentCAS", func(t *testing.T) {
		f := setup(t, newStore)
		m := meta(f)
		v, err := m.PutMeta(f.ctx, "ring", []byte("0"), 0)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := m.PutMeta(f.ctx, "ring", []byte(fmt.Sprint(i)), v)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else if !errors.Is(err, sessiond.ErrConflict) {
					t.Errorf("PutMeta = %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d concurrent PutMeta with one version won; want exactly 1", wins)
		}
	})
}

// testLiveCounter checks sessiond.LiveCounter (the active-sessions gauge).
func testLiveCounter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	f := setup(t, newStore)
	lc, ok := f.st.(sessiond.LiveCounter)
	if !ok {
		t.Fatalf("%T does not implement sessiond.LiveCounter", f.st)
	}
	for i, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		s := newSession(fmt.Sprintf("u%d", i), t0)
		s.Strategy = st
		f.create(s)
	}
	gone := newSession("u9", t0)
	f.create(clone(gone))
	if _, err := f.st.Revoke(f.ctx, gone.ID, at(time.Second), sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	got, err := lc.CountLive(f.ctx, at(time.Minute))
	if err != nil || got[sessiond.StrategyDatabase] != 2 || got[sessiond.StrategyHybrid] != 1 || got[sessiond.StrategyJWT] != 0 {
		t.Fatalf("CountLive = %v, %v; want database 2 (one revoked not counted), hybrid 1", got, err)
	}
	if got, _ := lc.CountLive(f.ctx, at(31*time.Minute)); got[sessiond.StrategyDatabase]+got[sessiond.StrategyHybrid] != 0 {
		t.Errorf("CountLive after the idle expiry = %v; want none", got)
	}
}
