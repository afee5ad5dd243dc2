package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// outageMeta is a real store whose reads and writes fail with
// ErrStoreUnavailable while down is set, as a store driver reports an
// unreachable server; it counts the reads that reached it.
type outageMeta struct {
	sessiond.MetaStore
	down  atomic.Bool
	reads atomic.Int64
}

func (o *outageMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	o.reads.Add(1)
	if o.down.Load() {
		return nil, 0, fmt.Errorf("outage: %w", sessiond.ErrStoreUnavailable)
	}
	return o.MetaStore.GetMeta(ctx, name)
}

func (o *outageMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if o.down.Load() {
		return 0, fmt.Errorf("outage: %w", sessiond.ErrStoreUnavailable)
	}
	return o.MetaStore.PutMeta(ctx, name, value, version)
}

// hangMeta is a real store whose reads, while hang is set, wait until
// thawed or until their context ends (then failing as a driver does); it
// counts the hung reads that ended.
type hangMeta struct {
	sessiond.MetaStore
	hang     atomic.Bool
	release  chan struct{}
	once     sync.Once
	entered  atomic.Int64 // reads that began hanging
	answered atomic.Int64 // reads that hung and returned
}

func (h *hangMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if h.hang.Load() {
		h.entered.Add(1)
		defer h.answered.Add(1)
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("hung: %w: %w", sessiond.ErrStoreUnavailable, ctx.Err())
		}
	}
	return h.MetaStore.GetMeta(ctx, name)
}

func (h *hangMeta) thaw() { h.once.Do(func() { close(h.release) }) }

// TestKeys_StoreOutage (issue 18, gap 1): while the store is unavailable
// a node authenticates with the last key set it read or wrote, asks the
// store again at most once per refresh period, and still refuses keys
// that set does not hold; with no set read yet, or a corrupt one, it
// fails closed.
func TestKeys_StoreOutage(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	envKey := sessiond.Secret(strings.Repeat("e", 40))

	t.Run("last known set keeps answering", func(t *testing.T) {
		store := &outageMeta{MetaStore: memstore.New()}
		clock := sessiondtest.NewClock(t0)
		keys := apikey.New(store, clock, time.Second)
		live, _, err := keys.Create(ctx, "live")
		if err != nil {
			t.Fatal(err)
		}
		gone, goneKey, err := keys.Create(ctx, "gone")
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.Revoke(ctx, goneKey.ID); err != nil {
			t.Fatal(err)
		}
		store.down.Store(true)
		store.reads.Store(0)
		for range 3 {
			clock.Advance(time.Second)
			for range 5 {
				if _, err := keys.Authenticate(ctx, live); err != nil {
					t.Fatalf("Authenticate(live key) during the outage = %v; want the cached answer", err)
				}
			}
		}
		if n := store.reads.Load(); n != 3 {
			t.Errorf("15 requests over 3 refresh periods of outage read the store %d times; want 3", n)
		}
		if _, err := keys.Authenticate(ctx, gone); !errors.Is(err, apikey.ErrUnauthorized) {
			t.Errorf("Authenticate(revoked key) during the outage = %v; want ErrUnauthorized", err)
		}
		if _, err := keys.Authenticate(ctx, sessiond.Secret(strings.Repeat("u", 40))); !errors.Is(err, apikey.ErrUnauthorized) {
			t.Errorf("Authenticate(unknown key) during the outage = %v; want ErrUnauthorized", err)
		}

		// The store returns with the live key revoked by another node:
		// refused within a refresh period.
		store.down.Store(false)
		other := apikey.New(store, clock, time.Second)
		list, err := other.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range list {
			if k.Name == "live" {
				if err := other.Revoke(ctx, k.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		clock.Advance(time.Second)
		if _, err := keys.Authenticate(ctx, live); !errors.Is(err, apikey.ErrUnauthorized) {
			t.Errorf("Authenticate(key revoked elsewhere) after the outage = %v; want ErrUnauthorized", err)
		}
	})

	t.Run("Ensure leaves a set to fall back on", func(t *testing.T) {
		store := &outageMeta{MetaStore: memstore.New()}
		clock := sessiondtest.NewClock(t0)
		keys := apikey.New(store, clock, time.Second)
		if _, err := keys.Ensure(ctx, "env", envKey); err != nil {
			t.Fatal(err)
		}
		store.down.Store(true) // before any request
		clock.Advance(time.Hour)
		if k, err := keys.Authenticate(ctx, envKey); err != nil || !k.Allows(apikey.ScopeAdmin) {
			t.Errorf("Authenticate(env key) in an outage right after start = %+v, %v; want the admin key", k, err)
		}
	})

	t.Run("a hanging store holds up no request", func(t *testing.T) {
		// A frozen store or a black-holed network answers nothing rather
		// than refusing: the reload of the set must not hold the request
		// that started it for its whole deadline (issue 18, gap 1).
		store := &hangMeta{MetaStore: memstore.New(), release: make(chan struct{})}
		t.Cleanup(store.thaw)
		clock := sessiondtest.NewClock(t0)
		keys := apikey.New(store, clock, time.Second)
		if _, err := keys.Ensure(ctx, "env", envKey); err != nil {
			t.Fatal(err)
		}
		// Read the set once before bounding the wait: this first read
		// (Ensure's snapshot counts as never loaded) then runs in the
		// request, not apart from it, so no read of it can still hold
		// the set's lock when the store hangs, and the reload below is
		// the one that reaches the hung store (on a loaded machine a
		// detached first read outlived the 100 ms wait).
		if _, err := keys.Authenticate(ctx, envKey); err != nil {
			t.Fatal(err)
		}
		keys.BoundReloadWait(100 * time.Millisecond) // as serve does
		store.hang.Store(true)
		clock.Advance(2 * time.Second)
		// The deadline a request runs under; without a bound of its own
		// the reload would wait for all of it.
		reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if k, err := keys.Authenticate(reqCtx, envKey); err != nil || !k.Allows(apikey.ScopeAdmin) {
			t.Errorf("Authenticate(env key) while the store hangs = %+v, %v; want the last known set's answer", k, err)
		}
		if store.answered.Load() != 0 || reqCtx.Err() != nil {
			t.Errorf("Authenticate returned only once the hung read ended (request deadline passed: %v); want it answered while the store still hangs", reqCtx.Err())
		}
		if _, err := keys.Authenticate(reqCtx, sessiond.Secret(strings.Repeat("u", 40))); !errors.Is(err, apikey.ErrUnauthorized) {
			t.Errorf("Authenticate(unknown key) while the store hangs = %v; want ErrUnauthorized", err)
		}
		// Close stops the read still hanging and waits for it, so that
		// the store can close after it (the server's teardown). On a busy
		// machine the reload may not have reached the store yet: a Close
		// before then ends it before it reads, and nothing hangs.
		for begin := time.Now(); store.entered.Load() == 0; time.Sleep(time.Millisecond) {
			if time.Since(begin) > 10*time.Second {
				t.Fatal("the reload never reached the store")
			}
		}
		keys.Close()
		if n := store.answered.Load(); n != 1 {
			t.Errorf("after Close, %d hung reads returned; want 1 (Close must end and join it)", n)
		}
		if k, err := keys.Authenticate(ctx, envKey); err != nil || !k.Allows(apikey.ScopeAdmin) {
			t.Errorf("Authenticate after Close = %+v, %v; want the set held", k, err)
		}
	})

	t.Run("no set read yet fails closed", func(t *testing.T) {
		store := &outageMeta{MetaStore: memstore.New()}
		if _, err := apikey.New(store, nil, time.Second).Ensure(ctx, "env", envKey); err != nil {
			t.Fatal(err)
		}
		store.down.Store(true)
		fresh := apikey.New(store, sessiondtest.NewClock(t0), time.Second)
		if _, err := fresh.Authenticate(ctx, envKey); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("Authenticate with nothing cached = %v; want ErrStoreUnavailable", err)
		}
	})

	t.Run("corrupt set fails closed", func(t *testing.T) {
		mem := memstore.New()
		store := &outageMeta{MetaStore: mem}
		clock := sessiondtest.NewClock(t0)
		keys := apikey.New(store, clock, time.Second)
		if _, err := keys.Ensure(ctx, "env", envKey); err != nil {
			t.Fatal(err)
		}
		_, version, err := mem.GetMeta(ctx, apikey.DocName)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mem.PutMeta(ctx, apikey.DocName, []byte(`{"keys":`), version); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		if _, err := keys.Authenticate(ctx, envKey); err == nil || errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("Authenticate over a corrupt stored set = %v; want the corruption reported", err)
		}
	})
}

// deafMeta is a real store whose reads, once hang is closed, wait until
// release is closed whatever their context: a driver that does not watch
// it, or a call stuck behind another caller's reconnect.
type deafMeta struct {
	sessiond.MetaStore
	hang, release chan struct{}
}

func (d *deafMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	select {
	case <-d.hang:
		<-d.release
	default:
	}
	return d.MetaStore.GetMeta(ctx, name)
}

// TestKeys_ShutdownStuckReload: a reload left running apart from its
// request, in a store call that ignores its context, does not hold the
// server's shutdown: Shutdown stops waiting for it when its context ends
// and says so (Close, which serve used, waited for it without a bound).
func TestKeys_ShutdownStuckReload(t *testing.T) {
	ctx := context.Background()
	envKey := sessiond.Secret(strings.Repeat("e", 40))
	store := &deafMeta{MetaStore: memstore.New(), hang: make(chan struct{}), release: make(chan struct{})}
	clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	keys := apikey.New(store, clock, time.Second)
	keys.BoundReloadWait(100 * time.Millisecond) // as serve does
	if _, err := keys.Ensure(ctx, "env", envKey); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(ctx, envKey); err != nil {
		t.Fatal(err)
	}
	close(store.hang)
	clock.Advance(2 * time.Second)
	if _, err := keys.Authenticate(ctx, envKey); err != nil { // starts the reload that hangs
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	cancel() // the shutdown grace is over
	shut := make(chan error, 1)
	go func() { shut <- keys.Shutdown(sctx) }()
	select {
	case err := <-shut:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown with a reload stuck in the store = %v; want an error wrapping its context's", err)
		}
	case <-time.After(10 * time.Second): // the store never answers: only a hang gets here
		t.Error("Shutdown with an ended context still waits for a reload stuck in the store")
	}
	close(store.release) // the store's Close, at the end of the teardown
	if err := keys.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown once the store answered = %v; want nil", err)
	}
}
