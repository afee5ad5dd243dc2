package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// newLeewayHarness is newHarness with the codec the server builds by
// default (jwt.leeway 5s) and the given lifetimes (zero: b2c): the leeway
// must not stretch a session's timeouts.
func newLeewayHarness(t *testing.T, st sessiond.Strategy, life sessiond.Lifetimes) *harness {
	t.Helper()
	h := &harness{store: memstore.New(), clock: sessiondtest.NewClock(t0), events: &sessiondtest.Events{}}
	_, h.ring = jwttest.Codec(t, t0, 90*24*time.Hour)
	c, err := jwttoken.New(h.ring, jwttoken.Options{Issuer: jwttest.Issuer, Audience: jwttest.Audience, Leeway: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.codec = c
	h.m = newManager(t, sessiond.Options{
		Strategy: st, Store: h.store, Signed: h.codec, Opaque: opaquetoken.Codec{},
		Clock: h.clock, Events: h.events, GCInterval: -1, Lifetimes: life,
	}, nil)
	return h
}

// TestManager_AbsoluteEndIgnoresLeeway: the absolute timeout ends a
// session at its instant in every strategy (ASVS 7.3.2; docs/lifecycle.md,
// "live while now < absolute_expires_at"). With the internal preset an
// access token's exp is the absolute end, so only the session check stands
// between it and the codec's leeway. (The database strategy reads the end
// from the store: TestManager_AbsoluteTimeout.)
func TestManager_AbsoluteEndIgnoresLeeway(t *testing.T) {
	life, err := sessiond.Preset(sessiond.PresetInternal)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []sessiond.Strategy{sessiond.StrategyJWT, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newLeewayHarness(t, st, life)
			ctx := context.Background()
			iss := h.create(t, "abs", sessiond.CreateOptions{})
			if !iss.AccessExpiresAt.Equal(iss.Session.ExpiresAt) {
				t.Fatalf("setup: access token until %v, session until %v; want the same", iss.AccessExpiresAt, iss.Session.ExpiresAt)
			}
			h.clock.Set(iss.Session.ExpiresAt.Add(-time.Second))
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
				t.Fatalf("Verify 1s before the absolute end = %v", err)
			}
			for _, after := range []time.Duration{0, 2 * time.Second} {
				h.clock.Set(iss.Session.ExpiresAt.Add(after))
				if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrAbsoluteTimeout) {
					t.Errorf("Verify %v after the absolute end = %v; want ErrAbsoluteTimeout", after, err)
				}
			}
		})
	}
}

// TestManager_RefreshAtIdleEndIgnoresLeeway: a refresh token unused up to
// its session's idle end no longer refreshes (RFC 9700 §4.14.2; ASVS
// 7.3.1), in jwt as in hybrid: the jwt strategy's signed refresh token must
// not live the codec's leeway longer and start a new idle window.
func TestManager_RefreshAtIdleEndIgnoresLeeway(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		t.Run(string(st), func(t *testing.T) {
			h := newLeewayHarness(t, st, sessiond.Lifetimes{})
			ctx := context.Background()
			iss := h.create(t, "idle", sessiond.CreateOptions{})
			h.clock.Set(iss.RefreshExpiresAt.Add(-time.Second))
			next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
			if err != nil {
				t.Fatalf("Refresh 1s before the idle end = %v", err)
			}
			for _, after := range []time.Duration{0, 2 * time.Second} {
				h.clock.Set(next.RefreshExpiresAt.Add(after))
				// hybrid's stored session says idle timeout; jwt's token
				// says expired.
				if n, err := h.m.Refresh(ctx, next.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrIdleTimeout) && !errors.Is(err, sessiond.ErrExpired) {
					t.Errorf("Refresh %v after the idle end = %v (new idle end %v); want ErrIdleTimeout or ErrExpired", after, err, refreshEnd(n))
				}
			}
		})
	}
}

func refreshEnd(iss *sessiond.Issued) any {
	if iss == nil {
		return nil
	}
	return iss.RefreshExpiresAt
}

// TestManager_LateReuseOfExpiredRetiredToken: a retired refresh token is
// a reuse whenever it comes back, also after its own expiry while its
// session lives on (the victim kept refreshing): docs/lifecycle.md keeps
// retired hashes until the session is deleted for exactly this, and RFC
// 9700 §4.14.2 asks that presenting an invalidated refresh token revoke the
// grant. Answering "expired" would drop the theft signal and leave the
// family alive.
func TestManager_LateReuseOfExpiredRetiredToken(t *testing.T) {
	h := newLeewayHarness(t, sessiond.StrategyHybrid, sessiond.Lifetimes{}) // b2c: 1h access, 30m idle
	ctx := context.Background()
	iss := h.create(t, "late-thief", sessiond.CreateOptions{})
	stolen, rt := iss.RefreshToken, iss.RefreshToken
	for i := range 3 { // the victim refreshes every 50 minutes
		h.clock.Advance(50 * time.Minute)
		n, err := h.m.Refresh(ctx, rt, sessiond.Client{})
		if err != nil {
			t.Fatalf("victim's refresh %d: %v", i, err)
		}
		rt = n.RefreshToken
	}
	if !h.clock.Now().After(iss.RefreshExpiresAt) {
		t.Fatal("setup: the stolen token has not expired yet")
	}
	if _, err := h.m.Refresh(ctx, stolen, sessiond.Client{IP: "198.51.100.66", UserAgent: "thief"}); !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Errorf("late replay of a retired refresh token = %v; want ErrRefreshReused", err)
	}
	if _, err := h.m.Refresh(ctx, rt, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("the family's current refresh token after the replay = %v; want ErrRevoked", err)
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
		t.Errorf("%d %s events; want 1", n, sessiond.EventRefreshReused)
	}
}

// TestManager_SubMicrosecondLifetimes: times are microseconds
// (docs/lifecycle.md), and every store keeps microseconds. A lifetime with
// a fraction of a microsecond (lifetimes.idle: 30m0.0000005s parses) made
// expiries with nanoseconds: the answer to a login said one idle end and
// the store, cutting it, another, so the session's end depended on the
// store (the memory store kept the nanoseconds). Each expiry is whole
// microseconds, the same in the answer, in the store, and after a refresh.
func TestManager_SubMicrosecondLifetimes(t *testing.T) {
	life := sessiond.Lifetimes{Access: 15*time.Minute + 700, Refresh: 30*24*time.Hour + 300, Idle: 30*time.Minute + 500, Absolute: 8*time.Hour + 900}
	for _, ms := range managerStores() {
		for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
			t.Run(ms.name+"/"+string(st), func(t *testing.T) {
				ctx := context.Background()
				store := ms.nodes(t, 1)[0]
				// Now, not t0: Redis expires keys by its own clock.
				start := time.Now().UTC().Truncate(time.Second)
				clock := sessiondtest.NewClock(start)
				codec, _ := jwttest.Codec(t, start, life.Refresh)
				m := newManager(t, sessiond.Options{Strategy: st, Store: store, Signed: codec, Opaque: opaquetoken.Codec{},
					Clock: clock, GCInterval: -1, Lifetimes: life}, nil)
				iss, err := m.Create(ctx, "alice", sessiond.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				check := func(stage string, iss *sessiond.Issued) {
					t.Helper()
					for name, v := range map[string]time.Time{"idle_expires_at": iss.Session.IdleExpiresAt, "expires_at": iss.Session.ExpiresAt,
						"access_token_expires_at": iss.AccessExpiresAt, "refresh_token_expires_at": iss.RefreshExpiresAt} {
						if v.Nanosecond()%1000 != 0 {
							t.Errorf("%s: %s = %v; want whole microseconds", stage, name, v)
						}
					}
					got, err := m.Get(ctx, iss.Session.ID)
					if err != nil {
						t.Fatal(err)
					}
					if !got.IdleExpiresAt.Equal(iss.Session.IdleExpiresAt) || !got.ExpiresAt.Equal(iss.Session.ExpiresAt) {
						t.Errorf("%s: stored idle %v, absolute %v; answered %v, %v", stage, got.IdleExpiresAt, got.ExpiresAt,
							iss.Session.IdleExpiresAt, iss.Session.ExpiresAt)
					}
				}
				check("create", iss)
				if st == sessiond.StrategyHybrid {
					clock.Advance(time.Minute)
					next, err := m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
					if err != nil {
						t.Fatal(err)
					}
					check("refresh", next)
				}
			})
		}
	}
}

// TestManager_TimeoutNamedWhenBothPassed: a session that idled out and
// is presented after its absolute end too (an app asleep for days) is
// refused for the timeout that ended it, the first to pass
// (docs/lifecycle.md, "the error says which"): idle, unless the idle end
// is the absolute end (a persistent session, or idle capped by it).
func TestManager_TimeoutNamedWhenBothPassed(t *testing.T) {
	ctx := context.Background()
	for _, st := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT, sessiond.StrategyDatabase} {
		for _, tc := range []struct {
			name       string
			persistent bool
			want       error
		}{
			{"idled out", false, sessiond.ErrIdleTimeout},
			{"persistent", true, sessiond.ErrAbsoluteTimeout},
		} {
			t.Run(string(st)+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				iss := h.create(t, "asleep", sessiond.CreateOptions{Persistent: tc.persistent})
				h.clock.Set(iss.Session.ExpiresAt.Add(72 * time.Hour))
				var err error
				if st == sessiond.StrategyDatabase {
					_, err = h.m.Verify(ctx, iss.AccessToken, sessiond.Client{})
				} else {
					_, err = h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
				}
				if !errors.Is(err, tc.want) {
					t.Errorf("three days after both ends = %v; want %v", err, tc.want)
				}
			})
		}
	}
}

func TestSession_CheckNamesFirstTimeout(t *testing.T) {
	idle, abs := t0.Add(time.Hour), t0.Add(8*time.Hour)
	for _, tc := range []struct {
		name string
		idle time.Time
		now  time.Time
		want error
	}{
		{"live", idle, t0, nil},
		{"at the idle end", idle, idle, sessiond.ErrIdleTimeout},
		{"after both, idle first", idle, abs.Add(time.Hour), sessiond.ErrIdleTimeout},
		{"at the absolute end, idle first", idle, abs, sessiond.ErrIdleTimeout},
		{"idle capped by the absolute end", abs, abs, sessiond.ErrAbsoluteTimeout},
		{"after both, idle capped", abs, abs.Add(time.Hour), sessiond.ErrAbsoluteTimeout},
		// A store's Touch keeps the later idle end; one past the absolute
		// end (a third-party store, an absolute end set shorter) ends
		// nothing later than the absolute end.
		{"idle beyond the absolute end", abs.Add(time.Hour), abs, sessiond.ErrAbsoluteTimeout},
		{"live, idle beyond the absolute end", abs.Add(time.Hour), abs.Add(-time.Second), nil},
		// No idle end recorded (a store that dropped it) was never live.
		{"zero idle end", time.Time{}, t0, sessiond.ErrIdleTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessiond.Session{CreatedAt: t0, IdleExpiresAt: tc.idle, ExpiresAt: abs}
			if err := s.Check(tc.now); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("Check(%v) = %v; want %v", tc.now, err, tc.want)
			}
		})
	}
}

// TestManager_TimeoutNamedWithinLeeway: a session whose idle end came a
// few seconds before its absolute end, presented just after both, is
// refused for the idle timeout as it is later on: in the jwt strategy the
// codec's leeway still takes the refresh token then, and the absolute
// check that follows must not rename the timeout.
func TestManager_TimeoutNamedWithinLeeway(t *testing.T) {
	life := sessiond.Lifetimes{Access: time.Hour, Refresh: 30 * 24 * time.Hour, Idle: 30 * time.Minute, Absolute: 8 * time.Hour}
	for _, st := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		for _, after := range []time.Duration{0, time.Second, 10 * time.Second} {
			t.Run(string(st)+"/"+after.String(), func(t *testing.T) {
				h := newLeewayHarness(t, st, life) // leeway 5s
				ctx := context.Background()
				iss := h.create(t, "late", sessiond.CreateOptions{})
				abs := iss.Session.ExpiresAt
				// Refreshed every hour, last at the moment that puts the
				// idle end 2s before the absolute end.
				last := abs.Add(-life.Access - life.Idle - 2*time.Second)
				next := iss
				for at := t0.Add(time.Hour); ; at = at.Add(time.Hour) {
					if at.After(last) {
						at = last
					}
					h.clock.Set(at)
					n, err := h.m.Refresh(ctx, next.RefreshToken, sessiond.Client{})
					if err != nil {
						t.Fatalf("refresh at %v: %v", at, err)
					}
					if next = n; at.Equal(last) {
						break
					}
				}
				if want := abs.Add(-2 * time.Second); !next.RefreshExpiresAt.Equal(want) {
					t.Fatalf("setup: idle end %v; want %v", next.RefreshExpiresAt, want)
				}
				h.clock.Set(abs.Add(after))
				if _, err := h.m.Refresh(ctx, next.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrIdleTimeout) {
					t.Errorf("Refresh %v after the absolute end, 2s after the idle end = %v; want ErrIdleTimeout", after, err)
				}
			})
		}
	}
}
