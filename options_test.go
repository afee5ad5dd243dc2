package sessiond_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestNew_DefaultStrategy (issue 15): the README's default, hybrid, is
// what an empty Strategy gets.
func TestNew_DefaultStrategy(t *testing.T) {
	h := newHarness(t, "", nil)
	if got := h.m.Strategy(); got != sessiond.StrategyHybrid {
		t.Fatalf("Strategy() = %q; want hybrid", got)
	}
	iss := h.create(t, "alice", sessiond.CreateOptions{})
	if iss.Session.Strategy != sessiond.StrategyHybrid || iss.RefreshToken == "" {
		t.Errorf("Create = strategy %q, refresh token %v; want a hybrid session with a refresh token", iss.Session.Strategy, iss.RefreshToken != "")
	}
	if _, err := sessiond.New(context.Background(), sessiond.Options{Strategy: "hybird"}); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("New(strategy hybird) = %v; want ErrInvalidArgument", err)
	}
}

// TestNew_KeyRingTooShort (issue 15): a key ring that cannot sign the
// longest token the strategy issues fails New, not the first login.
func TestNew_KeyRingTooShort(t *testing.T) {
	ctx := context.Background()
	b2c, _ := sessiond.Preset(sessiond.PresetB2C) // access 1h, refresh 30d
	cases := []struct {
		strategy sessiond.Strategy
		ring     time.Duration
		wantErr  bool
	}{
		{sessiond.StrategyHybrid, b2c.Access - time.Second, true},
		{sessiond.StrategyHybrid, b2c.Access, false},
		{sessiond.StrategyJWT, b2c.Refresh - time.Second, true},
		{sessiond.StrategyJWT, b2c.Refresh, false},
	}
	for _, tc := range cases {
		codec, _ := jwttest.Codec(t, t0, tc.ring)
		m, err := sessiond.New(ctx, sessiond.Options{Strategy: tc.strategy, Store: memstore.New(), Signed: codec,
			Opaque: opaquetoken.Codec{}, Lifetimes: b2c, Clock: sessiondtest.NewClock(t0), GCInterval: -1})
		if tc.wantErr {
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("%s, ring %s: New = %v; want ErrInvalidArgument", tc.strategy, tc.ring, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s, ring %s: New = %v", tc.strategy, tc.ring, err)
		}
		// What New accepts, Create can sign, persistent sessions included.
		if _, err := m.Create(ctx, "alice", sessiond.CreateOptions{Persistent: true}); err != nil {
			t.Errorf("%s, ring %s: Create = %v", tc.strategy, tc.ring, err)
		}
		m.Close()
	}
}

// TestNew_DefaultOpaque (issue 15): no Opaque needed; the default makes
// the same tokens as opaquetoken.Codec, so nodes wired either way agree.
func TestNew_DefaultOpaque(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	plain, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: st, GCInterval: -1})
	if err != nil {
		t.Fatalf("New without Opaque = %v", err)
	}
	defer plain.Close()
	wired, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: st, Opaque: opaquetoken.Codec{}, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer wired.Close()
	iss, err := plain.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (opaquetoken.Codec{}).Parse(sessiond.KindAccess, iss.AccessToken); err != nil {
		t.Errorf("opaquetoken.Codec cannot parse the default codec's token: %v", err)
	}
	if _, err := wired.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
		t.Errorf("a node wired with opaquetoken.Codec: Verify = %v", err)
	}
	if _, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase}); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("New without a Store = %v; want ErrInvalidArgument", err)
	}
}

// TestNew_NoSignerNamesSetup (issue 15): New with only a Store cannot sign
// the default hybrid tokens (the root package builds no JWTs); it fails
// with ErrInvalidArgument and a message naming the package that wires a
// store-shared signer.
func TestNew_NoSignerNamesSetup(t *testing.T) {
	for _, s := range []sessiond.Strategy{"", sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		_, err := sessiond.New(context.Background(), sessiond.Options{Strategy: s, Store: memstore.New()})
		if !errors.Is(err, sessiond.ErrInvalidArgument) || !strings.Contains(err.Error(), "setup.New") {
			t.Errorf("New(strategy %q, no Signed) = %v; want ErrInvalidArgument naming setup.New", s, err)
		}
	}
}

// TestNew_Background: the loops of Options.Background run after New and
// have returned when Close returns; a nil loop is refused.
func TestNew_Background(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan struct{})
	m, err := sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(),
		Background: []func(context.Context){func(ctx context.Context) {
			close(started)
			<-ctx.Done()
			close(stopped)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	m.Close()
	select {
	case <-stopped:
	default:
		t.Fatal("Close returned before the background loop did")
	}
	_, err = sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(),
		Background: []func(context.Context){nil}})
	if !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("New(nil background loop) = %v; want ErrInvalidArgument", err)
	}
}

// TestNew_LifetimeOverflow: a lifetime near the largest Duration (say
// math.MaxInt64 for "never expires") overflowed the revoked set's horizon
// (RevokeWriteMargin + Access + leeway) to a negative Duration: a hybrid
// Manager forgot a revocation at once and the revoked session's access
// token went on verifying. New refuses lifetimes past MaxLifetime; at it,
// a revocation holds.
func TestNew_LifetimeOverflow(t *testing.T) {
	ctx := context.Background()
	huge := time.Duration(math.MaxInt64)
	cases := []struct {
		name    string
		life    sessiond.Lifetimes
		wantErr bool
	}{
		{"access max", sessiond.Lifetimes{Access: huge, Refresh: huge, Idle: huge, Absolute: huge}, true},
		{"access max-1m", sessiond.Lifetimes{Access: huge - time.Minute, Refresh: huge, Idle: huge, Absolute: huge}, true},
		{"refresh past", sessiond.Lifetimes{Access: time.Hour, Refresh: sessiond.MaxLifetime + 1, Idle: time.Hour, Absolute: time.Hour}, true},
		{"all at MaxLifetime", sessiond.Lifetimes{Access: sessiond.MaxLifetime, Refresh: sessiond.MaxLifetime,
			Idle: sessiond.MaxLifetime, Absolute: sessiond.MaxLifetime}, false},
		// Only added to times, and capped by the refresh lifetime: an idle
		// timeout set out of reach still works.
		{"idle and absolute max", sessiond.Lifetimes{Access: time.Hour, Refresh: 30 * 24 * time.Hour, Idle: huge, Absolute: huge}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			codec, _ := jwttest.Codec(t, t0, tc.life.Access)
			m, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: memstore.New(), Signed: codec,
				Opaque: opaquetoken.Codec{}, Lifetimes: tc.life, Clock: sessiondtest.NewClock(t0), GCInterval: -1})
			if tc.wantErr {
				if !errors.Is(err, sessiond.ErrInvalidArgument) {
					if m != nil {
						m.Close()
					}
					t.Fatalf("New = %v; want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			defer m.Close()
			iss, err := m.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("Verify after Revoke = %v; want ErrRevoked", err)
			}
		})
	}
}
