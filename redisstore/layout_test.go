package redisstore_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_OpsKeys checks the key layout of the event log and the outbox
// (docs/redisstore.md): every key in its own hash tag, and nothing left
// behind once retention has deleted everything.
func TestStore_OpsKeys(t *testing.T) {
	t.Parallel()
	prefix, st, raw := layoutStore(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sid := sessiond.NewSessionID()
	events := []sessiond.Event{
		{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionCreated, Subject: "a{b}c", SessionID: sid,
			Details: map[string]any{"k": "v"}},
		{ID: "custom", Time: t0, Type: sessiond.EventBulkRevoked},
	}
	if err := st.AppendEvents(ctx, events...); err != nil {
		t.Fatalf("AppendEvents() = %v", err)
	}
	ds := []sessiond.Delivery{
		{ID: "d1", Endpoint: "ops", EventID: events[0].ID, Payload: []byte("{}"), NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0},
		{ID: "d2", Endpoint: "ops", EventID: events[1].ID, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0},
	}
	if err := st.EnqueueDeliveries(ctx, ds...); err != nil {
		t.Fatalf("EnqueueDeliveries() = %v", err)
	}
	if err := st.FinishDelivery(ctx, "d1", sessiond.DeliveryDelivered, 1, time.Time{}, "", t0); err != nil {
		t.Fatalf("FinishDelivery() = %v", err)
	}
	evTag, obTag := prefix+":{"+prefix+":ev}:", prefix+":{"+prefix+":ob}:"
	want := []string{
		evTag + "e:" + events[0].ID, evTag + "e:custom", evTag + "ids", evTag + "time", evTag + "odd",
		evTag + "sub:a{b}c", evTag + "sess:" + string(sid),
		evTag + "type:" + string(sessiond.EventSessionCreated), evTag + "type:" + string(sessiond.EventBulkRevoked),
		obTag + "d:d1", obTag + "d:d2", obTag + "due", obTag + "st:pending", obTag + "st:delivered", obTag + "done",
	}
	if got := keys(t, raw, prefix); !sameStrings(got, want) {
		t.Errorf("keys = %v; want %v", slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
	}
	if n, err := st.DeleteEventsBefore(ctx, t0.Add(time.Second), 100); n != 2 || err != nil {
		t.Fatalf("DeleteEventsBefore() = %d, %v; want 2", n, err)
	}
	if err := st.FinishDelivery(ctx, "d2", sessiond.DeliveryDead, 1, time.Time{}, "x", t0); err != nil {
		t.Fatalf("FinishDelivery() = %v", err)
	}
	if n, err := st.DeleteDeliveriesBefore(ctx, t0.Add(time.Second), 100); n != 2 || err != nil {
		t.Fatalf("DeleteDeliveriesBefore() = %d, %v; want 2", n, err)
	}
	if got := keys(t, raw, prefix); len(got) != 0 {
		t.Errorf("after deleting every event and delivery, keys = %v; want none", got)
	}
}

func sameStrings(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// TestStore_KeysHaveTTL checks that after every kind of write each key of
// the store has a TTL, so Redis can expire everything by itself.
func TestStore_KeysHaveTTL(t *testing.T) {
	t.Parallel()
	prefix, st, raw := layoutStore(t)
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
// a session, the subject index drops it at the next write to the subject,
// the GC, expiry and revocation indexes within the next sweepEvery
// logins, and all of them at DeleteExpired.
func TestStore_IndexesForgetExpiredSessions(t *testing.T) {
	t.Parallel()
	// shortLived creates a revoked session of alice that Redis expires
	// 100 ms from now, and waits until it has. Redis keeps a session hash
	// and its index entries redisstore.Linger past the absolute expiry
	// (TestStore_RevocationOutlivesExpiry), the sweep redisstore.AheadMargin
	// more (TestStore_RevocationOutlivesExpiryClock): the test moves them
	// as if that long had passed.
	shortLived := func(t *testing.T, st *redisstore.Store, prefix string, raw rueidis.Client) *sessiond.Session {
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
		for _, c := range []rueidis.Completed{
			raw.B().Pexpireat().Key(prefix + ":{" + tagOf("alice") + "}:s:" + string(s.ID)).MillisecondsTimestamp(s.ExpiresAt.UnixMilli() + 1).Build(),
			raw.B().Zadd().Key(globalKey(prefix, "exp")).Xx().ScoreMember().ScoreMember(float64(s.ExpiresAt.Add(-redisstore.Linger-redisstore.AheadMargin).UnixMicro()), ref("alice", s.ID)).Build(),
		} {
			if err := raw.Do(ctx, c).Error(); err != nil {
				t.Fatalf("move the session a linger back: %v", err)
			}
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

	t.Run("NextWrites", func(t *testing.T) {
		t.Parallel()
		prefix, st, raw := layoutStore(t)
		gone := shortLived(t, st, prefix, raw)
		live := newSession("alice", now())
		if err := st.Create(t.Context(), live); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		// The global indexes are swept by one login in SweepEvery.
		for range redisstore.SweepEvery - 1 {
			if err := st.Create(t.Context(), newSession("bob", now())); err != nil {
				t.Fatalf("Create() = %v", err)
			}
		}
		check(t, raw, prefix, gone, live)
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		t.Parallel()
		prefix, st, raw := layoutStore(t)
		gone := shortLived(t, st, prefix, raw)
		if n, err := st.DeleteExpired(t.Context(), now().Add(time.Minute), 10); n != 0 || err != nil {
			t.Errorf("DeleteExpired() = %d, %v; want 0 (Redis deleted it), nil", n, err)
		}
		check(t, raw, prefix, gone, nil)
		if got, err := st.Revocations(t.Context(), gone.CreatedAt.Add(-time.Hour)); err != nil || len(got) != 0 {
			t.Errorf("Revocations() = %v, %v; want none", got, err)
		}
	})
	t.Run("Refreshed", func(t *testing.T) {
		// A refresh moves the live entry to the earliest of the new idle
		// expiry and the absolute expiry, and the GC entry there only when
		// that is earlier (DeleteExpired moves an early one): from a node
		// whose clock is behind, whose idle expiry the session does not
		// take.
		t.Parallel()
		prefix, st, raw := layoutStore(t)
		ctx := t.Context()
		t0 := now()
		s := newSession("alice", t0)
		s.IdleExpiresAt, s.ExpiresAt = t0.Add(30*time.Minute), t0.Add(time.Hour)
		tok := newToken(sessiond.KindRefresh, s.ID, t0)
		if err := st.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		for i, c := range []struct{ idle, live, gc time.Time }{
			{t0.Add(40 * time.Minute), t0.Add(40 * time.Minute), t0.Add(30 * time.Minute)}, // later
			{t0.Add(2 * time.Hour), t0.Add(time.Hour), t0.Add(30 * time.Minute)},           // past the absolute expiry
			{t0.Add(10 * time.Minute), t0.Add(time.Hour), t0.Add(10 * time.Minute)},        // earlier: from a node behind
		} {
			at := t0.Add(time.Duration(i+1) * time.Minute)
			next := newToken(sessiond.KindRefresh, s.ID, at)
			if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: tok.Hash, Next: next, Now: at, LastActiveAt: at, IdleExpiresAt: c.idle}); err != nil {
				t.Fatalf("SwapRefresh() = %v", err)
			}
			tok = next
			for k, want := range map[string]time.Time{globalKey(prefix, "live:"+string(s.Strategy)): c.live, globalKey(prefix, "gc"): c.gc} {
				score, err := raw.Do(ctx, raw.B().Zscore().Key(k).Member(ref("alice", s.ID)).Build()).AsInt64()
				if err != nil || score != want.UnixMicro() {
					t.Errorf("refresh to idle %v: ZSCORE %s = %d, %v; want %d", c.idle, k, score, err, want.UnixMicro())
				}
			}
		}
	})
	t.Run("TouchedLater", func(t *testing.T) {
		// A session whose idle expiry moved later is kept, and its GC
		// entry moves to the new expiry.
		t.Parallel()
		prefix, st, raw := layoutStore(t)
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
		// A touch with an earlier idle expiry (a node whose clock is
		// behind) leaves the session's: it is still kept.
		if err := st.Touch(ctx, s.ID, t0.Add(19*time.Minute), t0.Add(35*time.Minute)); err != nil {
			t.Fatalf("Touch() = %v", err)
		}
		if n, err := st.DeleteExpired(ctx, t0.Add(40*time.Minute), 10); n != 0 || err != nil {
			t.Errorf("DeleteExpired(after the earlier idle expiry given) = %d, %v; want 0, nil", n, err)
		}
		if n, err := st.DeleteExpired(ctx, t0.Add(51*time.Minute), 10); n != 1 || err != nil {
			t.Errorf("DeleteExpired(after the idle expiry) = %d, %v; want 1, nil", n, err)
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

// layoutStore returns a store on a fresh prefix with that prefix and a
// plain client to look at its keys.
func layoutStore(t *testing.T) (string, *redisstore.Store, rueidis.Client) {
	t.Helper()
	prefix := randomPrefix()
	return prefix, newStore(t, redisstore.Options{Prefix: prefix}), rawClient(t)
}

// TestStore_RevocationOutlivesExpiry: a hybrid Manager collects a session
// only sessiond.MaxVerifierLeeway and its leeway past its absolute expiry,
// since its last access token may end then and a verifier with a leeway of
// up to a minute still accepts it: Revocations (the snapshot verifiers
// load, the set a restarted node rebuilds) must list the revocation until
// then. Redis expired the session hash, and with it the revocation, at the
// expiry itself.
func TestStore_RevocationOutlivesExpiry(t *testing.T) {
	t.Parallel()
	if redisstore.Linger < 2*sessiond.MaxVerifierLeeway+time.Second {
		t.Errorf("Linger %v; want at least a verifier's and a node's leeway and a second, %v", redisstore.Linger, 2*sessiond.MaxVerifierLeeway+time.Second)
	}
	prefix, st, raw := layoutStore(t)
	ctx := t.Context()
	t0 := now()
	s := newSession("alice", t0)
	s.ExpiresAt, s.IdleExpiresAt = t0.Add(200*time.Millisecond), t0.Add(200*time.Millisecond)
	if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	if _, err := st.Revoke(ctx, s.ID, t0, sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	time.Sleep(time.Until(s.ExpiresAt.Add(300 * time.Millisecond)))
	// Writes that sweep the global indexes.
	for range redisstore.SweepEvery {
		if err := st.Create(ctx, newSession("bob", now())); err != nil {
			t.Fatalf("Create() = %v", err)
		}
	}
	got, err := st.Revocations(ctx, t0.Add(-time.Hour))
	if err != nil || len(got) != 1 || got[0].SessionID != s.ID {
		t.Errorf("Revocations() 0.3s past the session's expiry = %v, %v; want its revocation", got, err)
	}
	ttl, err := raw.Do(ctx, raw.B().Pexpiretime().Key(prefix+":{"+tagOf("alice")+"}:s:"+string(s.ID)).Build()).AsInt64()
	if want := s.ExpiresAt.Add(redisstore.Linger).UnixMilli(); err != nil || ttl < want {
		t.Errorf("PEXPIRETIME session = %d, %v; want at least %d", ttl, err, want)
	}
	// The hybrid collector's time: deleted.
	if n, err := st.DeleteExpired(ctx, s.ExpiresAt.Add(redisstore.Linger), 10); n != 1 || err != nil {
		t.Errorf("DeleteExpired(a linger past the expiry) = %d, %v; want 1, nil", n, err)
	}
	if got, err := st.Revocations(ctx, t0.Add(-time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("Revocations() after DeleteExpired = %v, %v; want none", got, err)
	}
}

// TestStore_RevocationOutlivesExpiryClock: Redis expires a session hash,
// and with it its revocation in Revocations, by its own clock, while the
// verifiers count the linger on theirs (the nodes'). With Redis's clock
// ahead of the nodes' by more than the linger less a verifier's leeway,
// the revocation left Revocations (the hash expired, or the sweep dropped
// its index entries) while the session's last access token was still
// accepted. The hash is kept until the session's expiry and a linger
// later by as far as Redis's clock is ahead of the creating node's, at
// most redisstore.AheadMargin, and the sweep waits that margin too.
func TestStore_RevocationOutlivesExpiryClock(t *testing.T) {
	t.Parallel()
	prefix, st, raw := layoutStore(t)
	ctx := t.Context()
	redisMS := func() int64 {
		t.Helper()
		tm, err := raw.Do(ctx, raw.B().Time().Build()).AsStrSlice()
		if err != nil || len(tm) != 2 {
			t.Fatalf("TIME = %v, %v", tm, err)
		}
		s, _ := strconv.ParseInt(tm[0], 10, 64)
		us, _ := strconv.ParseInt(tm[1], 10, 64)
		return s*1000 + us/1000
	}
	clamp := func(ms int64) int64 { return min(max(ms, 0), redisstore.AheadMargin.Milliseconds()) }
	for _, tc := range []struct {
		name     string
		offset   time.Duration // the nodes' clock minus Redis's
		lifetime time.Duration
		revoke   bool // revoked after its creation (Revoke); else created revoked
	}{
		{"Agreeing", 0, 11 * time.Minute, true},
		{"RedisAhead", -10 * time.Minute, 11 * time.Minute, true},
		// Expired by Redis's clock a linger ago when created: on the old
		// code the hash was gone at once, and the sweep dropped its entry.
		{"RedisAhead/CreatedRevoked", -10 * time.Minute, time.Minute, false},
		{"RedisBehind", 10 * time.Minute, 11 * time.Minute, true},
		{"RedisAheadPastMargin", -(redisstore.AheadMargin + 10*time.Minute), 2 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subject := "clock-" + randomHex(4)
			t0 := now().Add(tc.offset)
			s := newSession(subject, t0)
			s.ExpiresAt, s.IdleExpiresAt = t0.Add(tc.lifetime), t0.Add(tc.lifetime)
			if !tc.revoke {
				s.RevokedAt, s.RevokeReason = t0, sessiond.ReasonLogout
			}
			before := redisMS()
			if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			after := redisMS()
			if tc.revoke {
				if _, err := st.Revoke(ctx, s.ID, t0, sessiond.ReasonLogout); err != nil {
					t.Fatalf("Revoke() = %v", err)
				}
			}
			at, err := raw.Do(ctx, raw.B().Pexpiretime().Key(prefix+":{"+tagOf(subject)+"}:s:"+string(s.ID)).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			created := t0.UnixMilli()
			end := s.ExpiresAt.Add(redisstore.Linger + time.Millisecond - time.Nanosecond).UnixMilli()
			lo, hi := end+clamp(before-created), end+clamp(after-created)+1
			if at < lo || at > hi {
				t.Errorf("PEXPIRETIME session = %d; want its expiry and a linger (%d), later by how far Redis is ahead of the node, at most AheadMargin (%d..%d)", at, end, lo, hi)
			}
			// Writes that sweep the global indexes.
			for range redisstore.SweepEvery {
				if err := st.Create(ctx, newSession("bob", t0)); err != nil {
					t.Fatalf("Create() = %v", err)
				}
			}
			got, err := st.Revocations(ctx, t0.Add(-time.Hour))
			if err != nil || !slices.ContainsFunc(got, func(r sessiond.Revocation) bool { return r.SessionID == s.ID }) {
				t.Errorf("Revocations() before the session's expiry on the nodes' clock = %v, %v; want its revocation", got, err)
			}
		})
	}
	// A revoked session stored past its expiry, a linger and the margin
	// by Redis's clock: Redis expires its hash at once. The script that
	// records its revocation read the hash's fields and failed on their
	// absence (store unavailable).
	t.Run("CreatedRevokedExpired", func(t *testing.T) {
		t0 := now().Add(-redisstore.AheadMargin - time.Hour)
		s := newSession("clock-"+randomHex(4), t0)
		s.ExpiresAt, s.IdleExpiresAt = t0.Add(time.Minute), t0.Add(time.Minute)
		s.RevokedAt, s.RevokeReason = t0, sessiond.ReasonLogout
		if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
			t.Errorf("Create(revoked, expired by Redis's clock) = %v; want nil", err)
		}
	})
}

// clockStores are the store's two ways of creating a session: one script
// outside a Cluster (createRecordedScript), and on a Cluster createScript
// or createPendingScript beside the global indexes' script.
var clockStores = []struct {
	name    string
	cluster bool
}{{"OneScript", false}, {"ClusterPaths", true}}

// clockStore is layoutStore, taking the Cluster paths if cluster.
func clockStore(t *testing.T, cluster bool) (string, *redisstore.Store, rueidis.Client) {
	t.Helper()
	prefix, st, raw := layoutStore(t)
	if cluster {
		redisstore.BatchBySlot(st)
	}
	return prefix, st, raw
}

// TestStore_IndexKeysOutliveHashes: the subject index and the global
// indexes hold the entries that lead to a session hash (its revocation
// in Revocations, the session in RevokeSubject), so each must live at
// least as long as any hash it points at, which Redis ahead of the nodes
// keeps up to redisstore.AheadMargin longer (hash_until). Extending one
// gives an hour more, so that the writes of sessions ending a little
// later only read its TTL.
func TestStore_IndexKeysOutliveHashes(t *testing.T) {
	t.Parallel()
	for _, sc := range clockStores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			prefix, st, raw := clockStore(t, sc.cluster)
			ctx := t.Context()
			subject := "keys-" + randomHex(4)
			pexpiretime := func(key string) int64 {
				t.Helper()
				at, err := raw.Do(ctx, raw.B().Pexpiretime().Key(key).Build()).AsInt64()
				if err != nil {
					t.Fatalf("PEXPIRETIME %s = %v", key, err)
				}
				return at
			}
			indexes := []string{prefix + ":{" + tagOf(subject) + "}:idx", globalKey(prefix, "gc"), globalKey(prefix, "exp"), globalKey(prefix, "rev")}
			// Redis ahead of the nodes by 10 min; the second session ends
			// just under the hour of slack past the first's index TTL.
			t0 := now().Add(-10 * time.Minute)
			var hashes []string
			create := func(expires time.Time) {
				t.Helper()
				s := newSession(subject, t0)
				s.ExpiresAt, s.IdleExpiresAt = expires, expires
				s.RevokedAt, s.RevokeReason = t0, sessiond.ReasonLogout
				if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
					t.Fatalf("Create() = %v", err)
				}
				hashes = append(hashes, prefix+":{"+tagOf(subject)+"}:s:"+string(s.ID))
			}
			first := t0.Add(time.Hour)
			create(first)
			create(first.Add(2*time.Hour - time.Second))
			for _, k := range indexes {
				for _, h := range hashes {
					if got, hash := pexpiretime(k), pexpiretime(h); got < hash {
						t.Errorf("PEXPIRETIME %s = %d; want at least its session hash's, %d", k, got, hash)
					}
				}
			}
			// A session ending a minute later: the TTLs are only read.
			was := make([]int64, len(indexes))
			for i, k := range indexes {
				was[i] = pexpiretime(k)
			}
			create(first.Add(2*time.Hour - time.Second + time.Minute))
			for i, k := range indexes {
				if got := pexpiretime(k); got != was[i] {
					t.Errorf("PEXPIRETIME %s after a session ending a minute later = %d; want unchanged, %d", k, got, was[i])
				}
			}
		})
	}
}

// TestStore_RevokeSubjectRedisAhead: a subject index dropped a member once
// its absolute expiry passed by Redis's clock. With Redis ahead of the
// nodes, RevokeSubject (logout everywhere) then missed the sessions in
// their last minutes by the nodes' clocks, whose last access tokens
// verifiers still accept: no revocation reached Revocations.
func TestStore_RevokeSubjectRedisAhead(t *testing.T) {
	t.Parallel()
	for _, sc := range clockStores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			_, st, _ := clockStore(t, sc.cluster)
			ctx := t.Context()
			subject := "ahead-" + randomHex(4)
			// Redis ahead by 10 min: the session's expiry passed 5 min ago
			// by Redis's clock, and is 5 min away by the nodes'.
			t0 := now().Add(-10 * time.Minute)
			s := newSession(subject, t0)
			s.ExpiresAt, s.IdleExpiresAt = t0.Add(5*time.Minute), t0.Add(5*time.Minute)
			if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			// Another login of the subject, limited: it reads the index.
			if _, err := st.CreateLimited(ctx, newSession(subject, t0), 10, true); err != nil {
				t.Fatalf("CreateLimited() = %v", err)
			}
			at := t0.Add(time.Second)
			revs, err := st.RevokeSubject(ctx, subject, "", at, sessiond.ReasonLogout)
			if err != nil || !slices.ContainsFunc(revs, func(r sessiond.Revocation) bool { return r.SessionID == s.ID }) {
				t.Fatalf("RevokeSubject() = %v, %v; want the session live by the nodes' clock among them", revs, err)
			}
			got, err := st.Revocations(ctx, t0.Add(-time.Hour))
			if err != nil || !slices.ContainsFunc(got, func(r sessiond.Revocation) bool { return r.SessionID == s.ID }) {
				t.Errorf("Revocations() = %v, %v; want the session's revocation", got, err)
			}
		})
	}
}

// TestStore_RestoredExpiredLeavesNoIndexEntry: the subject index keeps a
// member until its session expired by Redis's clock and by the writer's
// (TestStore_RevokeSubjectRedisAhead); a session stored with an old
// creation time (restored from a backup) does not hold that off: what
// expired a linger and redisstore.AheadMargin ago by Redis's clock, whose
// hash is gone, leaves the index.
func TestStore_RestoredExpiredLeavesNoIndexEntry(t *testing.T) {
	t.Parallel()
	for _, sc := range clockStores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			prefix, st, raw := clockStore(t, sc.cluster)
			ctx := t.Context()
			subject := "restored-" + randomHex(4)
			t0 := now().Add(-redisstore.Linger - redisstore.AheadMargin - 2*time.Hour)
			s := newSession(subject, t0)
			s.ExpiresAt, s.IdleExpiresAt = t0.Add(time.Hour), t0.Add(time.Hour)
			if err := st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			ids, err := raw.Do(ctx, raw.B().Zrange().Key(prefix+":{"+tagOf(subject)+"}:idx").Min("0").Max("-1").Build()).AsStrSlice()
			if err != nil || slices.Contains(ids, string(s.ID)) {
				t.Errorf("subject index = %v, %v; want no %s (expired an hour before the linger and the margin)", ids, err, s.ID)
			}
		})
	}
}
