package sessiond_test

import (
	"context"
	"errors"
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
