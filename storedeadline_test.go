package sessiond_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestManager_DeadlineIsStoreUnavailable: a store call the caller's
// deadline cut is the store not answering in time, so the Manager returns
// it as ErrStoreUnavailable (still matching context.DeadlineExceeded) and
// reports it to StoreErrorObserver, even from a store that returns the
// context's error alone (SQLite's does); the API and the browser gateway
// then answer 503 store_unavailable, not 500 or a refused credential. A
// canceled context (the caller went away) is no store failure: it stays
// context.Canceled and is not reported.
func TestManager_DeadlineIsStoreUnavailable(t *testing.T) {
	st, err := sqlitestore.New(t.Context(), filepath.Join(t.TempDir(), "s.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ops := &storeOps{}
	m := newManager(t, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: st, Opaque: opaquetoken.Codec{},
		StoreErrorObserver: ops.observe, GCInterval: -1, WatermarkPoll: -1}, nil)
	iss, err := m.Create(t.Context(), "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		op   string
		call func(ctx context.Context) error
	}{
		{"Verify", "lookup", func(ctx context.Context) error {
			_, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{})
			return err
		}},
		{"Create", "create", func(ctx context.Context) error {
			_, err := m.Create(ctx, "alice", sessiond.CreateOptions{})
			return err
		}},
		{"List", "list", func(ctx context.Context) error {
			_, err := m.List(ctx, "alice")
			return err
		}},
		{"Revoke", "revoke", func(ctx context.Context) error {
			return m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout)
		}},
	}
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, stop := context.WithCancel(t.Context())
	stop()
	for _, c := range calls {
		err := c.call(expired)
		if !errors.Is(err, sessiond.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past the deadline = %v; want ErrStoreUnavailable and context.DeadlineExceeded", c.name, err)
		}
		if got := ops.take(); !slices.Equal(got, []string{c.op}) {
			t.Errorf("%s past the deadline reported %q; want [%s]", c.name, got, c.op)
		}
		err = c.call(canceled)
		if !errors.Is(err, context.Canceled) || errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("%s canceled = %v; want context.Canceled, not ErrStoreUnavailable", c.name, err)
		}
		if got := ops.take(); len(got) != 0 {
			t.Errorf("%s canceled reported %q; want nothing", c.name, got)
		}
	}
}
