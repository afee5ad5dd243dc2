package redisstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_CreateLimited covers the Limiter, whose atomicity is the
// point: concurrent logins of one subject never overshoot the limit.
func TestStore_CreateLimited(t *testing.T) {
	t.Parallel()
	const logins, max = 20, 3
	concurrent := func(t *testing.T, st *redisstore.Store, evict bool) (ok int, evicted []sessiond.Revocation, errs []error) {
		t0 := now()
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range logins {
			wg.Go(func() {
				s := newSession("alice", t0)
				<-start
				ev, err := st.CreateLimited(t.Context(), s, max, evict, newToken(sessiond.KindAccess, s.ID, t0))
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
					evicted = append(evicted, ev...)
				} else {
					errs = append(errs, err)
				}
			})
		}
		close(start)
		wg.Wait()
		return ok, evicted, errs
	}
	live := func(t *testing.T, st *redisstore.Store) []*sessiond.Session {
		t.Helper()
		got, err := st.List(t.Context(), "alice", now())
		if err != nil {
			t.Fatalf("List() = %v", err)
		}
		return got
	}

	t.Run("ConcurrentEvict", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, redisstore.Options{})
		ok, evicted, errs := concurrent(t, st, true)
		if ok != logins || len(errs) != 0 {
			t.Errorf("%d of %d concurrent CreateLimited(max %d, evict) succeeded, errors %v; want all", ok, logins, max, errs)
		}
		if len(evicted) != logins-max {
			t.Errorf("%d sessions evicted; want %d", len(evicted), logins-max)
		}
		for _, r := range evicted {
			if r.Reason != sessiond.ReasonLimit {
				t.Errorf("eviction reason = %q; want limit", r.Reason)
			}
		}
		if got := live(t, st); len(got) != max {
			t.Errorf("%d live sessions after %d concurrent logins; want %d", len(got), logins, max)
		}
	})
	t.Run("ConcurrentRefuse", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, redisstore.Options{})
		ok, evicted, errs := concurrent(t, st, false)
		if ok != max || len(evicted) != 0 {
			t.Errorf("%d of %d concurrent CreateLimited(max %d, refuse) succeeded with %d evictions; want %d and 0", ok, logins, max, len(evicted), max)
		}
		for _, err := range errs {
			if !errors.Is(err, sessiond.ErrLimitReached) {
				t.Errorf("CreateLimited() = %v; want nil or ErrLimitReached", err)
			}
		}
		if got := live(t, st); len(got) != max {
			t.Errorf("%d live sessions; want %d", len(got), max)
		}
	})
	t.Run("LeastRecentlyActive", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, redisstore.Options{})
		ctx := t.Context()
		t0 := now()
		var ss []*sessiond.Session
		for _, active := range []time.Duration{3, 1, 2} { // minutes after t0
			s := newSession("alice", t0)
			s.LastActiveAt = t0.Add(active * time.Minute)
			if err := st.Create(ctx, s); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			ss = append(ss, s)
		}
		expired := newSession("alice", t0.Add(-9*time.Hour)) // not live: not counted, not evicted
		expired.ExpiresAt = t0.Add(time.Hour)
		expired.IdleExpiresAt = t0.Add(-time.Minute)
		other := newSession("bob", t0)
		for _, s := range []*sessiond.Session{expired, other} {
			if err := st.Create(ctx, s); err != nil {
				t.Fatalf("Create() = %v", err)
			}
		}

		s := newSession("alice", t0.Add(5*time.Minute))
		evicted, err := st.CreateLimited(ctx, s, 3, true)
		if err != nil || len(evicted) != 1 || evicted[0].SessionID != ss[1].ID {
			t.Fatalf("CreateLimited(max 3) evicted %v, %v; want only %s (least recently active)", evicted, err, ss[1].ID)
		}
		want := sessiond.Revocation{SessionID: ss[1].ID, Subject: "alice", RevokedAt: s.CreatedAt, ExpiresAt: ss[1].ExpiresAt, Reason: sessiond.ReasonLimit}
		if got := evicted[0]; got.Subject != want.Subject || !got.RevokedAt.Equal(want.RevokedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || got.Reason != want.Reason {
			t.Errorf("eviction = %+v; want %+v", got, want)
		}
		if got, _ := st.Get(ctx, ss[1].ID); got == nil || got.RevokeReason != sessiond.ReasonLimit || !got.RevokedAt.Equal(s.CreatedAt) {
			t.Errorf("Get(evicted) = %+v; want revoked at %v for limit", got, s.CreatedAt)
		}

		single := newSession("alice", t0.Add(6*time.Minute))
		evicted, err = st.CreateLimited(ctx, single, 1, true)
		if err != nil || len(evicted) != 3 {
			t.Fatalf("CreateLimited(max 1) evicted %d, %v; want the 3 others", len(evicted), err)
		}
		if got, err := st.List(ctx, "alice", single.CreatedAt); err != nil || len(got) != 1 || got[0].ID != single.ID {
			t.Errorf("List(alice) after single-session login = %v, %v; want only %s", got, err, single.ID)
		}
		if got, err := st.List(ctx, "bob", single.CreatedAt); err != nil || len(got) != 1 {
			t.Errorf("List(bob) = %d sessions, %v; want bob's one untouched", len(got), err)
		}
		revs, err := st.Revocations(ctx, s.CreatedAt)
		if err != nil || len(revs) != 4 {
			t.Errorf("Revocations() = %d, %v; want the 4 evictions", len(revs), err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, redisstore.Options{})
		s := newSession("alice", now())
		if _, err := st.CreateLimited(t.Context(), s, 0, true); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("CreateLimited(max 0) = %v; want ErrInvalidArgument", err)
		}
		if err := st.Create(t.Context(), s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		dup := newSession("alice", now())
		dup.ID = s.ID
		if _, err := st.CreateLimited(t.Context(), dup, 5, true); !errors.Is(err, sessiond.ErrConflict) {
			t.Errorf("CreateLimited(existing ID) = %v; want ErrConflict", err)
		}
		if _, err := st.CreateLimited(t.Context(), newSession("alice", now()), 1, false); !errors.Is(err, sessiond.ErrLimitReached) {
			t.Errorf("CreateLimited(max 1, refuse) = %v; want ErrLimitReached", err)
		}
	})
}

// TestStore_CreateLimitedWork checks that what a limited login reads does
// not grow with the subject's history, nor without bound with its live
// sessions: the script reads the subject index, so its size after many
// logins, and which sessions a login can evict, show the work.
func TestStore_CreateLimitedWork(t *testing.T) {
	t.Parallel()
	const logins = 300
	for _, tc := range []struct {
		name   string
		max    int
		logout bool
	}{
		{"HistoryEvicted", 5, false},
		{"HistoryLoggedOut", 5, true},
		{"HistorySingle", 1, false},
	} {
		max, logout := tc.max, tc.logout
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := randomPrefix()
			st := newStore(t, redisstore.Options{Prefix: prefix})
			ctx := t.Context()
			t0 := now()
			for i := range logins {
				s := newSession("alice", t0.Add(time.Duration(i)*time.Millisecond))
				if _, err := st.CreateLimited(ctx, s, max, true); err != nil {
					t.Fatalf("CreateLimited() = %v", err)
				}
				if logout {
					if _, err := st.Revoke(ctx, s.ID, s.CreatedAt, sessiond.ReasonLogout); err != nil {
						t.Fatalf("Revoke() = %v", err)
					}
				}
			}
			raw := rawClient(t)
			n, err := raw.Do(ctx, raw.B().Zcard().Key(idxKey(prefix, "alice")).Build()).AsInt64()
			// max live, and the one the last login evicted or logged out.
			if err != nil || n > int64(max+1) {
				t.Errorf("subject index after %d limited logins (max %d) = %d members, %v; want at most %d: each login reads them all", logins, max, n, err, max+1)
			}
		})
	}
	const max = 5
	t.Run("ReadBound", func(t *testing.T) {
		// A lowered limit: far more live sessions than the script reads.
		// The least recently active session is the last in the index
		// (latest expiry), past what a login reads, so it is not evicted.
		t.Parallel()
		st := newStore(t, redisstore.Options{})
		ctx := t.Context()
		t0 := now()
		total := redisstore.LimitRead + 100
		var last *sessiond.Session
		for i := range total {
			s := newSession("alice", t0)
			s.ExpiresAt = t0.Add(8*time.Hour + time.Duration(i)*time.Millisecond)
			s.LastActiveAt = t0.Add(time.Duration(i) * time.Millisecond)
			if i == total-1 {
				s.LastActiveAt = t0.Add(-time.Hour)
				last = s
			}
			if err := st.Create(ctx, s); err != nil {
				t.Fatalf("Create() = %v", err)
			}
		}
		n := newSession("alice", t0.Add(time.Minute))
		evicted, err := st.CreateLimited(ctx, n, max, true)
		if err != nil || len(evicted) != sessiond.MaxLimitEvictions {
			t.Fatalf("CreateLimited(max %d) over %d live = %d evicted, %v; want %d", max, total, len(evicted), err, sessiond.MaxLimitEvictions)
		}
		for _, r := range evicted {
			if r.SessionID == last.ID {
				t.Fatalf("CreateLimited evicted %s, the last of %d sessions in the index; want it unread (at most %d read)", last.ID, total, redisstore.LimitRead)
			}
		}
	})
}
