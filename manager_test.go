package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type harness struct {
	m      *sessiond.Manager
	store  *memstore.Store
	clock  *sessiondtest.Clock
	events *sessiondtest.Events
	ring   *jwttoken.KeyRing
	codec  *jwttoken.Codec
}

// newHarness builds a Manager of strategy on a memory store with a fake
// clock at t0; mod may adjust the options before New.
func newHarness(t *testing.T, strategy sessiond.Strategy, mod func(*sessiond.Options)) *harness {
	t.Helper()
	h := &harness{store: memstore.New(), clock: sessiondtest.NewClock(t0), events: &sessiondtest.Events{}}
	h.codec, h.ring = jwttest.Codec(t, t0, 90*24*time.Hour)
	opts := sessiond.Options{
		Strategy:   strategy,
		Store:      h.store,
		Signed:     h.codec,
		Opaque:     opaquetoken.Codec{},
		Clock:      h.clock,
		Events:     h.events,
		GCInterval: -1,
	}
	h.m = newManager(t, opts, mod)
	return h
}

// newManager is sessiond.New on opts as mod, when not nil, adjusts them;
// the Manager is closed when the test ends.
func newManager(t *testing.T, opts sessiond.Options, mod func(*sessiond.Options)) *sessiond.Manager {
	t.Helper()
	if mod != nil {
		mod(&opts)
	}
	m, err := sessiond.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func (h *harness) create(t *testing.T, subject string, o sessiond.CreateOptions) *sessiond.Issued {
	t.Helper()
	iss, err := h.m.Create(context.Background(), subject, o)
	if err != nil {
		t.Fatalf("Create(%q): %v", subject, err)
	}
	return iss
}

var strategies = []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid}

func TestManager_CreateVerify(t *testing.T) {
	for _, st := range strategies {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			ctx := context.Background()
			client := sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 test"}
			iss := h.create(t, "alice", sessiond.CreateOptions{Claims: json.RawMessage(`{"role":"admin"}`), Client: client})
			if !iss.Session.ID.Valid() {
				t.Errorf("session ID %q is not a valid ID", iss.Session.ID)
			}
			if got := iss.Session.Strategy; got != st {
				t.Errorf("Strategy = %q; want %q", got, st)
			}
			if (iss.RefreshToken == "") != (st == sessiond.StrategyDatabase) {
				t.Errorf("refresh token present = %v for %s", iss.RefreshToken != "", st)
			}
			s, err := h.m.Verify(ctx, iss.AccessToken, client)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if s.ID != iss.Session.ID || s.Subject != "alice" || string(s.Claims) != `{"role":"admin"}` {
				t.Errorf("Verify = %+v; want the created session", s)
			}
			if !s.ExpiresAt.Equal(iss.Session.ExpiresAt) {
				t.Errorf("ExpiresAt = %v; want %v", s.ExpiresAt, iss.Session.ExpiresAt)
			}
			// A second session of the same subject gets other tokens.
			iss2 := h.create(t, "alice", sessiond.CreateOptions{})
			if iss2.AccessToken == iss.AccessToken || iss2.Session.ID == iss.Session.ID {
				t.Error("two logins share a token or a session ID")
			}
		})
	}
}

// TestManager_VerifyAfterClose: a closed Manager refuses every token.
// Its feed and watermark poll have stopped, so a hybrid or jwt Manager
// that kept verifying would accept a token revoked on another node (a
// library user who closed it too early, a request outliving shutdown).
func TestManager_VerifyAfterClose(t *testing.T) {
	for _, st := range strategies {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			ctx := context.Background()
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
				t.Fatalf("Verify before Close: %v", err)
			}
			if err := h.m.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("Verify after Close = %v; want ErrStoreUnavailable", err)
			}
			if _, err := h.m.Inspect(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("Inspect after Close = %v; want ErrStoreUnavailable", err)
			}
		})
	}
}

// TestManager_Expiry checks the formulas of docs/lifecycle.md on the b2c preset.
func TestManager_Expiry(t *testing.T) {
	b2c, _ := sessiond.Preset(sessiond.PresetB2C)
	cases := []struct {
		strategy                        sessiond.Strategy
		persistent                      bool
		access, idle, absolute, refresh time.Duration // offsets from t0; refresh 0 = none
	}{
		{sessiond.StrategyDatabase, false, 8 * time.Hour, 30 * time.Minute, 8 * time.Hour, 0},
		{sessiond.StrategyDatabase, true, b2c.Refresh, b2c.Refresh, b2c.Refresh, 0},
		{sessiond.StrategyHybrid, false, time.Hour, 90 * time.Minute, 8 * time.Hour, 90 * time.Minute},
		{sessiond.StrategyHybrid, true, time.Hour, b2c.Refresh, b2c.Refresh, b2c.Refresh},
		{sessiond.StrategyJWT, false, time.Hour, 90 * time.Minute, 8 * time.Hour, 90 * time.Minute},
	}
	for _, tc := range cases {
		name := string(tc.strategy)
		if tc.persistent {
			name += "/persistent"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.strategy, nil)
			iss := h.create(t, "bob", sessiond.CreateOptions{Persistent: tc.persistent})
			check := func(what string, got time.Time, want time.Duration) {
				t.Helper()
				if !got.Equal(t0.Add(want)) {
					t.Errorf("%s = %v; want t0+%v", what, got, want)
				}
			}
			check("AccessExpiresAt", iss.AccessExpiresAt, tc.access)
			check("IdleExpiresAt", iss.Session.IdleExpiresAt, tc.idle)
			check("ExpiresAt", iss.Session.ExpiresAt, tc.absolute)
			if tc.refresh != 0 {
				check("RefreshExpiresAt", iss.RefreshExpiresAt, tc.refresh)
			}
		})
	}
}

func TestManager_DatabaseIdleAndTouch(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	ctx := context.Background()
	iss := h.create(t, "carol", sessiond.CreateOptions{})
	id := iss.Session.ID

	// Within the touch interval nothing is written back.
	h.clock.Advance(30 * time.Second)
	if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	stored, _ := h.store.Get(ctx, id)
	if !stored.LastActiveAt.Equal(t0) {
		t.Errorf("LastActiveAt = %v after a verify inside the touch interval; want t0 (no write)", stored.LastActiveAt)
	}
	// Activity every 20 minutes keeps the session alive past the idle timeout.
	for i := 0; i < 6; i++ {
		h.clock.Advance(20 * time.Minute)
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
			t.Fatalf("verify after %d×20m: %v", i+1, err)
		}
	}
	stored, _ = h.store.Get(ctx, id)
	if want := h.clock.Now(); !stored.LastActiveAt.Equal(want) {
		t.Errorf("LastActiveAt = %v; want %v (touched)", stored.LastActiveAt, want)
	}
	// Silence for the idle timeout ends it.
	h.clock.Advance(30 * time.Minute)
	if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrIdleTimeout) {
		t.Fatalf("Verify after 30m idle = %v; want ErrIdleTimeout", err)
	}
}

func TestManager_AbsoluteTimeout(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			ctx := context.Background()
			iss := h.create(t, "dave", sessiond.CreateOptions{})
			at, rt := iss.AccessToken, iss.RefreshToken
			// Stay active every 20 minutes (refreshing in hybrid) until the absolute timeout.
			var err error
			for elapsed := time.Duration(0); elapsed < 9*time.Hour; elapsed += 20 * time.Minute {
				h.clock.Advance(20 * time.Minute)
				if st == sessiond.StrategyHybrid {
					var next *sessiond.Issued
					if next, err = h.m.Refresh(ctx, rt, sessiond.Client{}); err == nil {
						at, rt = next.AccessToken, next.RefreshToken
						if next.Session.ExpiresAt.After(t0.Add(8 * time.Hour)) {
							t.Fatalf("refresh moved the absolute expiry to %v", next.Session.ExpiresAt)
						}
					}
				}
				if err == nil {
					_, err = h.m.Verify(ctx, at, sessiond.Client{})
				}
				if err != nil {
					break
				}
			}
			if !errors.Is(err, sessiond.ErrAbsoluteTimeout) {
				t.Fatalf("after 8h of activity: %v; want ErrAbsoluteTimeout", err)
			}
			if now := h.clock.Now(); now.Before(t0.Add(8 * time.Hour)) {
				t.Fatalf("session ended at %v, before the absolute timeout", now)
			}
		})
	}
}

func TestManager_HybridRevocationAndCache(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	iss := h.create(t, "erin", sessiond.CreateOptions{})
	for i := 0; i < 3; i++ { // cold, then warm from the verify cache
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
	if n := h.m.Stats().VerifyCacheEntries; n != 1 {
		t.Errorf("VerifyCacheEntries = %d; want 1", n)
	}
	if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("Verify after revoke = %v; want ErrRevoked (even from the cache)", err)
	}
	if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("Refresh after revoke = %v; want ErrRevoked", err)
	}
	if n := h.events.Count(sessiond.EventSessionRevoked); n != 1 {
		t.Errorf("%d session.revoked events; want 1", n)
	}

	// A cached token still expires on time.
	iss2 := h.create(t, "erin", sessiond.CreateOptions{})
	if _, err := h.m.Verify(ctx, iss2.AccessToken, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour + time.Second)
	if _, err := h.m.Verify(ctx, iss2.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrExpired) {
		t.Fatalf("Verify of an expired cached token = %v; want ErrExpired", err)
	}

	// The revoked set forgets an entry once no access token can be live
	// (sessiond.RevocationHorizon: the write margin, the access lifetime,
	// the leeway and a second after the revocation).
	h.clock.Advance(sessiond.RevokeWriteMargin)
	if n := h.m.Stats().RevokedSetEntries; n != 1 {
		t.Errorf("RevokedSetEntries = %d; want 1 before the access lifetime has passed", n)
	}
	h.clock.Advance(2 * time.Second)
	h.m.CollectGarbage(ctx, 100)
	if n := h.m.Stats().RevokedSetEntries; n != 0 {
		t.Errorf("RevokedSetEntries = %d an hour after the revocation; want 0", n)
	}
}

// TestManager_HybridRestart: a new Manager on the same store (a restart)
// still rejects access tokens of sessions revoked before it started.
func TestManager_HybridRestart(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	iss := h.create(t, "frank", sessiond.CreateOptions{})
	if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonAdmin); err != nil {
		t.Fatal(err)
	}
	m2, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: h.store, Signed: h.codec,
		Opaque: opaquetoken.Codec{}, Clock: h.clock, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("Verify on a restarted node = %v; want ErrRevoked", err)
	}
}

func TestManager_RefreshRotationAndReuse(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	iss := h.create(t, "gina", sessiond.CreateOptions{Client: sessiond.Client{IP: "198.51.100.1"}})
	rt1 := iss.RefreshToken

	h.clock.Advance(10 * time.Minute)
	next, err := h.m.Refresh(ctx, rt1, sessiond.Client{})
	if err != nil {
		t.Fatalf("Refresh(rt1): %v", err)
	}
	rt2 := next.RefreshToken
	if rt2 == rt1 || next.AccessToken == iss.AccessToken {
		t.Fatal("refresh did not issue new tokens")
	}
	if next.Session.ID != iss.Session.ID {
		t.Errorf("refresh changed the session ID")
	}
	if !next.Session.LastActiveAt.Equal(h.clock.Now()) {
		t.Errorf("LastActiveAt = %v; want now", next.Session.LastActiveAt)
	}

	// The thief replays rt1 after the reuse interval: the family dies.
	h.clock.Advance(6 * time.Second)
	if _, err := h.m.Refresh(ctx, rt1, sessiond.Client{IP: "192.0.2.66"}); !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Fatalf("Refresh(rt1) again = %v; want ErrRefreshReused", err)
	}
	if _, err := h.m.Refresh(ctx, rt2, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("Refresh(rt2) after reuse = %v; want ErrRevoked", err)
	}
	if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("Verify(family access token) after reuse = %v; want ErrRevoked", err)
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
		t.Errorf("%d refresh_token_reused events; want 1", n)
	}
	s, _ := h.store.Get(ctx, iss.Session.ID)
	if s.RevokeReason != sessiond.ReasonReuse {
		t.Errorf("RevokeReason = %q; want reuse", s.RevokeReason)
	}
}

func TestManager_RefreshReuseInterval(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	iss := h.create(t, "hank", sessiond.CreateOptions{})
	a, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Second) // the second tab, inside the 5 s interval
	b, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatalf("second refresh inside the reuse interval: %v", err)
	}
	if a.Session.ID != b.Session.ID {
		t.Error("the benign race forked a new session")
	}
	for _, rt := range []sessiond.Secret{a.RefreshToken, b.RefreshToken} {
		if _, err := h.m.Refresh(ctx, rt, sessiond.Client{}); err != nil {
			t.Errorf("refresh with a successor: %v", err)
		}
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 0 {
		t.Errorf("%d reuse events for a benign race; want 0", n)
	}
}

// TestManager_ConcurrentRefresh: 50 goroutines refresh one token at once.
func TestManager_ConcurrentRefresh(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reuse time.Duration
	}{{"no reuse interval", -1}, {"with reuse interval", 5 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.ReuseInterval = tc.reuse })
			ctx := context.Background()
			iss := h.create(t, "ivy", sessiond.CreateOptions{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, reused := 0, 0
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
						if next.Session.ID != iss.Session.ID {
							t.Error("a refresh minted another session")
						}
					case errors.Is(err, sessiond.ErrRefreshReused), errors.Is(err, sessiond.ErrRevoked):
						reused++
					default:
						t.Errorf("Refresh: %v", err)
					}
				}()
			}
			wg.Wait()
			if tc.reuse < 0 {
				if ok != 1 || reused != 49 {
					t.Fatalf("ok=%d reused=%d; want exactly one winner and 49 reuse detections", ok, reused)
				}
				// The winner cannot be told from a thief: the family is revoked.
				if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("Verify after a detected reuse = %v; want ErrRevoked", err)
				}
			} else if ok != 50 {
				t.Fatalf("ok=%d; want all 50 inside the reuse interval", ok)
			}
		})
	}
}

func TestManager_Rotate(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			ctx := context.Background()
			old := h.create(t, "jack", sessiond.CreateOptions{Claims: json.RawMessage(`{"role":"user"}`)})
			if _, err := h.m.Verify(ctx, old.AccessToken, sessiond.Client{}); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Minute)
			rot, err := h.m.Rotate(ctx, old.Session.ID)
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if rot.Session.ID == old.Session.ID {
				t.Fatal("Rotate kept the session ID")
			}
			if !rot.Session.ExpiresAt.Equal(old.Session.ExpiresAt) {
				t.Errorf("rotated ExpiresAt = %v; want the old %v (rotation must not extend)", rot.Session.ExpiresAt, old.Session.ExpiresAt)
			}
			if _, err := h.m.Verify(ctx, old.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("old access token after Rotate = %v; want ErrRevoked", err)
			}
			if old.RefreshToken != "" {
				if _, err := h.m.Refresh(ctx, old.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("old refresh token after Rotate = %v; want ErrRevoked", err)
				}
			}
			if s, err := h.m.Verify(ctx, rot.AccessToken, sessiond.Client{}); err != nil || string(s.Claims) != `{"role":"user"}` {
				t.Errorf("new token: %v, claims %s", err, s.Claims)
			}
			if _, err := h.m.Rotate(ctx, old.Session.ID); !errors.Is(err, sessiond.ErrNotFound) {
				t.Errorf("Rotate of a rotated session = %v; want ErrNotFound", err)
			}
		})
	}
}

// revokeOnRevoke is a memstore where an operator's revocation lands just
// before each revocation the Manager makes: a session revoked between the
// Manager's read of it and its own revoke.
type revokeOnRevoke struct {
	*memstore.Store
}

func (s *revokeOnRevoke) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	if _, err := s.Store.Revoke(ctx, id, at.Add(-time.Millisecond), sessiond.ReasonAdmin); err != nil {
		return nil, err
	}
	return s.Store.Revoke(ctx, id, at, reason)
}

func (s *revokeOnRevoke) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	if _, err := s.Store.Revoke(ctx, id, at.Add(-time.Millisecond), sessiond.ReasonAdmin); err != nil {
		return nil, false, err
	}
	return s.Store.RevokeRecorded(ctx, id, at, reason, revoked)
}

// TestManager_RotateOfSessionRevokedMeanwhile: a session revoked after
// Rotate read it and before Rotate revoked it gets no successor, with or
// without a store that records the revocation's events: otherwise an
// operator's revocation, the kill switch or theft detection would be
// undone by a rotation running at that moment.
func TestManager_RotateOfSessionRevokedMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name string
		sink sessiond.EventSink // nil: the harness's plain sink (Store.Revoke)
	}{{"Revoke", nil}, {"RevokeRecorded", &atomicSink{}}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				o.Store = &revokeOnRevoke{Store: o.Store.(*memstore.Store)}
				if tc.sink != nil {
					o.Events = tc.sink
				}
			})
			ctx := context.Background()
			old := h.create(t, "jack", sessiond.CreateOptions{})
			h.clock.Advance(time.Minute)
			if rot, err := h.m.Rotate(ctx, old.Session.ID); !errors.Is(err, sessiond.ErrNotFound) || rot != nil {
				t.Fatalf("Rotate of a session revoked meanwhile = %v, %v; want nil, ErrNotFound", rot, err)
			}
			if live, err := h.m.List(ctx, "jack"); err != nil || len(live) != 0 {
				t.Fatalf("List after the refused Rotate = %d sessions, %v; want none", len(live), err)
			}
			s, err := h.store.Get(ctx, old.Session.ID)
			if err != nil || s.RevokeReason != sessiond.ReasonAdmin {
				t.Fatalf("old session = %+v, %v; want revoked by the operator", s, err)
			}
		})
	}
}

func TestManager_RevokeSubjectAndList(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	ctx := context.Background()
	a := h.create(t, "kim", sessiond.CreateOptions{})
	h.clock.Advance(time.Second)
	b := h.create(t, "kim", sessiond.CreateOptions{})
	h.clock.Advance(time.Second)
	c := h.create(t, "kim", sessiond.CreateOptions{})
	other := h.create(t, "lou", sessiond.CreateOptions{})

	list, err := h.m.List(ctx, "kim")
	if err != nil || len(list) != 3 || list[0].ID != a.Session.ID || list[2].ID != c.Session.ID {
		t.Fatalf("List = %d sessions, %v; want a, b, c oldest first", len(list), err)
	}
	n, err := h.m.RevokeSubject(ctx, "kim", b.Session.ID, sessiond.ReasonAdmin)
	if err != nil || n != 2 {
		t.Fatalf("RevokeSubject except b = %d, %v; want 2", n, err)
	}
	for _, iss := range []*sessiond.Issued{a, c} {
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("revoked session verifies: %v", err)
		}
	}
	for _, iss := range []*sessiond.Issued{b, other} {
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("kept session: %v", err)
		}
	}
	if n, _ := h.m.RevokeSubject(ctx, "kim", "", sessiond.ReasonAdmin); n != 1 {
		t.Errorf("RevokeSubject all = %d; want 1 (only b left)", n)
	}
	if list, _ := h.m.List(ctx, "kim"); len(list) != 0 {
		t.Errorf("List after revoking all = %d sessions; want 0", len(list))
	}
	if err := h.m.Revoke(ctx, sessiond.NewSessionID(), sessiond.ReasonAdmin); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v; want ErrNotFound", err)
	}
	if err := h.m.Revoke(ctx, a.Session.ID, sessiond.ReasonAdmin); err != nil {
		t.Errorf("Revoke(already revoked) = %v; want nil", err)
	}
}

func TestManager_RevokeToken(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	for _, pick := range []func(*sessiond.Issued) sessiond.Secret{
		func(i *sessiond.Issued) sessiond.Secret { return i.AccessToken },
		func(i *sessiond.Issued) sessiond.Secret { return i.RefreshToken },
	} {
		iss := h.create(t, "max", sessiond.CreateOptions{})
		if err := h.m.RevokeToken(ctx, pick(iss)); err != nil {
			t.Fatal(err)
		}
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("Verify after RevokeToken = %v; want ErrRevoked", err)
		}
	}
	for _, junk := range []sessiond.Secret{"", "garbage", sessiond.Secret(strings.Repeat("x", 10000))} {
		if err := h.m.RevokeToken(ctx, junk); err != nil {
			t.Errorf("RevokeToken(junk) = %v; want nil (RFC 7009)", err)
		}
	}
}

func TestManager_JWTStrategy(t *testing.T) {
	h := newHarness(t, sessiond.StrategyJWT, nil)
	ctx := context.Background()
	iss := h.create(t, "nia", sessiond.CreateOptions{})
	h.clock.Advance(50 * time.Minute)
	next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); err != nil {
		t.Fatalf("Verify(refreshed): %v", err)
	}
	if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); !errors.Is(err, sessiond.ErrUnsupported) {
		t.Errorf("Revoke in jwt = %v; want ErrUnsupported", err)
	}
	if _, err := h.m.Refresh(ctx, next.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("access token as refresh token = %v; want ErrInvalidToken", err)
	}
	if _, err := h.m.Verify(ctx, next.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("refresh token as access token = %v; want ErrInvalidToken", err)
	}
	// Idle: the refresh token dies idle-timeout after the access token.
	h.clock.Advance(time.Hour + 31*time.Minute)
	if _, err := h.m.Refresh(ctx, next.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrIdleTimeout) {
		t.Errorf("refresh after the idle window = %v; want ErrIdleTimeout", err)
	}
	// Key rotation of the incident kind invalidates everything.
	iss2 := h.create(t, "nia", sessiond.CreateOptions{})
	if err := h.ring.RetireAll(h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.m.PurgeVerifyCache()
	if _, err := h.m.Verify(ctx, iss2.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("Verify after RetireAll = %v; want ErrInvalidToken", err)
	}
}

// TestManager_BadTokens: every malformed or misdirected token gets its typed
// error and leaves the store unchanged.
func TestManager_BadTokens(t *testing.T) {
	ctx := context.Background()
	hy := newHarness(t, sessiond.StrategyHybrid, nil)
	db := newHarness(t, sessiond.StrategyDatabase, func(o *sessiond.Options) { o.Store = hy.store })
	jw := newHarness(t, sessiond.StrategyJWT, nil)
	hyIss := hy.create(t, "olga", sessiond.CreateOptions{})
	dbIss := db.create(t, "olga", sessiond.CreateOptions{})
	jwIss := jw.create(t, "olga", sessiond.CreateOptions{})
	// A hybrid token signed with the jwt harness's keys is a foreign token;
	// one signed with the same keys under another strategy is refused by claim.
	sameKeys := newHarness(t, sessiond.StrategyJWT, func(o *sessiond.Options) { o.Signed = hy.codec })
	jwSameKeys := sameKeys.create(t, "olga", sessiond.CreateOptions{})

	before, _ := hy.store.List(ctx, "olga", hy.clock.Now())

	flip := func(s sessiond.Secret, i int) sessiond.Secret {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return sessiond.Secret(b)
	}
	cases := []struct {
		name string
		m    *sessiond.Manager
		tok  sessiond.Secret
		want error
	}{
		{"db empty", db.m, "", sessiond.ErrInvalidToken},
		{"db garbage", db.m, "not a token", sessiond.ErrInvalidToken},
		{"db truncated", db.m, dbIss.AccessToken[:40], sessiond.ErrInvalidToken},
		{"db oversized", db.m, sessiond.Secret(strings.Repeat("a", 9000)), sessiond.ErrInvalidToken},
		{"db wrong checksum", db.m, flip(dbIss.AccessToken, len(dbIss.AccessToken)-2), sessiond.ErrInvalidToken},
		{"db unknown well-formed", db.m, mustOpaque(t), sessiond.ErrInvalidToken},
		{"db given hybrid refresh", db.m, hyIss.RefreshToken, sessiond.ErrInvalidToken},
		{"db given hybrid access", db.m, hyIss.AccessToken, sessiond.ErrInvalidToken},
		{"hybrid given db token", hy.m, dbIss.AccessToken, sessiond.ErrInvalidToken},
		{"hybrid given refresh", hy.m, hyIss.RefreshToken, sessiond.ErrInvalidToken},
		{"hybrid given foreign jwt", hy.m, jwIss.AccessToken, sessiond.ErrInvalidToken},
		{"hybrid given jwt-strategy token, same keys", hy.m, jwSameKeys.AccessToken, sessiond.ErrInvalidToken},
		{"hybrid tampered signature", hy.m, flip(hyIss.AccessToken, len(hyIss.AccessToken)-5), sessiond.ErrInvalidToken},
		{"hybrid tampered payload", hy.m, flip(hyIss.AccessToken, strings.IndexByte(string(hyIss.AccessToken), '.')+5), sessiond.ErrInvalidToken},
		{"hybrid oversized", hy.m, sessiond.Secret(strings.Repeat("e", 9000)), sessiond.ErrInvalidToken},
		{"jwt given refresh jwt", jw.m, jwIss.RefreshToken, sessiond.ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.Verify(ctx, tc.tok, sessiond.Client{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v; want %v", err, tc.want)
			}
			if len(tc.tok) > 20 && strings.Contains(err.Error(), string(tc.tok)) {
				t.Error("error message quotes the token")
			}
		})
	}
	refreshCases := []struct {
		name string
		m    *sessiond.Manager
		tok  sessiond.Secret
		want error
	}{
		{"hybrid access as refresh", hy.m, hyIss.AccessToken, sessiond.ErrInvalidToken},
		{"hybrid garbage", hy.m, "sdrt_nope", sessiond.ErrInvalidToken},
		{"hybrid db token", hy.m, dbIss.AccessToken, sessiond.ErrInvalidToken},
		{"hybrid oversized", hy.m, sessiond.Secret(strings.Repeat("r", 9000)), sessiond.ErrInvalidToken},
		{"jwt access as refresh", jw.m, jwIss.AccessToken, sessiond.ErrInvalidToken},
		{"jwt given hybrid refresh", jw.m, hyIss.RefreshToken, sessiond.ErrInvalidToken},
		{"db has no refresh", db.m, hyIss.RefreshToken, sessiond.ErrUnsupported},
	}
	for _, tc := range refreshCases {
		t.Run("refresh/"+tc.name, func(t *testing.T) {
			if _, err := tc.m.Refresh(ctx, tc.tok, sessiond.Client{}); !errors.Is(err, tc.want) {
				t.Fatalf("Refresh = %v; want %v", err, tc.want)
			}
		})
	}
	after, _ := hy.store.List(ctx, "olga", hy.clock.Now())
	if len(after) != len(before) {
		t.Fatalf("bad tokens changed the store: %d live sessions, was %d", len(after), len(before))
	}
	for _, tok := range []sessiond.Secret{hyIss.AccessToken, dbIss.AccessToken} {
		m := hy.m
		if tok == dbIss.AccessToken {
			m = db.m
		}
		if _, err := m.Verify(ctx, tok, sessiond.Client{}); err != nil {
			t.Errorf("a good token stopped verifying after the bad ones: %v", err)
		}
	}
}

func mustOpaque(t *testing.T) sessiond.Secret {
	tok, _, err := opaquetoken.Codec{}.New(sessiond.KindAccess)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestManager_BadArguments(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	cases := []struct {
		name    string
		subject string
		opts    sessiond.CreateOptions
		field   string
	}{
		{"empty subject", "", sessiond.CreateOptions{}, "subject"},
		{"long subject", strings.Repeat("s", 257), sessiond.CreateOptions{}, "subject"},
		{"control chars", "a\nb", sessiond.CreateOptions{}, "subject"},
		{"invalid utf8", "\xff\xfe", sessiond.CreateOptions{}, "subject"},
		{"claims not object", "p", sessiond.CreateOptions{Claims: json.RawMessage(`[1,2]`)}, "claims"},
		{"claims malformed", "p", sessiond.CreateOptions{Claims: json.RawMessage(`{"a":`)}, "claims"},
		{"claims too big", "p", sessiond.CreateOptions{Claims: json.RawMessage(`{"a":"` + strings.Repeat("x", 4100) + `"}`)}, "claims"},
		{"bad ip", "p", sessiond.CreateOptions{Client: sessiond.Client{IP: "999.1.1.1"}}, "client.ip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.m.Create(ctx, tc.subject, tc.opts)
			var ae *sessiond.ArgumentError
			if !errors.Is(err, sessiond.ErrInvalidArgument) || !errors.As(err, &ae) || ae.Field != tc.field {
				t.Fatalf("Create = %v; want an ArgumentError on %q", err, tc.field)
			}
		})
	}
	// A long User-Agent is cut, not refused.
	iss := h.create(t, "p", sessiond.CreateOptions{Client: sessiond.Client{UserAgent: strings.Repeat("é", 400)}})
	if n := len(iss.Session.Client.UserAgent); n > 512 || n < 500 {
		t.Errorf("UserAgent kept %d bytes; want it cut to at most 512", n)
	}
}

func TestManager_CollectGarbage(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	ctx := context.Background()
	for range 25 {
		h.create(t, "quin", sessiond.CreateOptions{})
	}
	keep := h.create(t, "quin", sessiond.CreateOptions{Persistent: true})
	h.clock.Advance(31 * time.Minute) // past the idle timeout of the non-persistent ones
	n, err := h.m.CollectGarbage(ctx, 10)
	if err != nil || n != 25 {
		t.Fatalf("CollectGarbage = %d, %v; want 25", n, err)
	}
	if _, err := h.m.Verify(ctx, keep.AccessToken, sessiond.Client{}); err != nil {
		t.Errorf("persistent session collected: %v", err)
	}
}

func TestSecret_NeverPrinted(t *testing.T) {
	s := sessiond.Secret("sdat_supersecret")
	for _, got := range []string{s.String(), strings.TrimSpace(strings.ReplaceAll(fmtAll(s), "\n", ""))} {
		if strings.Contains(got, "supersecret") {
			t.Errorf("secret printed: %q", got)
		}
	}
	b, _ := json.Marshal(struct{ T sessiond.Secret }{s})
	if strings.Contains(string(b), "supersecret") {
		t.Errorf("secret marshalled: %s", b)
	}
}

func TestManager_SessionLimit(t *testing.T) {
	ctx := context.Background()
	t.Run("evict_oldest", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.MaxSessions = 2 })
		a := h.create(t, "rae", sessiond.CreateOptions{})
		h.clock.Advance(time.Minute)
		b := h.create(t, "rae", sessiond.CreateOptions{})
		h.clock.Advance(time.Minute)
		c := h.create(t, "rae", sessiond.CreateOptions{})
		if _, err := h.m.Verify(ctx, a.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("oldest session after the third login = %v; want ErrRevoked", err)
		}
		for _, iss := range []*sessiond.Issued{b, c} {
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("newer session: %v", err)
			}
		}
	})
	t.Run("reject", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyDatabase, func(o *sessiond.Options) {
			o.MaxSessions, o.LimitPolicy = 1, sessiond.LimitReject
		})
		h.create(t, "sam", sessiond.CreateOptions{})
		if _, err := h.m.Create(ctx, "sam", sessiond.CreateOptions{}); !errors.Is(err, sessiond.ErrLimitReached) {
			t.Fatalf("second login = %v; want ErrLimitReached", err)
		}
	})
	t.Run("single", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyDatabase, func(o *sessiond.Options) { o.LimitPolicy = sessiond.LimitSingle })
		a := h.create(t, "tia", sessiond.CreateOptions{})
		b := h.create(t, "tia", sessiond.CreateOptions{})
		if _, err := h.m.Verify(ctx, a.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("first session in single mode = %v; want ErrRevoked", err)
		}
		if _, err := h.m.Verify(ctx, b.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("new session: %v", err)
		}
	})
	t.Run("lowered", func(t *testing.T) {
		// A limit set where a subject already has far more sessions: a
		// login evicts a batch, logs that more may remain, and the next
		// logins evict the rest.
		h := newHarness(t, sessiond.StrategyDatabase, nil)
		total := sessiond.MaxLimitEvictions + 20
		for range total {
			h.create(t, "uma", sessiond.CreateOptions{})
		}
		// Written by the concurrent-login check's goroutine too.
		var logs testenv.SyncBuffer
		m := newManager(t, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: h.store, Opaque: opaquetoken.Codec{},
			Clock: h.clock, GCInterval: -1, MaxSessions: 5, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
		if _, err := m.Create(ctx, "uma", sessiond.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if live, _ := h.store.List(ctx, "uma", h.clock.Now()); len(live) != total+1-sessiond.MaxLimitEvictions {
			t.Errorf("%d live after the first login; want %d", len(live), total+1-sessiond.MaxLimitEvictions)
		}
		if !strings.Contains(logs.String(), "may still be over its limit") || !strings.Contains(logs.String(), "evicted=128") {
			t.Errorf("log = %q; want the warning that the subject may still be over its limit", logs.String())
		}
		mark := len(logs.String())
		if _, err := m.Create(ctx, "uma", sessiond.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if live, _ := h.store.List(ctx, "uma", h.clock.Now()); len(live) != 5 {
			t.Errorf("%d live after the second login; want 5", len(live))
		}
		if after := logs.String()[mark:]; strings.Contains(after, "may still be over its limit") {
			t.Errorf("log after a login that evicted the rest = %q; want no warning", after)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []sessiond.Options{
			{Strategy: sessiond.StrategyDatabase, Store: memstore.New(), Opaque: opaquetoken.Codec{}, LimitPolicy: "lottery"},
			{Strategy: sessiond.StrategyDatabase, Store: memstore.New(), Opaque: opaquetoken.Codec{}, MaxSessions: -1},
		} {
			if _, err := sessiond.New(ctx, o); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New(%+v) = %v; want ErrInvalidArgument", o.LimitPolicy, err)
			}
		}
	})
}

func TestManager_RefreshWithoutRotationOrDetection(t *testing.T) {
	ctx := context.Background()
	t.Run("no rotation", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.NoRotation = true })
		iss := h.create(t, "uma", sessiond.CreateOptions{})
		for i := range 3 {
			h.clock.Advance(50 * time.Minute) // past the first refresh token's recorded expiry by the 2nd round
			next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
			if err != nil {
				t.Fatalf("refresh %d with the same token: %v", i, err)
			}
			if next.RefreshToken != iss.RefreshToken {
				t.Fatal("refresh token changed although rotation is off")
			}
		}
	})
	t.Run("no reuse detection", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.NoReuseDetection = true })
		iss := h.create(t, "val", sessiond.CreateOptions{})
		next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
		if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Fatalf("retired token = %v; want ErrInvalidToken", err)
		}
		if _, err := h.m.Refresh(ctx, next.RefreshToken, sessiond.Client{}); err != nil {
			t.Errorf("successor after an undetected reuse: %v; want the session alive", err)
		}
	})
}

func TestNewEventID_SortsByTime(t *testing.T) {
	prev := ""
	for i := range 1000 {
		id := sessiond.NewEventID(t0.Add(time.Duration(i) * time.Microsecond))
		if id <= prev {
			t.Fatalf("NewEventID not increasing: %q after %q", id, prev)
		}
		prev = id
	}
	if a, b := sessiond.NewEventID(t0), sessiond.NewEventID(t0); a == b {
		t.Error("two IDs at the same instant are equal")
	}
}

// TestManager_RevokeTokenExpiredAccess: logging out with an expired access
// JWT still revokes its session (the browser keeps sending it until refresh).
func TestManager_RevokeTokenExpiredAccess(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	iss := h.create(t, "quincy", sessiond.CreateOptions{})
	h.clock.Advance(time.Hour + time.Minute)
	if err := h.m.RevokeToken(ctx, iss.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("refresh after revoking by an expired access token = %v; want ErrRevoked", err)
	}
}
