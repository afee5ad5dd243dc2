package pgstore_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

func TestStore_CreateLimited(t *testing.T) {
	testDSN(t) // skip once, not in every subtest
	t.Parallel()
	// now is after every session below was created and before any expires.
	now := t0.Add(10 * time.Minute)

	// concurrent runs n CreateLimited calls for one subject at once.
	concurrent := func(t *testing.T, st *pgstore.Store, n, max int, evict bool) ([]error, [][]sessiond.Revocation) {
		errs := make([]error, n)
		revs := make([][]sessiond.Revocation, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			s := newSession("alice", t0.Add(time.Duration(i)*time.Second))
			wg.Go(func() {
				<-start
				revs[i], errs[i] = st.CreateLimited(t.Context(), s, max, evict, newToken(sessiond.KindAccess, s.ID, s.CreatedAt))
			})
		}
		close(start)
		wg.Wait()
		return errs, revs
	}
	live := func(t *testing.T, st *pgstore.Store) int {
		t.Helper()
		list, err := st.List(t.Context(), "alice", now)
		if err != nil {
			t.Fatalf("List(alice) = %v; want nil", err)
		}
		return len(list)
	}

	t.Run("ConcurrentEvict", func(t *testing.T) {
		t.Parallel()
		st, _ := newStore(t, pgstore.Options{MaxConns: 25})
		errs, revs := concurrent(t, st, 20, 3, true)
		evicted := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("CreateLimited #%d (max 3, evict) = %v; want nil", i, err)
			}
			for _, r := range revs[i] {
				if r.Reason != sessiond.ReasonLimit {
					t.Errorf("CreateLimited #%d evicted %s with reason %q; want %q", i, r.SessionID, r.Reason, sessiond.ReasonLimit)
				}
			}
			evicted += len(revs[i])
		}
		if got := live(t, st); got != 3 {
			t.Errorf("%d live sessions after 20 concurrent CreateLimited(max 3, evict); want 3", got)
		}
		if evicted != 17 {
			t.Errorf("20 concurrent CreateLimited(max 3, evict) evicted %d sessions; want 17", evicted)
		}
	})
	t.Run("ConcurrentReject", func(t *testing.T) {
		t.Parallel()
		st, _ := newStore(t, pgstore.Options{MaxConns: 25})
		errs, _ := concurrent(t, st, 20, 3, false)
		created, refused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case errors.Is(err, sessiond.ErrLimitReached):
				refused++
			default:
				t.Errorf("CreateLimited #%d (max 3, reject) = %v; want nil or ErrLimitReached", i, err)
			}
		}
		if created != 3 || refused != 17 {
			t.Errorf("20 concurrent CreateLimited(max 3, reject): %d created, %d refused; want 3 and 17", created, refused)
		}
		if got := live(t, st); got != 3 {
			t.Errorf("%d live sessions; want 3", got)
		}
	})
	t.Run("EvictsLeastRecentlyActive", func(t *testing.T) {
		t.Parallel()
		st, _ := newStore(t, pgstore.Options{})
		a, b, c := newSession("alice", t0), newSession("alice", t0.Add(time.Second)), newSession("alice", t0.Add(2*time.Second))
		a.LastActiveAt = t0.Add(5 * time.Minute) // the oldest, but the most recently active
		// Not counted: revoked, expired, idle, another subject's.
		revoked, expired, idle, bob := newSession("alice", t0), newSession("alice", t0.Add(-9*time.Hour)), newSession("alice", t0), newSession("bob", t0)
		idle.IdleExpiresAt = now
		for _, s := range []*sessiond.Session{a, b, c, revoked, expired, idle, bob} {
			if err := st.Create(t.Context(), s); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Revoke(t.Context(), revoked.ID, t0.Add(time.Minute), sessiond.ReasonLogout); err != nil {
			t.Fatal(err)
		}
		s := newSession("alice", now)
		got, err := st.CreateLimited(t.Context(), s, 2, true)
		if err != nil {
			t.Fatalf("CreateLimited(max 2, evict) = %v; want nil", err)
		}
		want := []sessiond.Revocation{
			{SessionID: b.ID, Subject: "alice", RevokedAt: now, ExpiresAt: b.ExpiresAt, Reason: sessiond.ReasonLimit},
			{SessionID: c.ID, Subject: "alice", RevokedAt: now, ExpiresAt: c.ExpiresAt, Reason: sessiond.ReasonLimit},
		}
		if !slices.EqualFunc(got, want, func(x, y sessiond.Revocation) bool {
			return x.SessionID == y.SessionID && x.Subject == y.Subject && x.RevokedAt.Equal(y.RevokedAt) &&
				x.ExpiresAt.Equal(y.ExpiresAt) && x.Reason == y.Reason
		}) {
			t.Errorf("CreateLimited(max 2, evict) = %+v; want %+v (b then c: least recently active first)", got, want)
		}
		list, err := st.List(t.Context(), "alice", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != a.ID || list[1].ID != s.ID {
			t.Errorf("List(alice) after CreateLimited = %d sessions; want a and the new one", len(list))
		}
	})
	t.Run("SingleMode", func(t *testing.T) {
		t.Parallel()
		st, _ := newStore(t, pgstore.Options{})
		for i := range 3 {
			if err := st.Create(t.Context(), newSession("alice", t0.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		s := newSession("alice", t0.Add(time.Minute))
		revs, err := st.CreateLimited(t.Context(), s, 1, true)
		if err != nil || len(revs) != 3 {
			t.Fatalf("CreateLimited(max 1, evict) = %d revocations, %v; want 3, nil", len(revs), err)
		}
		if got := live(t, st); got != 1 {
			t.Errorf("%d live sessions after single-mode login; want 1", got)
		}
	})
	t.Run("UnderLimit", func(t *testing.T) {
		t.Parallel()
		st, _ := newStore(t, pgstore.Options{})
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		revs, err := st.CreateLimited(t.Context(), s, 2, false, tok)
		if err != nil || revs == nil || len(revs) != 0 {
			t.Fatalf("CreateLimited(first session) = %v, %v; want an empty slice and nil", revs, err)
		}
		if _, got, err := st.Lookup(t.Context(), tok.Hash); err != nil || got.ID != s.ID {
			t.Errorf("Lookup(token) after CreateLimited = %v; want the new session", err)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		t.Parallel()
		st, _ := newStore(t, pgstore.Options{})
		s := newSession("alice", t0)
		for _, max := range []int{0, -1} {
			if _, err := st.CreateLimited(t.Context(), s, max, true); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("CreateLimited(max %d) = %v; want ErrInvalidArgument", max, err)
			}
		}
		tok := newToken(sessiond.KindAccess, sessiond.NewSessionID(), t0)
		if _, err := st.CreateLimited(t.Context(), s, 1, true, tok); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("CreateLimited(token of another session) = %v; want ErrInvalidArgument", err)
		}
		if _, err := st.Get(t.Context(), s.ID); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Get() after rejected CreateLimited calls = %v; want ErrNotFound", err)
		}
	})
}

// TestStore_CreateLimitedReadBound: a login of a subject far over a
// lowered limit reads sessiond.LimitRead of its sessions (the first
// created), not all of them, and evicts the least recently active of
// those: the least recently active of all, created last, is left to a
// later login.
func TestStore_CreateLimitedReadBound(t *testing.T) {
	testDSN(t)
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	const max = 5
	total := sessiond.LimitRead(max) + 100
	var last *sessiond.Session
	for i := range total {
		s := newSession("alice", t0.Add(time.Duration(i)*time.Microsecond))
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
			t.Fatalf("CreateLimited evicted %s, the last of %d sessions created; want it unread (%d read)", last.ID, total, sessiond.LimitRead(max))
		}
	}
}
