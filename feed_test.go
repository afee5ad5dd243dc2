package sessiond_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// feedStore is a real memory store that also tells subscribers of every
// revocation made through it, synchronously, as pgstore and redisstore do
// over the network: two Managers on one feedStore are two nodes.
type feedStore struct {
	*memstore.Store
	mu   sync.Mutex
	subs []*feedSub
}

type feedSub struct {
	ctx    context.Context
	fn     func(sessiond.Revocation)
	resync func()
	meta   func(string) // MetaChanged; nil for SubscribeRevocations
}

var _ sessiond.RevocationNotifier = (*feedStore)(nil)

func (f *feedStore) SubscribeRevocations(ctx context.Context, fn func(sessiond.Revocation), resync func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, &feedSub{ctx: ctx, fn: fn, resync: resync})
	return nil
}

func (f *feedStore) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	s, err := f.Store.Revoke(ctx, id, at, reason)
	if err == nil {
		f.publish(sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt, ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason})
	}
	return s, err
}

// RevokeRecorded is Revoke for the Manager's recorded path: it publishes
// what it revokes too.
func (f *feedStore) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	rec func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	s, mine, err := f.Store.RevokeRecorded(ctx, id, at, reason, rec)
	if err == nil && mine {
		f.publish(sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt, ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason})
	}
	return s, mine, err
}

func (f *feedStore) publish(r sessiond.Revocation) {
	for _, s := range f.live() {
		s.fn(r)
	}
}

// reconnect plays a feed that lost its connection and caught up.
func (f *feedStore) reconnect() {
	for _, s := range f.live() {
		s.resync()
	}
}

// live returns the subscriptions whose context has not ended.
func (f *feedStore) live() []*feedSub {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*feedSub
	for _, s := range f.subs {
		if s.ctx.Err() == nil {
			out = append(out, s)
		}
	}
	return out
}

// node is another node of h's deployment on st (h's store, or another
// client of it): a Manager of h's strategy with h's codec and clock, the
// watermark poll off; mod, when not nil, adjusts its options.
func (h *harness) node(t *testing.T, st sessiond.Store, mod func(*sessiond.Options)) *sessiond.Manager {
	t.Helper()
	o := sessiond.Options{Strategy: h.m.Strategy(), Store: st, Signed: h.codec,
		Opaque: opaquetoken.Codec{}, Clock: h.clock, GCInterval: -1, WatermarkPoll: -1}
	return newManager(t, o, mod)
}

func TestManager_RevocationFeed(t *testing.T) {
	ctx := context.Background()
	// Each case: node a issues a session, node b has verified its access
	// token (so it sits in b's verify cache), then a revokes it.
	cases := []struct {
		name        string
		mod         func(*sessiond.Options)
		wantRevoked bool
	}{
		{"subscribed by default", nil, true},
		{"opted out", func(o *sessiond.Options) { o.NoRevocationFeed = true }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &feedStore{Store: memstore.New()}
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st })
			b := h.node(t, st, tc.mod)
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			if _, err := b.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
				t.Fatal(err)
			}
			if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			_, err := b.Verify(ctx, iss.AccessToken, sessiond.Client{})
			if got := errors.Is(err, sessiond.ErrRevoked); got != tc.wantRevoked {
				t.Errorf("other node's Verify after revoke = %v; want revoked %v", err, tc.wantRevoked)
			}
		})
	}

	t.Run("resync on reconnect", func(t *testing.T) {
		st := &feedStore{Store: memstore.New()}
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st })
		b := h.node(t, st, nil)
		iss := h.create(t, "bob", sessiond.CreateOptions{})
		// Revoked behind the feed's back, as while it was disconnected.
		if _, err := st.Store.Revoke(ctx, iss.Session.ID, h.clock.Now(), sessiond.ReasonAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
			t.Fatalf("before the reconnect: %v; want still valid on this node", err)
		}
		st.reconnect()
		if _, err := b.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("after the reconnect = %v; want ErrRevoked", err)
		}
	})

	t.Run("Close ends the subscription", func(t *testing.T) {
		st := &feedStore{Store: memstore.New()}
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st })
		b := h.node(t, st, nil)
		if n := len(st.live()); n != 2 {
			t.Fatalf("%d live subscriptions; want 2 (one per node)", n)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(st.live()); n != 1 {
			t.Errorf("%d live subscriptions after one Close; want 1", n)
		}
		// A store whose feed goroutine is slow to notice: its callbacks
		// after Close must change nothing.
		for _, sub := range st.subs {
			sub.fn(sessiond.Revocation{SessionID: sessiond.NewSessionID(), Subject: "carol",
				RevokedAt: h.clock.Now(), ExpiresAt: h.clock.Now().Add(time.Hour)})
			sub.resync()
		}
		if n := b.Stats().RevokedSetEntries; n != 0 {
			t.Errorf("closed node's revoked set has %d entries; want 0", n)
		}
		if n := h.m.Stats().RevokedSetEntries; n != 1 {
			t.Errorf("open node's revoked set has %d entries; want 1", n)
		}
	})

	t.Run("not for strategies without a revoked set", func(t *testing.T) {
		for _, s := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT} {
			st := &feedStore{Store: memstore.New()}
			newHarness(t, s, func(o *sessiond.Options) { o.Store = st })
			if n := len(st.live()); n != 0 {
				t.Errorf("%s: %d subscriptions; want 0", s, n)
			}
		}
	})
}

// flakyRevocations is a feed store whose Revocations fails while down is
// set, as a store that drops again just after the feed reconnected.
type flakyRevocations struct {
	sessiond.Store
	down    atomic.Bool
	refused atomic.Int64 // calls refused while down
}

func (f *flakyRevocations) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	if f.down.Load() {
		f.refused.Add(1)
		return nil, sessiond.ErrStoreUnavailable
	}
	return f.Store.Revocations(ctx, since)
}

// flakyMeta is flakyRevocations on a store whose feed carries meta
// notices, so its Manager runs the watermark loop without a poll.
type flakyMeta struct {
	*metaFeedStore
	flaky *flakyRevocations
}

func (f flakyMeta) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	return f.flaky.Revocations(ctx, since)
}

// flakyFeed is flakyRevocations on a plain feed store.
type flakyFeed struct {
	*feedStore
	flaky *flakyRevocations
}

func (f flakyFeed) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	return f.flaky.Revocations(ctx, since)
}

// TestManager_CatchUpRetried: a catch-up after a reconnect that fails (the
// store dropped again) is retried until it succeeds, without waiting for
// the feed's next reconnect, with a watermark poll and without one: a
// session revoked while the feed was away must not verify on this node for
// its whole access lifetime.
func TestManager_CatchUpRetried(t *testing.T) {
	for _, c := range []struct {
		name string
		poll time.Duration
	}{{"poll", 10 * time.Millisecond}, {"no poll", -1}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			fs := newMetaFeedStore()
			flaky := &flakyRevocations{Store: fs.Store}
			var st sessiond.Store = flakyFeed{feedStore: fs.feedStore, flaky: flaky}
			if c.poll < 0 {
				st = flakyMeta{metaFeedStore: fs, flaky: flaky}
			}
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = fs.feedStore })
			b := h.node(t, st, func(o *sessiond.Options) { o.WatermarkPoll = c.poll })
			iss := h.create(t, "dora", sessiond.CreateOptions{})
			// Revoked behind the feed's back, as while it was disconnected.
			if _, err := fs.Store.Revoke(ctx, iss.Session.ID, h.clock.Now(), sessiond.ReasonAdmin); err != nil {
				t.Fatal(err)
			}
			flaky.down.Store(true)
			fs.reconnect() // its catch-up fails
			if _, err := b.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
				t.Fatalf("after the failed catch-up: %v; want still valid on this node", err)
			}
			// The feed's catch-up and the loop's first retry both fail
			// before the store comes back: what remains is the retry.
			for wait := time.Now().Add(10 * time.Second); flaky.refused.Load() < 2; time.Sleep(time.Millisecond) {
				if time.Now().After(wait) {
					t.Fatalf("%d catch-ups refused while down; want the feed's and the loop's", flaky.refused.Load())
				}
			}
			flaky.down.Store(false)
			eventuallyRevoked(t, b, iss.AccessToken, "a session revoked while the feed was away, once the store answers again (the catch-up must be retried)")
		})
	}
}
