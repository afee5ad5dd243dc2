package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_KeysHaveTTL checks that after every kind of write each key of
// the store has a TTL, so Redis can expire everything by itself.
func TestStore_KeysHaveTTL(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	raw := rawClient(t)
	ctx := t.Context()
	t0 := now()

	var refresh []sessiond.Token
	var alice []*sessiond.Session
	for i := range 3 {
		s := newSession("alice", t0.Add(time.Duration(i)*time.Second))
		r := newToken(sessiond.KindRefresh, s.ID, t0)
		if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0), r); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		alice, refresh = append(alice, s), append(refresh, r)
	}
	bob := newSession("bob", t0)
	if err := st.Create(ctx, bob, newToken(sessiond.KindAccess, bob.ID, t0)); err != nil {
		t.Fatalf("Create(bob) = %v", err)
	}
	next := newToken(sessiond.KindRefresh, alice[0].ID, t0.Add(time.Minute))
	if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: refresh[0].Hash, Next: next, Now: t0.Add(time.Minute),
		GraceSince: t0.Add(time.Minute), LastActiveAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(31 * time.Minute)}); err != nil {
		t.Fatalf("SwapRefresh() = %v", err)
	}
	if err := st.Touch(ctx, alice[1].ID, t0.Add(time.Minute), t0.Add(10*time.Minute)); err != nil {
		t.Fatalf("Touch() = %v", err)
	}
	if _, err := st.Revoke(ctx, alice[2].ID, t0.Add(time.Minute), sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	if _, err := st.RevokeSubject(ctx, "bob", "", t0.Add(time.Minute), sessiond.ReasonAdmin); err != nil {
		t.Fatalf("RevokeSubject() = %v", err)
	}
	extra := newSession("alice", t0.Add(2*time.Minute))
	if evicted, err := st.CreateLimited(ctx, extra, 1, true, newToken(sessiond.KindAccess, extra.ID, t0)); err != nil || len(evicted) != 2 {
		t.Fatalf("CreateLimited(max 1) = %d evicted, %v; want 2, nil", len(evicted), err)
	}

	ks := keys(t, raw, prefix)
	seen := map[string]int{}
	for _, k := range ks {
		ttl, err := raw.Do(ctx, raw.B().Pttl().Key(k).Build()).AsInt64()
		if err != nil || ttl <= 0 {
			t.Errorf("PTTL %s = %d, %v; want > 0", k, ttl, err)
		}
		for _, kind := range []string{":sid:", ":tok:", "}:s:", "}:idx", "}:gc", "}:exp", "}:rev"} {
			if strings.Contains(k, kind) {
				seen[kind]++
			}
		}
	}
	// 5 sessions, 9 tokens (8 created + 1 successor), 2 subject indexes,
	// the GC, expiry and revocation indexes.
	want := map[string]int{":sid:": 5, ":tok:": 9, "}:s:": 5, "}:idx": 2, "}:gc": 1, "}:exp": 1, "}:rev": 1}
	for kind, n := range want {
		if seen[kind] != n {
			t.Errorf("%d keys like %q under %s; want %d (all keys: %v)", seen[kind], kind, prefix, n, ks)
		}
	}
}

// TestStore_IndexesForgetExpiredSessions checks that once Redis has expired
// a session, the subject index, the GC index and the revocation index
// drop it at the next write to the subject or at DeleteExpired.
func TestStore_IndexesForgetExpiredSessions(t *testing.T) {
	t.Parallel()
	// shortLived creates a revoked session of alice that Redis expires
	// 100 ms from now, and waits until it has.
	shortLived := func(t *testing.T, st *redisstore.Store) *sessiond.Session {
		t.Helper()
		ctx := t.Context()
		t0 := now()
		s := newSession("alice", t0)
		s.ExpiresAt, s.IdleExpiresAt = t0.Add(100*time.Millisecond), t0.Add(100*time.Millisecond)
		if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if _, err := st.Revoke(ctx, s.ID, t0, sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		if !eventually(3*time.Second, func() bool {
			_, err := st.Get(ctx, s.ID)
			return errors.Is(err, sessiond.ErrNotFound)
		}) {
			t.Fatalf("session %s still there 3s after its expiry; want Redis to expire it", s.ID)
		}
		return s
	}
	check := func(t *testing.T, raw rueidis.Client, prefix string, gone, live *sessiond.Session) {
		t.Helper()
		ctx := t.Context()
		members, err := raw.Do(ctx, raw.B().Zrange().Key(idxKey(prefix, "alice")).Min("0").Max("-1").Build()).AsStrSlice()
		if err != nil {
			t.Fatalf("ZRANGE subject index = %v", err)
		}
		want := []string{}
		if live != nil {
			want = append(want, string(live.ID))
		}
		if !slices.Equal(members, want) {
			t.Errorf("subject index = %v; want %v", members, want)
		}
		for _, k := range []string{globalKey(prefix, "gc"), globalKey(prefix, "exp"), globalKey(prefix, "rev")} {
			err := raw.Do(ctx, raw.B().Zscore().Key(k).Member(ref("alice", gone.ID)).Build()).Error()
			if !rueidis.IsRedisNil(err) {
				t.Errorf("ZSCORE %s <expired session> = %v; want nil (no member)", k, err)
			}
		}
	}

	t.Run("NextWrite", func(t *testing.T) {
		t.Parallel()
		prefix := randomPrefix()
		st := newStore(t, redisstore.Options{Prefix: prefix})
		raw := rawClient(t)
		gone := shortLived(t, st)
		live := newSession("alice", now())
		if err := st.Create(t.Context(), live); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		check(t, raw, prefix, gone, live)
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		t.Parallel()
		prefix := randomPrefix()
		st := newStore(t, redisstore.Options{Prefix: prefix})
		raw := rawClient(t)
		gone := shortLived(t, st)
		if n, err := st.DeleteExpired(t.Context(), now().Add(time.Minute), 10); n != 0 || err != nil {
			t.Errorf("DeleteExpired() = %d, %v; want 0 (Redis deleted it), nil", n, err)
		}
		check(t, raw, prefix, gone, nil)
		if got, err := st.Revocations(t.Context(), gone.CreatedAt.Add(-time.Hour)); err != nil || len(got) != 0 {
			t.Errorf("Revocations() = %v, %v; want none", got, err)
		}
	})
	t.Run("TouchedLater", func(t *testing.T) {
		// A session whose idle expiry moved later is kept, and its GC
		// entry moves to the new expiry.
		t.Parallel()
		prefix := randomPrefix()
		st := newStore(t, redisstore.Options{Prefix: prefix})
		raw := rawClient(t)
		ctx := t.Context()
		t0 := now()
		s := newSession("alice", t0)
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if err := st.Touch(ctx, s.ID, t0.Add(20*time.Minute), t0.Add(50*time.Minute)); err != nil {
			t.Fatalf("Touch() = %v", err)
		}
		if n, err := st.DeleteExpired(ctx, t0.Add(40*time.Minute), 10); n != 0 || err != nil {
			t.Errorf("DeleteExpired(before the new idle expiry) = %d, %v; want 0, nil", n, err)
		}
		score, err := raw.Do(ctx, raw.B().Zscore().Key(globalKey(prefix, "gc")).Member(ref("alice", s.ID)).Build()).AsInt64()
		if want := t0.Add(50 * time.Minute).UnixMicro(); err != nil || score != want {
			t.Errorf("GC score = %d, %v; want %d (the new idle expiry)", score, err, want)
		}
		// Touch bringing the idle expiry earlier moves the entry earlier.
		if err := st.Touch(ctx, s.ID, t0.Add(21*time.Minute), t0.Add(35*time.Minute)); err != nil {
			t.Fatalf("Touch() = %v", err)
		}
		if n, err := st.DeleteExpired(ctx, t0.Add(40*time.Minute), 10); n != 1 || err != nil {
			t.Errorf("DeleteExpired(after the earlier idle expiry) = %d, %v; want 1, nil", n, err)
		}
	})
}

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

// revocationEqual reports whether two revocations say the same.
func revocationEqual(a, b sessiond.Revocation) bool {
	return a.SessionID == b.SessionID && a.Subject == b.Subject && a.RevokedAt.Equal(b.RevokedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Reason == b.Reason
}

// TestStore_RevocationFeed: a second Store on the same prefix hears the
// revocations made through the first, and after its subscriber connection
// is killed it resyncs and keeps hearing them.
func TestStore_RevocationFeed(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	name := "sdtest-feed-" + randomHex(4)
	a := newStore(t, redisstore.Options{Prefix: prefix})
	b := newStore(t, redisstore.Options{Prefix: prefix, ClientName: name})
	raw := rawClient(t)
	ctx := t.Context()

	got := make(chan sessiond.Revocation, 64)
	resynced := make(chan struct{}, 8)
	if err := b.SubscribeRevocations(ctx, func(r sessiond.Revocation) { got <- r }, func() { resynced <- struct{}{} }); err != nil {
		t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	// want waits up to a second for each of revs, in any order. Delivery is
	// at least once: a message seen before may come again (on a Redis
	// Cluster, after resubscribing on another node).
	seen := map[sessiond.SessionID]bool{}
	want := func(what string, revs ...sessiond.Revocation) {
		t.Helper()
		pending := slices.Clone(revs)
		timeout := time.After(time.Second)
		for len(pending) > 0 {
			select {
			case r := <-got:
				i := slices.IndexFunc(pending, func(w sessiond.Revocation) bool { return revocationEqual(r, w) })
				if i < 0 {
					if !seen[r.SessionID] {
						t.Errorf("%s: feed delivered %+v; want one of %+v", what, r, pending)
					}
					continue
				}
				seen[r.SessionID] = true
				pending = slices.Delete(pending, i, i+1)
			case <-timeout:
				t.Fatalf("%s: %d revocations not delivered within 1s: %+v", what, len(pending), pending)
			}
		}
	}
	revoke := func(s *sessiond.Session, at time.Time) sessiond.Revocation {
		t.Helper()
		if _, err := a.Revoke(ctx, s.ID, at, sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		return sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: at, ExpiresAt: s.ExpiresAt, Reason: sessiond.ReasonLogout}
	}
	create := func(subject string) *sessiond.Session {
		t.Helper()
		s := newSession(subject, now())
		if err := a.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		return s
	}

	s1 := create("alice")
	want("Revoke", revoke(s1, now()))
	if _, err := a.Revoke(ctx, s1.ID, now(), sessiond.ReasonAdmin); err != nil {
		t.Fatalf("second Revoke() = %v", err)
	}
	create("bob")
	create("bob")
	at := now()
	revs, err := a.RevokeSubject(ctx, "bob", "", at, sessiond.ReasonIncident)
	if err != nil || len(revs) != 2 {
		t.Fatalf("RevokeSubject() = %v, %v; want 2", revs, err)
	}
	want("RevokeSubject", revs...) // and nothing for the idempotent revoke above

	// Kill the subscriber's connection (only it: other tests run too).
	// Every node is searched first, so the test also runs on a Redis
	// Cluster, and then the kill, which the feed answers by resubscribing
	// at once, maybe on another node.
	type target struct {
		node rueidis.Client
		id   int64
	}
	var targets []target
	for _, node := range raw.Nodes() {
		list, err := node.Do(ctx, node.B().ClientList().TypePubsub().Build()).ToString()
		if err != nil {
			t.Fatalf("CLIENT LIST = %v", err)
		}
		list = strings.TrimPrefix(list, "txt:") // RESP3 verbatim string
		for line := range strings.SplitSeq(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") {
				continue
			}
			idField, _, _ := strings.Cut(line, " ")
			id, err := strconv.ParseInt(strings.TrimPrefix(idField, "id="), 10, 64)
			if err != nil {
				t.Fatalf("CLIENT LIST line %q: %v", line, err)
			}
			targets = append(targets, target{node, id})
		}
	}
	if len(targets) != 1 {
		t.Fatalf("found %d pub/sub connections named %s; want 1", len(targets), name)
	}
	if n, err := targets[0].node.Do(ctx, targets[0].node.B().ClientKill().Id(targets[0].id).Build()).AsInt64(); n != 1 || err != nil {
		t.Fatalf("CLIENT KILL ID %d = %d, %v; want 1", targets[0].id, n, err)
	}
	select {
	case <-resynced:
	case <-time.After(5 * time.Second):
		t.Fatal("resync not called within 5s of the subscriber connection being killed")
	}
	s4 := create("alice")
	want("Revoke after reconnect", revoke(s4, now()))

	// Evictions are revocations too.
	s5 := create("carol")
	s6 := newSession("carol", now())
	evicted, err := a.CreateLimited(ctx, s6, 1, true)
	if err != nil || len(evicted) != 1 {
		t.Fatalf("CreateLimited() = %v, %v; want 1 eviction", evicted, err)
	}
	want("CreateLimited eviction", sessiond.Revocation{SessionID: s5.ID, Subject: "carol", RevokedAt: s6.CreatedAt, ExpiresAt: s5.ExpiresAt, Reason: sessiond.ReasonLimit})
	quiet := time.After(50 * time.Millisecond)
	for {
		select {
		case r := <-got:
			if !seen[r.SessionID] {
				t.Errorf("feed delivered an unexpected %+v", r)
			}
		case <-quiet:
			return
		}
	}
}

// TestStore_ClientCache checks the database strategy's cached verify path:
// Lookup is served from the client-side cache, and Redis's invalidation
// pushes make a change by another node visible to it within 2s (in
// practice within milliseconds); changes made through the same store are
// visible at once.
func TestStore_ClientCache(t *testing.T) {
	t.Parallel()
	const bound = 2 * time.Second
	prefix := randomPrefix()
	cached := newStore(t, redisstore.Options{Prefix: prefix, ClientCache: time.Minute})
	other := newStore(t, redisstore.Options{Prefix: prefix})
	ctx := t.Context()

	setup := func(t *testing.T) (*sessiond.Session, sessiond.Token) {
		t.Helper()
		t0 := now()
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		if err := other.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if _, got, err := cached.Lookup(ctx, tok.Hash); err != nil || got.Revoked() {
			t.Fatalf("Lookup() = %v, %v; want a live session", got, err)
		}
		if hit, err := redisstore.LookupCached(ctx, cached, tok.Hash); err != nil || !hit {
			t.Fatalf("after Lookup, LookupCached() = %t, %v; want true (served from the client-side cache)", hit, err)
		}
		return s, tok
	}
	// seen polls cached.Lookup until cond holds, and fails after bound.
	seen := func(t *testing.T, what string, tok sessiond.Token, cond func(*sessiond.Session, error) bool) {
		t.Helper()
		start := time.Now()
		if !eventually(bound, func() bool { _, s, err := cached.Lookup(ctx, tok.Hash); return cond(s, err) }) {
			t.Fatalf("%s through another store not seen by the caching store within %s", what, bound)
		}
		t.Logf("%s seen by the caching store after %s", what, time.Since(start))
	}

	t.Run("RevokeElsewhere", func(t *testing.T) {
		s, tok := setup(t)
		if _, err := other.Revoke(ctx, s.ID, now(), sessiond.ReasonAdmin); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		seen(t, "Revoke", tok, func(s *sessiond.Session, err error) bool { return err == nil && s.Revoked() })
	})
	t.Run("TouchElsewhere", func(t *testing.T) {
		s, tok := setup(t)
		last := now().Add(time.Minute)
		if err := other.Touch(ctx, s.ID, last, last.Add(30*time.Minute)); err != nil {
			t.Fatalf("Touch() = %v", err)
		}
		seen(t, "Touch", tok, func(s *sessiond.Session, err error) bool { return err == nil && s.LastActiveAt.Equal(last) })
	})
	t.Run("DeleteElsewhere", func(t *testing.T) {
		s, tok := setup(t)
		if n, err := other.DeleteExpired(ctx, s.IdleExpiresAt.Add(time.Second), 1000); err != nil || n < 1 {
			t.Fatalf("DeleteExpired() = %d, %v; want at least 1", n, err)
		}
		seen(t, "DeleteExpired", tok, func(_ *sessiond.Session, err error) bool { return errors.Is(err, sessiond.ErrNotFound) })
	})
	t.Run("OwnWritesAtOnce", func(t *testing.T) {
		s, tok := setup(t)
		last := now().Add(time.Minute)
		if err := cached.Touch(ctx, s.ID, last, last.Add(30*time.Minute)); err != nil {
			t.Fatalf("Touch() = %v", err)
		}
		if _, got, err := cached.Lookup(ctx, tok.Hash); err != nil || !got.LastActiveAt.Equal(last) {
			t.Errorf("Lookup() right after own Touch = %v, %v; want LastActiveAt %v", got, err, last)
		}
		if _, err := cached.Revoke(ctx, s.ID, now(), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		if _, got, err := cached.Lookup(ctx, tok.Hash); err != nil || !got.Revoked() {
			t.Errorf("Lookup() right after own Revoke = %v, %v; want revoked", got, err)
		}
	})
}

// proxy forwards TCP connections to Redis and can be stopped and started,
// to take the store's server away and give it back.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// stop closes the listener and every connection: Redis is gone.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// start listens again on the same address: Redis is back.
func (p *proxy) start(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestStore_Unavailable checks that an unreachable Redis is
// ErrStoreUnavailable (never ErrNotFound or success), that calls fail
// rather than hang, and that the store recovers by itself.
func TestStore_Unavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("New", func(t *testing.T) {
		t.Parallel()
		_, err := redisstore.New(ctx, "redis://127.0.0.1:1/0", redisstore.Options{})
		if !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("New(127.0.0.1:1) = %v; want ErrStoreUnavailable", err)
		}
	})
	t.Run("BadOptions", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			url  string
			opts redisstore.Options
		}{
			{"http://127.0.0.1:6379", redisstore.Options{}},
			{"redis://user:s3cret@127.0.0.1:6379/x", redisstore.Options{}},
			{"redis://127.0.0.1:6379/0", redisstore.Options{Prefix: "a{b}"}},
			{"redis://127.0.0.1:6379/0", redisstore.Options{ClientCache: -time.Second}},
		} {
			_, err := redisstore.New(ctx, c.url, c.opts)
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New(%q, %+v) = %v; want ErrInvalidArgument", c.url, c.opts, err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("New() error %q contains the password", err)
			}
		}
	})
	t.Run("OutageAndRecovery", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(redisURL(t))
		if err != nil {
			t.Fatalf("parse SESSIOND_TEST_REDIS_URL: %v", err)
		}
		target := u.Host
		if u.Port() == "" {
			target = net.JoinHostPort(u.Hostname(), "6379")
		}
		p := newProxy(t, target)
		u.Host = p.addr
		prefix := randomPrefix()
		st, err := redisstore.New(ctx, u.String(), redisstore.Options{Prefix: prefix, ClientCache: time.Minute})
		if err != nil {
			t.Fatalf("New(through proxy) = %v", err)
		}
		t.Cleanup(func() { st.Close(); wipe(t, redisURL(t), prefix) })
		t0 := now()
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindRefresh, s.ID, t0)
		if err := st.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}

		// A token another node created, looked up through the proxied store
		// so its session sits in the client-side cache.
		direct := newStore(t, redisstore.Options{Prefix: prefix})
		s2 := newSession("bob", t0)
		tok2 := newToken(sessiond.KindAccess, s2.ID, t0)
		if err := direct.Create(ctx, s2, tok2); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if _, _, err := st.Lookup(ctx, tok2.Hash); err != nil {
			t.Fatalf("Lookup() = %v", err)
		}
		if hit, err := redisstore.LookupCached(ctx, st, tok2.Hash); err != nil || !hit {
			t.Fatalf("LookupCached() = %t, %v; want true", hit, err)
		}

		p.stop()
		// Losing the connection flushes the client-side cache: with Redis
		// gone, a cached session is not served (fail closed) once rueidis
		// has seen the connection close.
		if !eventually(2*time.Second, func() bool {
			_, _, err := st.Lookup(ctx, tok2.Hash)
			return errors.Is(err, sessiond.ErrStoreUnavailable)
		}) {
			t.Error("cached Lookup() still answers 2s after Redis went away; want ErrStoreUnavailable")
		}
		calls := []struct {
			name string
			call func(context.Context) error
		}{
			{"Ping", st.Ping},
			{"Get", func(ctx context.Context) error { _, err := st.Get(ctx, s.ID); return err }},
			{"Lookup", func(ctx context.Context) error { _, _, err := st.Lookup(ctx, tok.Hash); return err }},
			{"Create", func(ctx context.Context) error { n := newSession("alice", t0); return st.Create(ctx, n) }},
			{"Touch", func(ctx context.Context) error { return st.Touch(ctx, s.ID, t0.Add(time.Minute), t0.Add(time.Hour)) }},
			{"Revoke", func(ctx context.Context) error { _, err := st.Revoke(ctx, s.ID, t0, sessiond.ReasonAdmin); return err }},
			{"List", func(ctx context.Context) error { _, err := st.List(ctx, "alice", t0); return err }},
			{"Revocations", func(ctx context.Context) error { _, err := st.Revocations(ctx, t0); return err }},
			{"DeleteExpired", func(ctx context.Context) error { _, err := st.DeleteExpired(ctx, t0, 10); return err }},
			{"RevokeMatching", func(ctx context.Context) error {
				_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t0, sessiond.ReasonIncident)
				return err
			}},
			{"CountLive", func(ctx context.Context) error { _, err := st.CountLive(ctx, t0); return err }},
			{"AppendEvents", func(ctx context.Context) error {
				return st.AppendEvents(ctx, sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionCreated})
			}},
			{"QueryEvents", func(ctx context.Context) error { _, _, err := st.QueryEvents(ctx, sessiond.EventQuery{}); return err }},
			{"ClaimDeliveries", func(ctx context.Context) error { _, err := st.ClaimDeliveries(ctx, t0, 10, time.Minute); return err }},
			{"SubscribeRevocations", func(ctx context.Context) error {
				return st.SubscribeRevocations(ctx, func(sessiond.Revocation) {}, func() {})
			}},
		}
		for _, c := range calls {
			// No deadline: a call must fail, not wait for Redis to return.
			done := make(chan error, 1)
			go func() { done <- c.call(context.Background()) }()
			select {
			case err := <-done:
				if !errors.Is(err, sessiond.ErrStoreUnavailable) {
					t.Errorf("%s() with Redis down = %v; want ErrStoreUnavailable", c.name, err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("%s() with Redis down and no deadline did not return within 15s", c.name)
			}
		}

		p.start(t)
		if !eventually(10*time.Second, func() bool { return st.Ping(ctx) == nil }) {
			t.Fatal("Ping() still failing 10s after Redis came back")
		}
		if got, err := st.Get(ctx, s.ID); err != nil || got.ID != s.ID {
			t.Errorf("Get() after recovery = %v, %v; want the session", got, err)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		t.Parallel()
		st, err := redisstore.New(ctx, redisURL(t), redisstore.Options{Prefix: randomPrefix()})
		if err != nil {
			t.Fatalf("New() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("second Close() = %v; want nil", err)
		}
		if _, err := st.Get(ctx, sessiond.NewSessionID()); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("Get() after Close = %v; want ErrStoreUnavailable", err)
		}
		if err := st.Ping(ctx); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("Ping() after Close = %v; want ErrStoreUnavailable", err)
		}
	})
}

// TestStore_SubjectsWithBraces checks that subjects and IDs that look like
// hash tags cannot move a subject's keys out of its slot: the tag is a
// hash of the subject.
func TestStore_SubjectsWithBraces(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	ctx := t.Context()
	t0 := now()
	for _, subject := range []string{"{alice}", "}{", "a{b}c", "{}", strings.Repeat("{", 100)} {
		var ids []sessiond.SessionID
		for range 2 {
			s := newSession(subject, t0)
			if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
				t.Fatalf("Create(subject %q) = %v", subject, err)
			}
			ids = append(ids, s.ID)
		}
		got, err := st.List(ctx, subject, t0)
		if err != nil || len(got) != 2 {
			t.Errorf("List(%q) = %d sessions, %v; want 2", subject, len(got), err)
		}
		revs, err := st.RevokeSubject(ctx, subject, ids[0], t0, sessiond.ReasonAdmin)
		if err != nil || len(revs) != 1 || revs[0].SessionID != ids[1] {
			t.Errorf("RevokeSubject(%q, except first) = %v, %v; want the second", subject, revs, err)
		}
	}
}

// TestStore_RouteMemoReuse checks that a store's memory of where a
// session ID or token hash lives never hides a session: here another node
// deletes a session and creates one with the same ID and token hash for
// another subject (another slot).
func TestStore_RouteMemoReuse(t *testing.T) {
	t.Parallel()
	for _, cache := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("ClientCache=%s", cache), func(t *testing.T) {
			t.Parallel()
			prefix := randomPrefix()
			st := newStore(t, redisstore.Options{Prefix: prefix, ClientCache: cache})
			other := newStore(t, redisstore.Options{Prefix: prefix})
			ctx := t.Context()
			t0 := now()
			old := newSession("alice", t0)
			old.IdleExpiresAt = t0.Add(time.Minute)
			tok := newToken(sessiond.KindRefresh, old.ID, t0)
			if err := st.Create(ctx, old, tok); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			if _, _, err := st.Lookup(ctx, tok.Hash); err != nil {
				t.Fatalf("Lookup() = %v", err)
			}
			if n, err := other.DeleteExpired(ctx, t0.Add(2*time.Minute), 10); n != 1 || err != nil {
				t.Fatalf("DeleteExpired() = %d, %v; want 1, nil", n, err)
			}
			reborn := newSession("bob", t0)
			reborn.ID = old.ID
			tok.ExpiresAt = tok.ExpiresAt.Add(time.Hour)
			if err := other.Create(ctx, reborn, tok); err != nil {
				t.Fatalf("Create(same ID and token, other subject) = %v", err)
			}
			if got, err := st.Get(ctx, old.ID); err != nil || got.Subject != "bob" {
				t.Errorf("Get() = %+v, %v; want bob's session", got, err)
			}
			// With the client cache, the old session's cached entry goes when
			// Redis's invalidation push arrives: poll within the bound.
			if !eventually(2*time.Second, func() bool {
				got, s, err := st.Lookup(ctx, tok.Hash)
				return err == nil && s.Subject == "bob" && got.ExpiresAt.Equal(tok.ExpiresAt)
			}) {
				got, s, err := st.Lookup(ctx, tok.Hash)
				t.Errorf("Lookup() = %+v, %+v, %v; want bob's token and session", got, s, err)
			}
			if err := st.Touch(ctx, old.ID, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil {
				t.Errorf("Touch() = %v", err)
			}
			next := newToken(sessiond.KindRefresh, old.ID, t0.Add(time.Minute))
			if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: tok.Hash, Next: next, Now: t0.Add(time.Minute),
				GraceSince: t0.Add(time.Minute), LastActiveAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Errorf("SwapRefresh() = %v", err)
			}
			if got, err := st.Revoke(ctx, old.ID, t0.Add(time.Minute), sessiond.ReasonAdmin); err != nil || got.Subject != "bob" {
				t.Errorf("Revoke() = %+v, %v; want bob's session", got, err)
			}
		})
	}
}
