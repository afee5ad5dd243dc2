package redisstore_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// Outside a Cluster a login and a refresh are each one script: the route
// keys, the change, its records and its global index entries together, so
// a change that is refused leaves none of them behind.

// TestStore_RefusedLoginLeavesNothing: a login the session limit refuses
// leaves no key and no index entry naming the refused session (its route
// keys are released, its index entries never written).
func TestStore_RefusedLoginLeavesNothing(t *testing.T) {
	singleRedis(t)
	t.Parallel()
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	c := rawClient(t)
	ctx := t.Context()
	t0 := now()
	first := newSession("alice", t0)
	if _, err := st.CreateLimited(ctx, first, 1, false, newToken(sessiond.KindRefresh, first.ID, t0)); err != nil {
		t.Fatalf("CreateLimited(first) = %v", err)
	}
	refused := newSession("alice", t0)
	tok := newToken(sessiond.KindRefresh, refused.ID, t0)
	if _, err := st.CreateLimited(ctx, refused, 1, false, tok); !errors.Is(err, sessiond.ErrLimitReached) {
		t.Fatalf("CreateLimited(second, max 1) = %v; want ErrLimitReached", err)
	}
	for _, k := range keys(t, c, prefix) {
		if strings.Contains(k, string(refused.ID)) || strings.Contains(k, hexOf(tok.Hash)) {
			t.Errorf("key %s names the refused session", k)
		}
	}
	for _, name := range []string{"gc", "exp", "rev", "live:" + string(refused.Strategy)} {
		err := c.Do(ctx, c.B().Zscore().Key(globalKey(prefix, name)).Member(ref("alice", refused.ID)).Build()).Error()
		if err == nil {
			t.Errorf("index %s holds the refused session", name)
		}
	}
	if _, err := st.Get(ctx, first.ID); err != nil {
		t.Errorf("Get(first) = %v; want it kept", err)
	}
}

// TestStore_FailedSwapLeavesIndexes: a refresh that fails (its token was
// retired outside the grace window) writes no activity, to the session or
// to the global indexes, whose entries keep the session's idle expiry.
func TestStore_FailedSwapLeavesIndexes(t *testing.T) {
	singleRedis(t)
	t.Parallel()
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	c := rawClient(t)
	ctx := t.Context()
	t0 := now()
	s := newSession("bob", t0)
	s.Strategy = sessiond.StrategyHybrid
	r0 := newToken(sessiond.KindRefresh, s.ID, t0)
	if err := st.Create(ctx, s, r0); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	idle := t0.Add(40 * time.Minute)
	r1 := newToken(sessiond.KindRefresh, s.ID, t0)
	if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: r0.Hash, Next: r1, Now: t0, GraceSince: t0,
		LastActiveAt: t0, IdleExpiresAt: idle}); err != nil {
		t.Fatalf("SwapRefresh(r0) = %v", err)
	}
	scores := func() map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		for _, name := range []string{"gc", "exp", "live:hybrid"} {
			score, err := c.Do(ctx, c.B().Zscore().Key(globalKey(prefix, name)).Member(ref("bob", s.ID)).Build()).AsInt64()
			if err != nil {
				t.Fatalf("ZSCORE %s = %v", name, err)
			}
			out[name] = score
		}
		return out
	}
	before := scores()
	if before["live:hybrid"] != idle.UnixMicro() {
		t.Fatalf("live index score %d after the swap; want its idle expiry %d", before["live:hybrid"], idle.UnixMicro())
	}
	later := t0.Add(time.Minute)
	r2 := newToken(sessiond.KindRefresh, s.ID, later)
	err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: r0.Hash, Next: r2, Now: later, GraceSince: later,
		LastActiveAt: later, IdleExpiresAt: later.Add(3 * time.Hour)})
	if !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Fatalf("SwapRefresh(r0 again) = %v; want ErrRefreshReused", err)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil || !got.IdleExpiresAt.Equal(idle) {
		t.Fatalf("Get() = %v, %v; want idle expiry %v", got, err, idle)
	}
	if after := scores(); !mapsEqual(after, before) {
		t.Errorf("index scores after the failed swap = %v; want %v, as before it", after, before)
	}
}

func hexOf(h sessiond.TokenHash) string { return hex.EncodeToString(h[:]) }

// TestStore_SwapRefusesRevoked: the swap itself refuses a revoked session
// (ErrRevoked), so a refresh checked against a stale copy of the session
// (the client-side cache, a revocation racing the check) cannot rotate its
// token; nothing changes and no route key is left for the next token.
func TestStore_SwapRefusesRevoked(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		c := rawClient(t)
		ctx := t.Context()
		t0 := now()
		s := newSession("carol", t0)
		s.Strategy = sessiond.StrategyHybrid
		r0 := newToken(sessiond.KindRefresh, s.ID, t0)
		if err := st.Create(ctx, s, r0); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if _, err := st.Revoke(ctx, s.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		later := t0.Add(time.Minute)
		r1 := newToken(sessiond.KindRefresh, s.ID, later)
		err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: r0.Hash, Next: r1, Now: later, GraceSince: later,
			LastActiveAt: later, IdleExpiresAt: later.Add(time.Hour),
			Events: []sessiond.Event{{ID: sessiond.NewEventID(later), Time: later, Type: sessiond.EventSessionRefreshed, SessionID: s.ID}}})
		if !errors.Is(err, sessiond.ErrRevoked) {
			t.Fatalf("SwapRefresh(revoked session) = %v; want ErrRevoked", err)
		}
		if tok, _, err := st.Lookup(ctx, r0.Hash); err != nil || !tok.RetiredAt.IsZero() {
			t.Errorf("Lookup(old) = %+v, %v; want it current, not retired", tok, err)
		}
		if _, _, err := st.Lookup(ctx, r1.Hash); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Lookup(next) = %v; want ErrNotFound", err)
		}
		key := redisstore.PrefixOf(st) + ":tok:" + hexOf(r1.Hash)
		if n, err := c.Do(ctx, c.B().Exists().Key(key).Build()).AsInt64(); err != nil || n != 0 {
			t.Errorf("EXISTS %s = %d, %v; want 0 (released)", key, n, err)
		}
		if got, err := st.Get(ctx, s.ID); err != nil || !got.LastActiveAt.Equal(s.LastActiveAt) {
			t.Errorf("Get() = %+v, %v; want activity unchanged (%v)", got, err, s.LastActiveAt)
		}
		if evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{}); err != nil || len(evs) != 0 {
			t.Errorf("QueryEvents() = %v, %v; want no event (the refresh failed)", evs, err)
		}
	})
}
