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
)

// metaFeedStore is a feedStore whose feed also carries meta notices, as
// pgstore's and redisstore's do: two Managers on one are two nodes that
// learn of each other's kill switch by push.
type metaFeedStore struct {
	*feedStore
	failPublish bool
	gets        atomic.Int64 // GetMeta calls: how often a node reloaded
}

var _ sessiond.MetaNotifier = (*metaFeedStore)(nil)

func newMetaFeedStore() *metaFeedStore {
	return &metaFeedStore{feedStore: &feedStore{Store: memstore.New()}}
}

func (f *metaFeedStore) SubscribeFeed(ctx context.Context, fd sessiond.Feed) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, &feedSub{ctx: ctx, fn: fd.Revoked, resync: fd.Resync, meta: fd.MetaChanged})
	return nil
}

func (f *metaFeedStore) PublishMeta(_ context.Context, name string) error {
	if f.failPublish {
		return sessiond.ErrStoreUnavailable
	}
	for _, s := range f.live() {
		if s.meta != nil {
			s.meta(name)
		}
	}
	return nil
}

func (f *metaFeedStore) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	f.gets.Add(1)
	return f.Store.GetMeta(ctx, name)
}

// countedMeta counts the watermark reads of the one node that uses it.
type countedMeta struct {
	*metaFeedStore
	gets atomic.Int64
}

func (c *countedMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	c.gets.Add(1)
	return c.metaFeedStore.GetMeta(ctx, name)
}

// TestManager_WatermarkFeed: a kill switch on one node reaches another
// node's Verify through the store's feed, with the poll turned off, in
// every strategy whose tokens the watermarks guard.
func TestManager_WatermarkFeed(t *testing.T) {
	ctx := context.Background()
	noPoll := func(o *sessiond.Options) { o.WatermarkPoll = -1 }

	for _, strategy := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		t.Run(string(strategy), func(t *testing.T) {
			st := newMetaFeedStore()
			h := newHarness(t, strategy, func(o *sessiond.Options) { o.Store = st; noPoll(o) })
			b := h.node(t, st, nil)
			old := h.create(t, "alice", sessiond.CreateOptions{})
			if _, err := b.Verify(ctx, old.AccessToken, sessiond.Client{}); err != nil {
				t.Fatal(err) // now in b's verify cache too
			}
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			eventuallyRevoked(t, b, old.AccessToken, "a token older than the kill switch")
			h.clock.Advance(time.Second)
			young, err := b.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.m.Verify(ctx, young.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("a login after the kill switch, on the other node: %v; want valid", err)
			}
		})
	}

	t.Run("opted out hears nothing", func(t *testing.T) {
		st := newMetaFeedStore()
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st; noPoll(o) })
		b := h.node(t, st, func(o *sessiond.Options) { o.NoRevocationFeed = true })
		if n := len(st.live()); n != 1 {
			t.Fatalf("%d subscriptions; want 1 (the node that did not opt out)", n)
		}
		old := h.create(t, "bob", sessiond.CreateOptions{})
		if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
			t.Fatal(err)
		}
		// The feed delivers synchronously here, so a subscribed node
		// would already have been asked to reload.
		if _, err := b.Verify(ctx, old.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("a node without the feed or a poll = %v; want the token still valid there", err)
		}
	})

	t.Run("resync reloads watermarks missed while away", func(t *testing.T) {
		st := newMetaFeedStore()
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st; noPoll(o) })
		// b reads the watermarks through its own counter: once at New, once
		// more when the reload New asks for has run. Only after both may the
		// revocation below be one b has missed (a busy machine can delay
		// that reload past it, and b would load it without a reconnect).
		bst := &countedMeta{metaFeedStore: st}
		b := h.node(t, bst, nil)
		for deadline := time.Now().Add(10 * time.Second); bst.gets.Load() < 2; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("node b read the watermarks %d times in 10 s; want its start-up reload", bst.gets.Load())
			}
		}
		quiet := h.node(t, st, func(o *sessiond.Options) { o.NoRevocationFeed = true }) // publishes nothing
		old := h.create(t, "carol", sessiond.CreateOptions{})
		if _, err := quiet.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"carol"}}, sessiond.ReasonIncident, false); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Verify(ctx, old.AccessToken, sessiond.Client{}); err != nil {
			t.Fatalf("before the reconnect: %v; want still valid on this node", err)
		}
		st.reconnect()
		eventuallyRevoked(t, b, old.AccessToken, "a token older than the kill switch")
	})

	t.Run("a lost notice fails nothing", func(t *testing.T) {
		st := newMetaFeedStore()
		st.failPublish = true
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st; noPoll(o) })
		old := h.create(t, "dave", sessiond.CreateOptions{})
		if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
			t.Fatalf("RevokeMatching() with the notice failing = %v; want nil (the poll is the fallback)", err)
		}
		if _, err := h.m.Verify(ctx, old.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("Verify() on the node that ran the kill switch = %v; want ErrRevoked", err)
		}
	})

	t.Run("notices coalesce", func(t *testing.T) {
		st := newMetaFeedStore()
		h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st; noPoll(o) })
		old := h.create(t, "erin", sessiond.CreateOptions{})
		if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
			t.Fatal(err)
		}
		b := h.node(t, st, nil)
		before := st.gets.Load()
		const notices = 200
		for range notices {
			if err := st.PublishMeta(ctx, "revocation_watermarks"); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.PublishMeta(ctx, "some_other_document"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Verify(ctx, old.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Fatalf("Verify() = %v; want ErrRevoked", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if n := st.gets.Load() - before; n >= notices/4 {
			t.Errorf("%d notices made %d reloads; want them merged", notices, n)
		}
	})
}

// lossyMeta keeps the shared documents in a memory store that lose
// replaces with an empty one: a Redis restarted without persistence
// (internal/server/storecheck.go only warns about it), or a failover to a
// replica that had not received the last writes.
type lossyMeta struct {
	*metaFeedStore
	mu  sync.Mutex
	doc *memstore.Store
}

func (l *lossyMeta) docs() *memstore.Store { l.mu.Lock(); defer l.mu.Unlock(); return l.doc }
func (l *lossyMeta) lose()                 { l.mu.Lock(); l.doc = memstore.New(); l.mu.Unlock() }

func (l *lossyMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	return l.docs().GetMeta(ctx, name)
}

func (l *lossyMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	return l.docs().PutMeta(ctx, name, value, version)
}

// countedLossy counts one node's reads of the shared documents.
type countedLossy struct {
	*lossyMeta
	gets atomic.Int64
}

func (c *countedLossy) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	defer c.gets.Add(1)
	return c.lossyMeta.GetMeta(ctx, name)
}

// A store that loses the watermarks document (Redis restarted without
// persistence) has the next kill switch write version 1 again, the version
// every node already holds after the first incident: a node must still
// load it (by its content), and the node that writes it must not lower
// what it held.
func TestWatermarks_LostDocumentWrittenAgain(t *testing.T) {
	ctx := context.Background()
	lossy := &lossyMeta{metaFeedStore: newMetaFeedStore(), doc: memstore.New()}
	h := newHarness(t, sessiond.StrategyJWT, func(o *sessiond.Options) { o.Store = lossy; o.WatermarkPoll = -1 })
	bst := &countedLossy{lossyMeta: lossy}
	b := h.node(t, bst, nil)
	// waitReads waits (a guard against a hang, no measurement) until node b
	// has read the watermarks n times.
	waitReads := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); bst.gets.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("node b read the watermarks %d times; want %d", bst.gets.Load(), n)
			}
		}
	}
	// notice publishes a watermark notice and returns once b has finished
	// the reload it causes (a second notice's read starts only after it).
	notice := func() {
		t.Helper()
		for range 2 {
			n := bst.gets.Load()
			if err := lossy.PublishMeta(ctx, "revocation_watermarks"); err != nil {
				t.Fatal(err)
			}
			waitReads(n + 1)
		}
	}
	waitReads(2) // New's read and its reload after subscribing

	first := h.create(t, "alice", sessiond.CreateOptions{})
	h.clock.Advance(2 * time.Second)
	if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
		t.Fatal(err)
	}
	notice()
	if _, err := b.Verify(ctx, first.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("precondition: first incident on node b: %v; want ErrRevoked", err)
	}

	h.clock.Advance(2 * time.Second)
	second := h.create(t, "bob", sessiond.CreateOptions{})
	lossy.lose()
	notice() // b keeps its copy while the document is missing
	h.clock.Advance(2 * time.Second)
	if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Verify(ctx, second.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("precondition: second incident on the node that ran it: %v; want ErrRevoked", err)
	}
	notice()
	if _, err := b.Verify(ctx, second.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("node b after the second kill switch (stored as version 1 again): Verify = %v; want ErrRevoked", err)
	}
	if _, err := b.Refresh(ctx, second.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("node b after the second kill switch: Refresh = %v; want ErrRevoked", err)
	}
}

// eventuallyRevoked waits (generously: it guards against a hang, it
// measures nothing) for m to reject tok as revoked; what names the token
// in the failure.
func eventuallyRevoked(t *testing.T, m *sessiond.Manager, tok sessiond.Secret, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := m.Verify(context.Background(), tok, sessiond.Client{})
		if errors.Is(err, sessiond.ErrRevoked) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Verify of %s = %v; want ErrRevoked", what, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
