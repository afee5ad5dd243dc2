package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestManager_LoginRetry: a login sent again with its idempotency key
// (its answer was lost) replaces the session the first one made, under a
// limit that would refuse a second; a key sent with another request is
// refused; without a key nothing changes.
func TestManager_LoginRetry(t *testing.T) {
	ctx := context.Background()
	key := func(k string) sessiond.LoginRetry { return sessiond.LoginRetry{Key: k, Scope: "app"} }
	first := sessiond.CreateOptions{Client: desktop, Claims: json.RawMessage(`{"role":"user"}`), Persistent: true, Retry: key("k1")}
	tests := []struct {
		name    string
		subject string
		retry   sessiond.CreateOptions
		advance time.Duration
		wantErr error
		live    int  // ann's live sessions after the second login
		replace bool // the first session was revoked as retried
	}{
		{name: "sent again", subject: "ann", retry: first, live: 1, replace: true},
		{name: "without a key", subject: "ann", retry: sessiond.CreateOptions{Client: desktop, Persistent: true}, wantErr: sessiond.ErrLimitReached, live: 1},
		{name: "another key", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Retry = key("k2") }), wantErr: sessiond.ErrLimitReached, live: 1},
		{name: "another scope", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Retry.Scope = "other app" }), wantErr: sessiond.ErrLimitReached, live: 1},
		{name: "another subject", subject: "bob", retry: first, wantErr: sessiond.ErrIdempotencyKeyReused, live: 1},
		{name: "other claims", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Claims = json.RawMessage(`{"role":"admin"}`) }), wantErr: sessiond.ErrIdempotencyKeyReused, live: 1},
		{name: "another client", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Client = phone }), wantErr: sessiond.ErrIdempotencyKeyReused, live: 1},
		{name: "another request", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Retry.Request = []byte("login_code") }), wantErr: sessiond.ErrIdempotencyKeyReused, live: 1},
		{name: "past the window", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Claims = nil }), advance: sessiond.LoginRetryWindow + time.Second, wantErr: sessiond.ErrLimitReached, live: 1},
		{name: "oversized key", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Retry = key(strings.Repeat("k", sessiond.MaxLoginRetryKey+1)) }), wantErr: sessiond.ErrInvalidArgument, live: 1},
		{name: "control character", subject: "ann", retry: with(first, func(o *sessiond.CreateOptions) { o.Retry = key("k\n") }), wantErr: sessiond.ErrInvalidArgument, live: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				o.MaxSessions, o.LimitPolicy = 1, sessiond.LimitReject
			})
			orphan := h.create(t, "ann", first)
			h.clock.Advance(tt.advance)
			iss, err := h.m.Create(ctx, tt.subject, tt.retry)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("second login = %v; want %v", err, tt.wantErr)
			}
			live, err := h.m.List(ctx, "ann")
			if err != nil {
				t.Fatal(err)
			}
			if len(live) != tt.live {
				t.Fatalf("ann's live sessions = %d; want %d", len(live), tt.live)
			}
			got, err := h.store.Get(ctx, orphan.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			if replaced := got.RevokeReason == sessiond.ReasonRetried; replaced != tt.replace {
				t.Fatalf("first session revoked as %q; want replaced %v", got.RevokeReason, tt.replace)
			}
			if !tt.replace {
				return
			}
			if live[0].ID != iss.Session.ID || iss.Session.ID == orphan.Session.ID {
				t.Errorf("live session = %s; want the retry's new one %s", live[0].ID, iss.Session.ID)
			}
			if _, err := h.m.Refresh(ctx, iss.RefreshToken, desktop); err != nil {
				t.Errorf("refresh of the retry's token = %v", err)
			}
			if _, err := h.m.Refresh(ctx, orphan.RefreshToken, desktop); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("refresh of the replaced session's token = %v; want ErrRevoked", err)
			}
			var reasons []any
			for _, e := range h.events.OfType(sessiond.EventSessionRevoked) {
				if e.SessionID == orphan.Session.ID {
					reasons = append(reasons, e.Details["reason"])
				}
			}
			if !slices.Equal(reasons, []any{"retried"}) {
				t.Errorf("session.revoked reasons of the replaced session = %v; want [retried]", reasons)
			}
			// And again: each retry replaces the one before.
			third, err := h.m.Create(ctx, "ann", first)
			if err != nil {
				t.Fatalf("third login with the key = %v", err)
			}
			if live, _ := h.m.List(ctx, "ann"); len(live) != 1 || live[0].ID != third.Session.ID {
				t.Errorf("ann's live sessions after a third login = %v; want only %s", sessionIDs(live), third.Session.ID)
			}
		})
	}
}

func with(o sessiond.CreateOptions, f func(*sessiond.CreateOptions)) sessiond.CreateOptions {
	f(&o)
	return o
}

func sessionIDs(ss []sessiond.Session) []sessiond.SessionID {
	var out []sessiond.SessionID
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// TestManager_LoginRetryRace: logins sent again with one key at once, on
// several nodes of one store, leave exactly one of their sessions live,
// under a limit of one that refuses a second login.
func TestManager_LoginRetryRace(t *testing.T) {
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			ctx := context.Background()
			start := time.Now().UTC().Truncate(time.Second) // Redis expires keys by the session's times
			clock := sessiondtest.NewClock(start)
			codec, _ := jwttest.Codec(t, start, 90*24*time.Hour)
			var nodes []*sessiond.Manager
			for _, st := range ms.nodes(t, 3) {
				nodes = append(nodes, newManager(t, sessiond.Options{
					Strategy: sessiond.StrategyHybrid, Store: st, Signed: codec, Opaque: opaquetoken.Codec{},
					Clock: clock, GCInterval: -1, MaxSessions: 1, LimitPolicy: sessiond.LimitReject,
				}, nil))
			}
			o := sessiond.CreateOptions{Client: desktop, Retry: sessiond.LoginRetry{Key: "race", Scope: "app"}}
			if _, err := nodes[0].Create(ctx, "ann", o); err != nil {
				t.Fatal(err)
			}
			const n = 6
			got := make([]*sessiond.Issued, n)
			errs := make([]error, n)
			begin := make(chan struct{})
			done := make(chan int)
			for i := range n {
				go func() {
					<-begin
					got[i], errs[i] = nodes[i%len(nodes)].Create(ctx, "ann", o)
					done <- i
				}()
			}
			close(begin)
			for range n {
				<-done
			}
			var answered []sessiond.SessionID
			for i, err := range errs {
				switch {
				case err == nil:
					answered = append(answered, got[i].Session.ID)
				case errors.Is(err, sessiond.ErrLimitReached), errors.Is(err, sessiond.ErrConflict):
					// A race lost to the others: the client may send it again.
				default:
					t.Errorf("login %d = %v", i, err)
				}
			}
			live, err := nodes[1].List(ctx, "ann")
			if err != nil {
				t.Fatal(err)
			}
			if len(live) != 1 || !slices.Contains(answered, live[0].ID) {
				t.Fatalf("ann's live sessions = %v; want one of the answered %v", sessionIDs(live), answered)
			}
			// The race settled, a retry still replaces the survivor.
			iss, err := nodes[2].Create(ctx, "ann", o)
			if err != nil {
				t.Fatalf("login after the race = %v", err)
			}
			if live, _ := nodes[0].List(ctx, "ann"); len(live) != 1 || live[0].ID != iss.Session.ID {
				t.Errorf("ann's live sessions after the race = %v; want only %s", sessionIDs(live), iss.Session.ID)
			}
		})
	}
}

// slowCreateStore holds the first Create it is given until release is closed,
// as a slow store holds a login still in flight.
type slowCreateStore struct {
	sessiond.Store
	entered, release chan struct{}
	held             atomic.Bool
}

func (g *slowCreateStore) Create(ctx context.Context, s *sessiond.Session, tokens ...sessiond.Token) error {
	if g.held.CompareAndSwap(false, true) {
		close(g.entered)
		<-g.release
	}
	return g.Store.Create(ctx, s, tokens...)
}

// TestManager_LoginRetryInFlight: a login that was slow, not lost, stores
// its session after the retry its client sent a second later has been
// answered. The client holds the retry's tokens, so the retry's session
// must stay live; the slow login, whose answer nobody reads, must not
// revoke it and leave its own session live in its place.
func TestManager_LoginRetryInFlight(t *testing.T) {
	ctx := context.Background()
	gs := &slowCreateStore{Store: memstore.New(), entered: make(chan struct{}), release: make(chan struct{})}
	clock := sessiondtest.NewClock(t0)
	codec, _ := jwttest.Codec(t, t0, 90*24*time.Hour)
	m := newManager(t, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: gs, Signed: codec,
		Opaque: opaquetoken.Codec{}, Clock: clock, GCInterval: -1}, nil)
	o := sessiond.CreateOptions{Client: desktop, Retry: sessiond.LoginRetry{Key: "k1", Scope: "app"}}

	slowErr := make(chan error, 1)
	go func() { _, err := m.Create(ctx, "ann", o); slowErr <- err }()
	<-gs.entered // the first login is being stored, slowly
	clock.Advance(time.Second)
	retry, err := m.Create(ctx, "ann", o)
	if err != nil {
		t.Fatalf("retry while the first login is in flight = %v", err)
	}
	close(gs.release)
	// Superseded, not a store failure: a 409 to the client, no tick of
	// the store-error count, nothing worth sending again.
	if err := <-slowErr; !errors.Is(err, sessiond.ErrLoginSuperseded) || errors.Is(err, sessiond.ErrConflict) {
		t.Errorf("the slow first login, stored after its retry = %v; want ErrLoginSuperseded (and not ErrConflict)", err)
	}
	live, err := m.List(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].ID != retry.Session.ID {
		t.Errorf("ann's live sessions = %v; want only the retry's %s, whose tokens the client holds", sessionIDs(live), retry.Session.ID)
	}
	if _, err := m.Refresh(ctx, retry.RefreshToken, desktop); err != nil {
		t.Errorf("refresh of the retry's token = %v; want new tokens", err)
	}
}

// TestManager_LoginRetryRaceNoStoreError: two logins with one key that
// race for its generation (the store refuses the loser's key hash, as it
// must, and the loser walks again) are the store deciding a race, not the
// store failing: StoreErrorObserver, which feeds
// sessiond_store_errors_total and its page, hears nothing.
func TestManager_LoginRetryRaceNoStoreError(t *testing.T) {
	ctx := context.Background()
	gs := &slowCreateStore{Store: memstore.New(), entered: make(chan struct{}), release: make(chan struct{})}
	clock := sessiondtest.NewClock(t0)
	codec, _ := jwttest.Codec(t, t0, 90*24*time.Hour)
	var reported atomic.Int64
	var last atomic.Value
	m := newManager(t, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: gs, Signed: codec,
		Opaque: opaquetoken.Codec{}, Clock: clock, GCInterval: -1,
		StoreErrorObserver: func(op string, err error) { reported.Add(1); last.Store(op + ": " + err.Error()) }}, nil)
	o := sessiond.CreateOptions{Client: desktop, Retry: sessiond.LoginRetry{Key: "k1", Scope: "app"}}

	firstErr := make(chan error, 1)
	go func() { _, err := m.Create(ctx, "ann", o); firstErr <- err }()
	<-gs.entered // the first login chose generation 0 and is being stored
	second, err := m.Create(ctx, "ann", o)
	if err != nil {
		t.Fatalf("second login with the key = %v", err)
	}
	close(gs.release) // the first is refused generation 0, walks again
	if err := <-firstErr; err != nil {
		t.Fatalf("first login, after losing generation 0 = %v; want it stored with the next", err)
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("StoreErrorObserver called %d times (last %v); want 0: the store is healthy", n, last.Load())
	}
	live, err := m.List(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].ID == second.Session.ID {
		t.Errorf("ann's live sessions = %v; want only the first login's, stored last", sessionIDs(live))
	}
}

// TestManager_LoginRetryAnswered: a login sent again with its key after
// its session was used (its answer arrived: the session was refreshed,
// or verified and touched) is no retry of a lost answer. It is refused,
// and the session the client is using stays live.
func TestManager_LoginRetryAnswered(t *testing.T) {
	ctx := context.Background()
	o := sessiond.CreateOptions{Client: desktop, Retry: sessiond.LoginRetry{Key: "k1", Scope: "app"}}
	tests := []struct {
		name     string
		strategy sessiond.Strategy
		use      func(h *harness, iss *sessiond.Issued) error
	}{
		{"refreshed", sessiond.StrategyHybrid, func(h *harness, iss *sessiond.Issued) error {
			_, err := h.m.Refresh(ctx, iss.RefreshToken, desktop)
			return err
		}},
		{"verified", sessiond.StrategyDatabase, func(h *harness, iss *sessiond.Issued) error {
			_, err := h.m.Verify(ctx, iss.AccessToken, desktop)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.strategy, nil)
			first := h.create(t, "ann", o)
			h.clock.Advance(2 * time.Minute) // past the touch interval
			if err := tt.use(h, first); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Second)
			if _, err := h.m.Create(ctx, "ann", o); !errors.Is(err, sessiond.ErrIdempotencyKeyReused) {
				t.Errorf("login sent again after its session was used = %v; want %v", err, sessiond.ErrIdempotencyKeyReused)
			}
			live, err := h.m.List(ctx, "ann")
			if err != nil {
				t.Fatal(err)
			}
			if len(live) != 1 || live[0].ID != first.Session.ID {
				t.Errorf("ann's live sessions = %v; want only the used %s", sessionIDs(live), first.Session.ID)
			}
		})
	}
}

// TestManager_LoginRetryCap: one key makes at most 16 logins; the 17th is
// refused as a reuse of the key and the 16th's session stays live.
func TestManager_LoginRetryCap(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	o := sessiond.CreateOptions{Client: desktop, Retry: sessiond.LoginRetry{Key: "k1", Scope: "app"}}
	var last *sessiond.Issued
	for i := range 16 {
		iss, err := h.m.Create(ctx, "ann", o)
		if err != nil {
			t.Fatalf("login %d with the key = %v", i+1, err)
		}
		last = iss
	}
	if _, err := h.m.Create(ctx, "ann", o); !errors.Is(err, sessiond.ErrIdempotencyKeyReused) {
		t.Errorf("17th login with the key = %v; want %v", err, sessiond.ErrIdempotencyKeyReused)
	}
	if live, err := h.m.List(ctx, "ann"); err != nil || len(live) != 1 || live[0].ID != last.Session.ID {
		t.Errorf("ann's live sessions = %v, %v; want only the 16th login's %s", sessionIDs(live), err, last.Session.ID)
	}
}

// TestManager_LoginRetryEarlierCollected: the key's first login, replaced
// by a retry, idles out and is collected while the retry's session lives
// on (in use). A login sent again with the key must still find the retry
// and be refused (its answer arrived), not take the first generation
// again and add a second live session beside the one the client holds.
func TestManager_LoginRetryEarlierCollected(t *testing.T) {
	ctx := context.Background()
	life, _ := sessiond.Preset(sessiond.PresetB2C)
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	o := sessiond.CreateOptions{Client: desktop, Retry: sessiond.LoginRetry{Key: "k1", Scope: "app"}}
	h.create(t, "ann", o) // its answer was lost
	h.clock.Advance(life.Idle / 2)
	retry := h.create(t, "ann", o)
	h.clock.Advance(life.Idle/2 + 2*time.Minute) // the first idles out
	if _, err := h.m.Verify(ctx, retry.AccessToken, desktop); err != nil {
		t.Fatal(err) // the retry's answer arrived: its session is in use
	}
	if n, err := h.m.CollectGarbage(ctx, 100); err != nil || n != 1 {
		t.Fatalf("CollectGarbage = %d, %v; want the first login's session deleted", n, err)
	}
	h.clock.Advance(time.Second)
	if _, err := h.m.Create(ctx, "ann", o); !errors.Is(err, sessiond.ErrIdempotencyKeyReused) {
		t.Errorf("login sent again after the retry's session was used = %v; want %v", err, sessiond.ErrIdempotencyKeyReused)
	}
	if live, err := h.m.List(ctx, "ann"); err != nil || len(live) != 1 || live[0].ID != retry.Session.ID {
		t.Errorf("ann's live sessions = %v, %v; want only the retry's %s", sessionIDs(live), err, retry.Session.ID)
	}
}
