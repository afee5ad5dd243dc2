package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// carryingSink is an AtomicSink that hands every event to the store (a
// ChangeRecorder then writes it with its change) and keeps the events
// recorded after their change, as sessiondtest.Events does.
type carryingSink struct{ sessiondtest.Events }

func (*carryingSink) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	return []sessiond.Event{e}, nil, true, nil
}

func (*carryingSink) Committed(context.Context, sessiond.Event) {}

// storeOps collects what a Manager tells Options.StoreErrorObserver.
type storeOps struct {
	mu  sync.Mutex
	ops []string
}

func (o *storeOps) observe(op string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !errors.Is(err, sessiond.ErrStoreUnavailable) {
		op += " (with " + err.Error() + ")"
	}
	o.ops = append(o.ops, op)
}

func (o *storeOps) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.ops
	o.ops = nil
	return out
}

// TestManager_StoreErrorObserver: every store call of the Manager that
// fails because the store is unavailable is reported once, named by the
// Store method it is (a ChangeRecorder method by the one it stands for),
// whichever optional interface made it; answers of a working store
// (not found, revoked, reused) are not failures and are not reported.
func TestManager_StoreErrorObserver(t *testing.T) {
	limited := func(o *sessiond.Options) { o.MaxSessions = 5 }
	noGrantCache := func(o *sessiond.Options) { o.RefreshCacheSize = -1 }
	create := func(ctx context.Context, m *sessiond.Manager, _ *sessiond.Issued) error {
		_, err := m.Create(ctx, "bob", sessiond.CreateOptions{})
		return err
	}
	refresh := func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error {
		_, err := m.Refresh(ctx, first.RefreshToken, sessiond.Client{})
		return err
	}
	revokeSubject := func(ctx context.Context, m *sessiond.Manager, _ *sessiond.Issued) error {
		_, err := m.RevokeSubject(ctx, "alice", "", sessiond.ReasonAdmin)
		return err
	}
	for _, tc := range []struct {
		name     string
		strategy sessiond.Strategy
		carried  bool // the sink hands events to the store: its ChangeRecorder methods are used
		mod      func(*sessiond.Options)
		// call runs with the store closed; first is the first of two
		// sessions of alice made before.
		call func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error
		want []string
	}{
		{"Create", sessiond.StrategyHybrid, false, nil, create, []string{"create"}},
		{"CreateCarried", sessiond.StrategyHybrid, true, nil, create, []string{"create"}},
		{"CreateLimited", sessiond.StrategyDatabase, false, limited, create, []string{"create_limited"}},
		{"CreateLimitedCarried", sessiond.StrategyHybrid, true, limited, create, []string{"create_limited"}},
		{"RefreshFromGrantCache", sessiond.StrategyHybrid, false, nil, refresh, []string{"swap_refresh"}},
		{"Refresh", sessiond.StrategyHybrid, false, noGrantCache, refresh, []string{"lookup"}},
		{"VerifyDatabase", sessiond.StrategyDatabase, false, nil, func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error {
			_, err := m.Verify(ctx, first.AccessToken, sessiond.Client{})
			return err
		}, []string{"lookup"}},
		{"Get", sessiond.StrategyHybrid, false, nil, func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error {
			_, err := m.Get(ctx, first.Session.ID)
			return err
		}, []string{"get"}},
		{"Rotate", sessiond.StrategyHybrid, false, nil, func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error {
			_, err := m.Rotate(ctx, first.Session.ID)
			return err
		}, []string{"get"}},
		{"List", sessiond.StrategyDatabase, false, nil, func(ctx context.Context, m *sessiond.Manager, _ *sessiond.Issued) error {
			_, err := m.List(ctx, "alice")
			return err
		}, []string{"list"}},
		{"Revoke", sessiond.StrategyHybrid, false, nil, func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error {
			return m.Revoke(ctx, first.Session.ID, sessiond.ReasonLogout)
		}, []string{"revoke"}},
		{"RevokeCarried", sessiond.StrategyDatabase, true, nil, func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error {
			return m.Revoke(ctx, first.Session.ID, sessiond.ReasonLogout)
		}, []string{"revoke"}},
		{"RevokeToken", sessiond.StrategyDatabase, false, nil, func(ctx context.Context, m *sessiond.Manager, first *sessiond.Issued) error {
			return m.RevokeToken(ctx, first.AccessToken)
		}, []string{"lookup"}},
		// The list of the subject's sessions, for their clients in the
		// events, is a store call of its own.
		{"RevokeSubject", sessiond.StrategyHybrid, false, nil, revokeSubject, []string{"list", "revoke_subject"}},
		{"RevokeSubjectCarried", sessiond.StrategyHybrid, true, nil, revokeSubject, []string{"list", "revoke_subject"}},
		{"RevokeMatching", sessiond.StrategyHybrid, false, nil, func(ctx context.Context, m *sessiond.Manager, _ *sessiond.Issued) error {
			_, err := m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false)
			return err
		}, []string{"get_meta"}},
		{"CollectGarbage", sessiond.StrategyDatabase, false, nil, func(ctx context.Context, m *sessiond.Manager, _ *sessiond.Issued) error {
			_, err := m.CollectGarbage(ctx, 100)
			return err
		}, []string{"delete_expired"}},
		{"Resync", sessiond.StrategyHybrid, false, nil, func(ctx context.Context, m *sessiond.Manager, _ *sessiond.Issued) error {
			return m.Resync(ctx)
		}, []string{"revocations"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := &storeOps{}
			sink := &carryingSink{}
			h := newHarness(t, tc.strategy, func(o *sessiond.Options) {
				o.StoreErrorObserver = ops.observe
				o.WatermarkPoll = -1 // no background read during the outage
				if tc.carried {
					o.Events = sink
				}
				if tc.mod != nil {
					tc.mod(o)
				}
			})
			ctx := context.Background()
			first := h.create(t, "alice", sessiond.CreateOptions{})
			h.clock.Advance(time.Second) // the second login is the later one: its check reports the first
			h.create(t, "alice", sessiond.CreateOptions{})
			// The concurrent-login checks read the store off the request's
			// path, one after the other; the second one's event says both
			// are done, so no read of theirs lands in the outage.
			events := h.events
			if tc.carried {
				events = &sink.Events
			}
			wait, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := events.Await(wait, sessiond.EventConcurrentLogin, 1); err != nil {
				t.Fatalf("the concurrent-login check of the second login: %v", err)
			}
			if got := ops.take(); len(got) > 0 {
				t.Fatalf("with the store up, the observer was told of %q; want nothing", got)
			}

			h.store.Close() // every call fails with ErrStoreUnavailable from now on
			err := tc.call(ctx, h.m, first)
			if !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Fatalf("%s with the store closed = %v; want ErrStoreUnavailable", tc.name, err)
			}
			if got := ops.take(); !slices.Equal(got, tc.want) {
				t.Errorf("%s with the store closed reported %q; want %q", tc.name, got, tc.want)
			}
		})
	}
}

// TestManager_StoreErrorObserverIgnoresAnswers: what a working store
// answers (not found, revoked, reused, invalid) is not a store failure.
func TestManager_StoreErrorObserverIgnoresAnswers(t *testing.T) {
	ops := &storeOps{}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.StoreErrorObserver = ops.observe })
	ctx := context.Background()
	iss := h.create(t, "alice", sessiond.CreateOptions{})
	next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	for _, c := range []struct {
		name string
		call func() error
		want error
	}{
		{"RevokeUnknown", func() error { return h.m.Revoke(ctx, sessiond.NewSessionID(), sessiond.ReasonLogout) }, sessiond.ErrNotFound},
		{"GetUnknown", func() error { _, err := h.m.Get(ctx, sessiond.NewSessionID()); return err }, sessiond.ErrNotFound},
		{"RefreshUnknown", func() error {
			_, err := h.m.Refresh(ctx, "sdrt_unknown", sessiond.Client{})
			return err
		}, sessiond.ErrInvalidToken},
		{"RefreshReused", func() error { _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); return err }, sessiond.ErrRefreshReused},
		{"RefreshRevoked", func() error { _, err := h.m.Refresh(ctx, next.RefreshToken, sessiond.Client{}); return err }, sessiond.ErrRevoked},
	} {
		if err := c.call(); !errors.Is(err, c.want) {
			t.Errorf("%s = %v; want %v", c.name, err, c.want)
		}
	}
	if got := ops.take(); len(got) > 0 {
		t.Errorf("answers of a working store reported as store failures: %q", got)
	}
}

// failingBulk is a memory store whose reads of a subject (List, ListPage)
// or RevokeMatching fail, when set, as a store that stopped answering does.
type failingBulk struct {
	*memstore.Store
	list, bulk atomic.Bool
}

func (s *failingBulk) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	if s.list.Load() {
		return nil, fmt.Errorf("list: %w", sessiond.ErrStoreUnavailable)
	}
	return s.Store.List(ctx, subject, now)
}

func (s *failingBulk) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	if s.list.Load() {
		return sessiond.Page{}, fmt.Errorf("list page: %w", sessiond.ErrStoreUnavailable)
	}
	return s.Store.ListPage(ctx, q)
}

func (s *failingBulk) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, now time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	if s.bulk.Load() {
		return 0, nil, fmt.Errorf("revoke matching: %w", sessiond.ErrStoreUnavailable)
	}
	return s.Store.RevokeMatching(ctx, f, now, reason)
}

// TestManager_StoreErrorObserverBehindMarks: a login refused by the
// session limit makes the Manager list the subject's sessions and end
// those behind an incident's watermark; a failure of either store call is
// reported as any other, not only taken for "nothing to end".
func TestManager_StoreErrorObserverBehindMarks(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(*failingBulk)
		want []string
	}{
		{"list", func(s *failingBulk) { s.list.Store(true) }, []string{"list"}},
		{"revoke matching", func(s *failingBulk) { s.bulk.Store(true) }, []string{"revoke_matching"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var ops storeOps
			var store *failingBulk
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				store = &failingBulk{Store: o.Store.(*memstore.Store)}
				o.Store, o.StoreErrorObserver = store, ops.observe
				o.MaxSessions, o.LimitPolicy = 1, sessiond.LimitReject
			})
			h.clock.Set(t0.Add(400 * time.Millisecond))
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			// Another node's login, stored in the watermark's second.
			at := t0.Add(700 * time.Millisecond)
			zombie := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyHybrid,
				CreatedAt: at, LastActiveAt: at, IdleExpiresAt: at.Add(30 * time.Minute), ExpiresAt: at.Add(8 * time.Hour)}
			if err := h.store.Create(ctx, zombie); err != nil {
				t.Fatal(err)
			}
			h.clock.Set(t0.Add(2 * time.Second))
			ops.take()
			tc.fail(store)
			if _, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{}); err == nil {
				t.Fatal("login with the store failing to end the session behind the watermark: nil; want it refused")
			}
			if got := ops.take(); !slices.Equal(got, tc.want) {
				t.Errorf("StoreErrorObserver got %q; want %q", got, tc.want)
			}
		})
	}
}

// conflicting is a memory store whose Create fails with ErrConflict while
// create is set, as a store that gave up on concurrent changes does, and
// whose PutMeta loses its compare-and-swap casLosses times first.
type conflicting struct {
	*memstore.Store
	create    atomic.Bool
	casLosses atomic.Int32
}

func (s *conflicting) Create(ctx context.Context, sess *sessiond.Session, tokens ...sessiond.Token) error {
	if s.create.Load() {
		return fmt.Errorf("create: transaction lost a race, retry: %w", sessiond.ErrConflict)
	}
	return s.Store.Create(ctx, sess, tokens...)
}

func (s *conflicting) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if s.casLosses.Add(-1) >= 0 {
		return 0, fmt.Errorf("put meta: version moved: %w", sessiond.ErrConflict)
	}
	return s.Store.PutMeta(ctx, name, value, version)
}

// TestManager_StoreErrorObserverConflict: a store call that fails the
// Manager's call with ErrConflict (the API answers it 503, as an outage)
// is reported, with an error matching ErrConflict and not
// ErrStoreUnavailable; a lost compare-and-swap the Manager tries again
// and wins is not, and one it gives up on after every try is, once.
func TestManager_StoreErrorObserverConflict(t *testing.T) {
	ctx := context.Background()
	var ops storeOps
	var store *conflicting
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		store = &conflicting{Store: o.Store.(*memstore.Store)}
		o.Store, o.StoreErrorObserver = store, ops.observe
		o.WatermarkPoll = -1
	})
	store.casLosses.Store(2)
	if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, false); err != nil {
		t.Fatalf("RevokeMatching after two lost compare-and-swaps = %v; want nil", err)
	}
	if n := store.casLosses.Load(); n >= 0 {
		t.Fatalf("PutMeta lost %d compare-and-swaps of 2; want both lost and one more won", 2-n)
	}
	if got := ops.take(); len(got) > 0 {
		t.Errorf("lost compare-and-swaps the Manager won on retry reported as %q; want nothing", got)
	}
	store.casLosses.Store(1000)
	if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"carol"}}, sessiond.ReasonIncident, false); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("RevokeMatching with every compare-and-swap lost = %v; want ErrConflict", err)
	}
	if got := ops.take(); len(got) != 1 || !strings.HasPrefix(got[0], "put_meta (with ") {
		t.Errorf("a kill switch given up on lost compare-and-swaps reported as %q; want put_meta once, with the conflict", got)
	}
	store.casLosses.Store(0)

	store.create.Store(true)
	_, err := h.m.Create(ctx, "bob", sessiond.CreateOptions{})
	if !errors.Is(err, sessiond.ErrConflict) || errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Fatalf("Create with the store in conflict = %v; want ErrConflict alone", err)
	}
	if got := ops.take(); len(got) != 1 || !strings.HasPrefix(got[0], "create (with ") || !strings.Contains(got[0], "lost a race") {
		t.Errorf("StoreErrorObserver got %q; want create, with the store's conflict", got)
	}
}
