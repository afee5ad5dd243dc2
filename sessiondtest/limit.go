package sessiondtest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestLimiter checks sessiond.Limiter, failing at once if newStore's stores
// do not implement it. TestStore runs it when they do.
func TestLimiter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	tests := []subtest[sessiond.Limiter]{
		{"UnderLimit", limitUnderLimit},
		{"EvictLeastRecentlyActive", limitEvictLeastRecentlyActive},
		{"Reject", limitReject},
		{"IgnoresDeadSessions", limitIgnoresDeadSessions},
		{"ConflictEvictsNothing", limitConflictEvictsNothing},
		{"Single", limitSingle},
		{"Lowered", func(t *testing.T, f *fixture, l sessiond.Limiter) { limitLowered(t, f, l, 5) }},
		{"LoweredSingle", func(t *testing.T, f *fixture, l sessiond.Limiter) { limitLowered(t, f, l, 1) }},
	}
	for _, evict := range []bool{true, false} {
		tests = append(tests, subtest[sessiond.Limiter]{fmt.Sprintf("Concurrent20Max3Evict=%v", evict), func(t *testing.T, f *fixture, l sessiond.Limiter) {
			limitConcurrent(t, f, l, evict)
		}})
	}
	runSuite(t, newStore, tests)
}

func limitUnderLimit(t *testing.T, f *fixture, l sessiond.Limiter) {
	s := NewSession("alice", t0)
	revs, err := l.CreateLimited(f.ctx, clone(s), 3, true, NewToken(sessiond.KindAccess, s.ID, t0))
	if err != nil || len(revs) != 0 {
		t.Fatalf("CreateLimited under the limit = %v, %v; want no evictions", revs, err)
	}
	f.wantSession(s)
}

func limitEvictLeastRecentlyActive(t *testing.T, f *fixture, l sessiond.Limiter) {
	var ss []*sessiond.Session
	for i := range 3 {
		s := NewSession("alice", at(time.Duration(i)*time.Minute))
		// The oldest session was active most recently: eviction goes by activity.
		s.LastActiveAt = at(time.Duration(10-i) * time.Minute)
		f.create(clone(s))
		ss = append(ss, s)
	}
	other := NewSession("bob", t0)
	f.create(clone(other))
	n := NewSession("alice", at(20*time.Minute))
	revs, err := l.CreateLimited(f.ctx, clone(n), 3, true)
	if err != nil {
		t.Fatalf("CreateLimited = %v", err)
	}
	if len(revs) != 1 || revs[0].SessionID != ss[2].ID || revs[0].Reason != sessiond.ReasonLimit {
		t.Fatalf("CreateLimited evicted %+v; want the least recently active %s with reason limit", revs, ss[2].ID)
	}
	// The Manager feeds what CreateLimited returns to its revoked set,
	// which keeps an entry until the evicted session's own absolute
	// expiry at most: a wrong expiry lets its access tokens verify again.
	checkRevocations(t, "CreateLimited's evictions", revs, []sessiond.Revocation{revocation(ss[2], n.CreatedAt, sessiond.ReasonLimit)})
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
}

func limitReject(t *testing.T, f *fixture, l sessiond.Limiter) {
	for range 2 {
		f.create(NewSession("alice", t0))
	}
	n := NewSession("alice", at(time.Minute))
	tok := NewToken(sessiond.KindAccess, n.ID, n.CreatedAt)
	_, err := l.CreateLimited(f.ctx, clone(n), 2, false, tok)
	wantErr(t, "CreateLimited over the limit", err, sessiond.ErrLimitReached)
	f.wantGone(n.ID)
	f.wantNoToken(tok.Hash)
	// A refused login revokes nothing: the sessions it found stay live.
	if live, err := f.st.List(f.ctx, "alice", n.CreatedAt); err != nil || len(live) != 2 {
		t.Errorf("after CreateLimited refused a login: %d live, %v; want the 2 sessions it found", len(live), err)
	}
}

// limitConflictEvictsNothing: a login the store refuses (its token's hash
// is taken) evicts nothing, as it stores nothing: the Manager reports the
// error and never hears of, records or spreads evictions it did not get.
func limitConflictEvictsNothing(t *testing.T, f *fixture, l sessiond.Limiter) {
	old := NewSession("alice", t0)
	taken := NewToken(sessiond.KindAccess, old.ID, t0)
	f.create(clone(old), taken)
	f.create(NewSession("alice", t0))
	n := NewSession("alice", at(time.Minute))
	tok := taken
	tok.SessionID = n.ID
	revs, err := l.CreateLimited(f.ctx, clone(n), 2, true, tok)
	wantErr(t, "CreateLimited(a token hash taken)", err, sessiond.ErrConflict)
	f.wantGone(n.ID)
	if live, err := f.st.List(f.ctx, "alice", n.CreatedAt); err != nil || len(live) != 2 || len(revs) != 0 {
		t.Errorf("after CreateLimited refused a conflicting login: %d live, %v, %d evictions returned; want the 2 sessions it found, none evicted",
			len(live), err, len(revs))
	}
}

func limitIgnoresDeadSessions(t *testing.T, f *fixture, l sessiond.Limiter) {
	dead := NewSession("alice", t0)
	f.create(clone(dead))
	f.revoke(dead.ID, at(time.Second), sessiond.ReasonLogout)
	idle := NewSession("alice", t0) // idle-expired by the time of the new login
	f.create(clone(idle))
	n := NewSession("alice", at(time.Hour))
	if _, err := l.CreateLimited(f.ctx, clone(n), 1, false); err != nil {
		t.Fatalf("CreateLimited with only dead sessions = %v; want nil", err)
	}
}

func limitSingle(t *testing.T, f *fixture, l sessiond.Limiter) {
	for range 4 {
		f.create(NewSession("alice", t0))
	}
	n := NewSession("alice", at(time.Minute))
	revs, err := l.CreateLimited(f.ctx, clone(n), 1, true)
	if err != nil || len(revs) != 4 {
		t.Fatalf("CreateLimited single = %d revoked, %v; want 4", len(revs), err)
	}
	live, _ := f.st.List(f.ctx, "alice", at(time.Minute))
	if len(live) != 1 || live[0].ID != n.ID {
		t.Errorf("live = %v; want only the new session", ids(live))
	}
}

// limitConcurrent runs 20 concurrent logins for one subject with max 3.
func limitConcurrent(t *testing.T, f *fixture, l sessiond.Limiter, evict bool) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := NewSession("alice", at(time.Duration(i)*time.Millisecond))
			_, err := l.CreateLimited(f.ctx, s, 3, evict, NewToken(sessiond.KindAccess, s.ID, s.CreatedAt))
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
}

// limitLowered is a limit lowered under a subject that has far more live
// sessions: one login evicts at most sessiond.MaxLimitEvictions (the least
// recently active), and the next ones the rest, until max remain.
func limitLowered(t *testing.T, f *fixture, l sessiond.Limiter, max int) {
	const extra = 10
	total := sessiond.MaxLimitEvictions + max + extra
	var ss []*sessiond.Session
	for i := range total {
		s := NewSession("alice", t0)
		s.LastActiveAt = at(time.Duration(i) * time.Millisecond)
		f.create(clone(s))
		ss = append(ss, s)
	}
	login := at(time.Minute)
	n := NewSession("alice", login)
	n.LastActiveAt = login
	revs, err := l.CreateLimited(f.ctx, clone(n), max, true)
	if err != nil || len(revs) != sessiond.MaxLimitEvictions {
		t.Fatalf("CreateLimited(max %d) with %d live = %d evicted, %v; want %d", max, total, len(revs), err, sessiond.MaxLimitEvictions)
	}
	for i, r := range revs {
		if r.SessionID != ss[i].ID || r.Reason != sessiond.ReasonLimit {
			t.Fatalf("eviction %d = %s (%q); want the least recently active %s (limit)", i, r.SessionID, r.Reason, ss[i].ID)
		}
	}
	live, _ := f.st.List(f.ctx, "alice", login)
	if want := total + 1 - sessiond.MaxLimitEvictions; len(live) != want {
		t.Fatalf("%d live after the first login; want %d", len(live), want)
	}
	n2 := NewSession("alice", login.Add(time.Second))
	n2.LastActiveAt = n2.CreatedAt
	revs, err = l.CreateLimited(f.ctx, clone(n2), max, true)
	if want := extra + 2; err != nil || len(revs) != want {
		t.Fatalf("second CreateLimited = %d evicted, %v; want %d", len(revs), err, want)
	}
	live, _ = f.st.List(f.ctx, "alice", n2.CreatedAt)
	if len(live) != max {
		t.Errorf("%d live after the second login; want %d", len(live), max)
	}
}
