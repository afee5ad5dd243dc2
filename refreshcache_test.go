package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// countLookups is a memory store that counts its Lookups: the read the
// grant cache saves.
type countLookups struct {
	*memstore.Store
	n atomic.Int64
}

func (s *countLookups) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	s.n.Add(1)
	return s.Store.Lookup(ctx, h)
}

// cacheNode is one hybrid Manager on a shared store: two of them are two
// nodes of one deployment, without a revocation feed between them (a
// memory store has none), which is the grant cache's worst case.
func cacheNode(t *testing.T, h *harness, st *countLookups, size int, mod ...func(*sessiond.Options)) *sessiond.Manager {
	t.Helper()
	var m func(*sessiond.Options)
	if len(mod) > 0 {
		m = mod[0]
	}
	return newManager(t, sessiond.Options{
		Strategy: sessiond.StrategyHybrid, Store: st, Signed: h.codec, Opaque: opaquetoken.Codec{},
		Clock: h.clock, Events: h.events, GCInterval: -1,
		Lifetimes:        sessiond.Lifetimes{Access: 10 * time.Minute, Refresh: 24 * time.Hour, Idle: 30 * time.Minute, Absolute: 8 * time.Hour},
		RefreshCacheSize: size,
	}, m)
}

// TestManager_RefreshGrantCache: a refresh on the node that stored the
// presented token skips the store's Lookup, and in every other case gives
// the answer a refresh without the cache gives.
func TestManager_RefreshGrantCache(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// run drives nodes a and b (b shares a's store) and returns the
		// final refresh's outcome.
		run         func(t *testing.T, h *harness, a, b *sessiond.Manager) (created, final *sessiond.Issued, err error)
		want        error // nil: the final refresh succeeds
		lookupsHit  int64 // Lookups with the cache on
		lookupsMiss int64 // Lookups with the cache off
		refreshed   int   // session.refreshed events in all
		revoked     sessiond.RevokeReason
		noDetect    bool // Options.NoReuseDetection on both nodes
	}{
		{
			name: "a chain of refreshes on one node",
			run: func(t *testing.T, h *harness, a, _ *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				created := mustCreate(t, a)
				iss := created
				for range 3 {
					h.clock.Advance(time.Minute)
					next, err := a.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
					if err != nil {
						return created, nil, err
					}
					iss = next
				}
				return created, iss, nil
			},
			lookupsHit: 0, lookupsMiss: 3, refreshed: 3,
		},
		{
			name: "a token replayed on the node that took it",
			run: func(t *testing.T, h *harness, a, _ *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				iss := mustCreate(t, a)
				if _, err := a.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err != nil {
					t.Fatal(err)
				}
				h.clock.Advance(time.Minute) // past the reuse interval
				return refreshed(a, iss)
			},
			want: sessiond.ErrRefreshReused, lookupsHit: 1, lookupsMiss: 2, refreshed: 1, revoked: sessiond.ReasonReuse,
		},
		{
			name: "a token taken on another node, replayed here",
			run:  rotatedElsewhere(time.Minute),
			// a trusts its entry; the swap finds the token retired.
			want: sessiond.ErrRefreshReused, lookupsHit: 1, lookupsMiss: 2, refreshed: 1, revoked: sessiond.ReasonReuse,
		},
		{
			// Without reuse detection a retired token is merely invalid,
			// whether this node finds it retired or the swap does.
			name: "a token taken on another node, replayed here, no reuse detection",
			run:  rotatedElsewhere(time.Minute),
			want: sessiond.ErrInvalidToken, lookupsHit: 1, lookupsMiss: 2, refreshed: 1, noDetect: true,
		},
		{
			name:       "a token taken on another node, presented here inside the reuse interval",
			run:        rotatedElsewhere(2 * time.Second),
			lookupsHit: 1, lookupsMiss: 2, refreshed: 2,
		},
		{
			name: "a session revoked on this node",
			run: func(t *testing.T, _ *harness, a, _ *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				iss := mustCreate(t, a)
				if err := a.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
					t.Fatal(err)
				}
				return refreshed(a, iss)
			},
			want: sessiond.ErrRevoked, lookupsHit: 1, lookupsMiss: 1, revoked: sessiond.ReasonLogout,
		},
		{
			name: "a session revoked on another node, no feed between them",
			run: func(t *testing.T, _ *harness, a, b *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				iss := mustCreate(t, a)
				if err := b.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
					t.Fatal(err)
				}
				return refreshed(a, iss)
			},
			// a trusts its entry; the swap refuses the revoked session.
			want: sessiond.ErrRevoked, lookupsHit: 0, lookupsMiss: 1, revoked: sessiond.ReasonLogout,
		},
		{
			name: "an entry older than the access lifetime",
			run: func(t *testing.T, h *harness, a, _ *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				iss := mustCreate(t, a)
				h.clock.Advance(10 * time.Minute)
				return refreshed(a, iss)
			},
			lookupsHit: 1, lookupsMiss: 1, refreshed: 1,
		},
		{
			name: "an idle session",
			run: func(t *testing.T, h *harness, a, _ *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				iss := mustCreate(t, a)
				h.clock.Advance(41 * time.Minute) // idle runs from the access token's expiry
				return refreshed(a, iss)
			},
			want: sessiond.ErrIdleTimeout, lookupsHit: 1, lookupsMiss: 1,
		},
		{
			// The entry is younger than the access lifetime, the session
			// older than its absolute limit: the swap alone would let it
			// through, so the cached session is checked.
			name: "a session past its absolute expiry, refreshed just before",
			run: func(t *testing.T, h *harness, a, _ *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				created := mustCreate(t, a)
				iss := created
				for range 48 { // every 9m59s, up to 7h59m12s
					h.clock.Advance(9*time.Minute + 59*time.Second)
					next, err := a.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
					if err != nil {
						t.Fatal(err)
					}
					iss = next
				}
				h.clock.Set(created.Session.ExpiresAt)
				_, got, err := refreshed(a, iss)
				return created, got, err
			},
			want: sessiond.ErrAbsoluteTimeout, lookupsHit: 1, lookupsMiss: 49, refreshed: 48,
		},
		{
			name: "a kill switch on this node",
			run: func(t *testing.T, h *harness, a, _ *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
				iss := mustCreate(t, a)
				h.clock.Advance(time.Second)
				if _, err := a.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
				return refreshed(a, iss)
			},
			want: sessiond.ErrRevoked, lookupsHit: 1, lookupsMiss: 1, revoked: sessiond.ReasonIncident,
		},
	}
	for _, tc := range cases {
		for _, size := range []int{0, -1} { // the default (on), and off
			name := tc.name + "/cache on"
			if size < 0 {
				name = tc.name + "/cache off"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, sessiond.StrategyHybrid, nil)
				st := &countLookups{Store: memstore.New()}
				mod := func(o *sessiond.Options) { o.NoReuseDetection = tc.noDetect }
				a, b := cacheNode(t, h, st, size, mod), cacheNode(t, h, st, -1, mod)
				created, got, err := tc.run(t, h, a, b)
				if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
					t.Fatalf("final refresh = %v, %v; want %v", got, err, tc.want)
				}
				want := tc.lookupsHit
				if size < 0 {
					want = tc.lookupsMiss
				}
				if n := st.n.Load(); n != want {
					t.Errorf("%d Lookups; want %d", n, want)
				}
				if tc.want != nil {
					if got != nil {
						t.Errorf("a refused refresh returned tokens")
					}
				}
				if n := h.events.Count(sessiond.EventSessionRefreshed); n != tc.refreshed {
					t.Errorf("%d session.refreshed events; want %d", n, tc.refreshed)
				}
				s, err := st.Get(ctx, created.Session.ID)
				if err != nil {
					t.Fatal(err)
				}
				if s.RevokeReason != tc.revoked {
					t.Errorf("session revoked for %q; want %q", s.RevokeReason, tc.revoked)
				}
				if tc.want != nil {
					return
				}
				// The successor is the one entry, ready for the next refresh.
				entries := 1
				if size < 0 {
					entries = 0
				}
				if n := a.Stats().RefreshCacheEntries; n != entries {
					t.Errorf("%d grant cache entries; want %d", n, entries)
				}
				if _, err := a.Verify(ctx, got.AccessToken, sessiond.Client{}); err != nil {
					t.Errorf("Verify of the refreshed access token: %v", err)
				}
				if !s.LastActiveAt.Equal(h.clock.Now()) || got.Session.ID != created.Session.ID {
					t.Errorf("stored session = %+v; want %s with its activity at %v", s, created.Session.ID, h.clock.Now())
				}
			})
		}
	}
}

func mustCreate(t *testing.T, m *sessiond.Manager) *sessiond.Issued {
	t.Helper()
	iss, err := m.Create(context.Background(), "ines", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// rotatedElsewhere: a login on node a, its refresh token rotated on node
// b, then, after wait, presented again on a (which stored it).
func rotatedElsewhere(wait time.Duration) func(*testing.T, *harness, *sessiond.Manager, *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
	return func(t *testing.T, h *harness, a, b *sessiond.Manager) (*sessiond.Issued, *sessiond.Issued, error) {
		iss := mustCreate(t, a)
		if _, err := b.Refresh(context.Background(), iss.RefreshToken, sessiond.Client{}); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(wait)
		return refreshed(a, iss)
	}
}

// refreshed: m's refresh of the token created holds, with created.
func refreshed(m *sessiond.Manager, created *sessiond.Issued) (*sessiond.Issued, *sessiond.Issued, error) {
	got, err := m.Refresh(context.Background(), created.RefreshToken, sessiond.Client{})
	return created, got, err
}

// TestManager_RefreshGrantCacheUnderRevocation: 16 chains refresh in
// parallel on two nodes of one store (each refresh on the node that
// stored its token, so the cache serves them), while another goroutine
// revokes the sessions one by one through the other node. Once a Revoke
// has returned, no refresh of that session that starts afterwards may
// succeed; every chain ends refused with ErrRevoked. Run with -race.
func TestManager_RefreshGrantCacheUnderRevocation(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	st := &countLookups{Store: memstore.New()}
	a, b := cacheNode(t, h, st, 0), cacheNode(t, h, st, 0)
	const chains = 16
	sessions := make([]sessiond.SessionID, chains)
	revoked := make([]atomic.Bool, chains)
	tokens := make([]sessiond.Secret, chains)
	for i := range chains {
		iss := mustCreate(t, a)
		sessions[i], tokens[i] = iss.Session.ID, iss.RefreshToken
	}
	done := make(chan struct{})
	var refreshes atomic.Int64
	errs := make(chan error, chains)
	for i := range chains {
		go func() {
			for {
				gone := revoked[i].Load() // read before the refresh starts
				next, err := a.Refresh(ctx, tokens[i], sessiond.Client{})
				switch {
				case err == nil && gone:
					errs <- errors.New("a refresh that started after its session's Revoke returned succeeded")
					return
				case err == nil:
					refreshes.Add(1)
					tokens[i] = next.RefreshToken
				case errors.Is(err, sessiond.ErrRevoked):
					errs <- nil
					return
				default:
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		defer close(done)
		for i := range chains {
			// Let the chains run a little first; the bound only keeps a
			// failed chain (which stops refreshing) from hanging the test.
			for wait := time.Now().Add(5 * time.Second); refreshes.Load() < int64(10*(i+1)) && time.Now().Before(wait); {
				time.Sleep(100 * time.Microsecond)
			}
			if err := b.Revoke(ctx, sessions[i], sessiond.ReasonAdmin); err != nil {
				t.Error(err)
			}
			revoked[i].Store(true)
		}
	}()
	for range chains {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
	if n := st.n.Load(); n > int64(chains) {
		// Only a refused refresh (the one that found its session revoked)
		// may take the full path.
		t.Errorf("%d Lookups for %d refreshes; want at most one per chain", n, refreshes.Load())
	}
}

// TestManager_RefreshGrantCacheDifferential plays the same random script
// of logins, refreshes (of current and of old tokens), revocations and
// clock steps on two nodes of one store, once with the grant cache and
// once without, and expects the same outcome at every step and the same
// events in the end. The cache may only save Lookups.
func TestManager_RefreshGrantCacheDifferential(t *testing.T) {
	type step struct {
		op   int // 0 login, 1 refresh, 2 revoke, 3 clock
		node int
		pick int // which token or session, modulo how many there are
		wait time.Duration
	}
	waits := []time.Duration{time.Second, 3 * time.Second, 10 * time.Second, 2 * time.Minute, 11 * time.Minute, 35 * time.Minute}
	outcome := func(err error) string {
		for _, e := range []error{sessiond.ErrRefreshReused, sessiond.ErrRevoked, sessiond.ErrIdleTimeout,
			sessiond.ErrAbsoluteTimeout, sessiond.ErrExpired, sessiond.ErrInvalidToken} {
			if errors.Is(err, e) {
				return e.Error()
			}
		}
		if err != nil {
			return "other: " + err.Error()
		}
		return "ok"
	}
	play := func(t *testing.T, script []step, size int, noDetect bool) ([]string, map[sessiond.EventType]int) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		st := &countLookups{Store: memstore.New()}
		mod := func(o *sessiond.Options) { o.NoReuseDetection = noDetect }
		nodes := []*sessiond.Manager{cacheNode(t, h, st, size, mod), cacheNode(t, h, st, size, mod)}
		ctx := context.Background()
		var tokens []sessiond.Secret
		var sessions []sessiond.SessionID
		var got []string
		for _, s := range script {
			m := nodes[s.node]
			switch s.op {
			case 0:
				iss, err := m.Create(ctx, "dora", sessiond.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				tokens, sessions = append(tokens, iss.RefreshToken), append(sessions, iss.Session.ID)
				got = append(got, "login")
			case 1:
				if len(tokens) == 0 {
					continue
				}
				i := s.pick % len(tokens)
				if s.pick < 0 {
					i = max(0, len(tokens)+s.pick)
				}
				iss, err := m.Refresh(ctx, tokens[i], sessiond.Client{})
				if err == nil {
					tokens = append(tokens, iss.RefreshToken)
				}
				got = append(got, "refresh: "+outcome(err))
			case 2:
				if len(sessions) == 0 {
					continue
				}
				got = append(got, "revoke: "+outcome(m.Revoke(ctx, sessions[s.pick%len(sessions)], sessiond.ReasonLogout)))
			case 3:
				h.clock.Advance(s.wait)
			}
		}
		events := map[sessiond.EventType]int{}
		for _, e := range h.events.All() {
			// A concurrent-login check runs after its login, off the
			// request's path: whether it sees a session the script
			// revokes next is timing, not the cache.
			if e.Type != sessiond.EventConcurrentLogin {
				events[e.Type]++
			}
		}
		return got, events
	}
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 11))
		script := make([]step, 80)
		node := 0
		for i := range script {
			// Mostly refreshes, mostly of the newest tokens and mostly on
			// the node before (where the cache holds them); mostly short
			// clock steps.
			op := []int{0, 1, 1, 1, 1, 1, 2, 3, 3}[rng.IntN(9)]
			if rng.IntN(4) == 0 {
				node = 1 - node
			}
			script[i] = step{op: op, node: node, wait: waits[min(rng.IntN(len(waits)+3), rng.IntN(len(waits)))]}
			if op == 1 && rng.IntN(4) > 0 {
				script[i].pick = -1 - rng.IntN(2) // the newest or the one before
			} else {
				script[i].pick = rng.IntN(1 << 20)
			}
		}
		for _, noDetect := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed %d, no reuse detection %v", seed, noDetect), func(t *testing.T) {
				withCache, eventsWith := play(t, script, 0, noDetect)
				without, eventsWithout := play(t, script, -1, noDetect)
				if !slices.Equal(withCache, without) {
					for i := range min(len(withCache), len(without)) {
						if withCache[i] != without[i] {
							t.Fatalf("step %d: %q with the cache, %q without", i, withCache[i], without[i])
						}
					}
					t.Fatalf("%d steps with the cache, %d without", len(withCache), len(without))
				}
				if !maps.Equal(eventsWith, eventsWithout) {
					t.Errorf("events with the cache %v, without %v", eventsWith, eventsWithout)
				}
			})
		}
	}
}
