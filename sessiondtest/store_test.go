package sessiondtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// baseStore has the twelve methods of sessiond.Store and nothing else: it
// hides every optional interface of the memory store it forwards to.
type baseStore struct{ st *memstore.Store }

func (b baseStore) Create(ctx context.Context, s *sessiond.Session, tokens ...sessiond.Token) error {
	return b.st.Create(ctx, s, tokens...)
}
func (b baseStore) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	return b.st.Get(ctx, id)
}
func (b baseStore) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	return b.st.Lookup(ctx, h)
}
func (b baseStore) Touch(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time) error {
	return b.st.Touch(ctx, id, lastActive, idleExpires)
}
func (b baseStore) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	return b.st.SwapRefresh(ctx, sw)
}
func (b baseStore) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	return b.st.Revoke(ctx, id, at, reason)
}
func (b baseStore) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	return b.st.RevokeSubject(ctx, subject, except, at, reason)
}
func (b baseStore) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	return b.st.List(ctx, subject, now)
}
func (b baseStore) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	return b.st.Revocations(ctx, since)
}
func (b baseStore) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	return b.st.DeleteExpired(ctx, before, limit)
}
func (b baseStore) Ping(ctx context.Context) error { return b.st.Ping(ctx) }
func (b baseStore) Close() error                   { return b.st.Close() }

func newBaseStore(t *testing.T) sessiond.Store {
	st := baseStore{memstore.New()}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestStore_BaseMethodsOnly: a store with only the twelve base methods
// passes the conformance suite, which checks no extension it lacks.
func TestStore_BaseMethodsOnly(t *testing.T) {
	st := newBaseStore(t)
	for _, ok := range []bool{
		is[sessiond.Limiter](st), is[sessiond.MetaStore](st), is[sessiond.LiveCounter](st), is[sessiond.EventLog](st),
		is[sessiond.Outbox](st), is[sessiond.BulkRevoker](st), is[sessiond.RevocationNotifier](st),
	} {
		if ok {
			t.Fatalf("baseStore implements an optional interface; it must have only the base methods")
		}
	}
	sessiondtest.TestStore(t, newBaseStore)
}

func is[E any](st sessiond.Store) bool {
	_, ok := st.(E)
	return ok
}

// TestManager_BaseMethodsOnly: the Manager runs on a store with only the
// base methods, and what needs an extension fails with ErrUnsupported.
func TestManager_BaseMethodsOnly(t *testing.T) {
	ctx := t.Context()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwttoken.New(ring, jwttoken.Options{Issuer: "sessiondtest", Audience: "sessiondtest"})
	if err != nil {
		t.Fatal(err)
	}
	opts := sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: newBaseStore(t), Opaque: opaquetoken.Codec{},
		Signed: signed, GCInterval: -1, WatermarkPoll: -1}
	m, err := sessiond.New(ctx, opts)
	if err != nil {
		t.Fatalf("New(base store) = %v; want nil", err)
	}
	t.Cleanup(func() { m.Close() })
	iss, err := m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatalf("Create() = %v; want nil", err)
	}
	if _, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
		t.Fatalf("Verify() = %v; want nil", err)
	}
	next, err := m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatalf("Refresh() = %v; want nil", err)
	}
	if _, err := m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); !errors.Is(err, sessiond.ErrUnsupported) {
		t.Errorf("RevokeMatching() without a BulkRevoker = %v; want ErrUnsupported", err)
	}
	if err := m.Revoke(ctx, next.Session.ID, sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v; want nil", err)
	}
	if _, err := m.Verify(ctx, next.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("Verify(revoked) = %v; want ErrRevoked", err)
	}

	opts.Store, opts.MaxSessions = newBaseStore(t), 3
	if _, err := sessiond.New(ctx, opts); !errors.Is(err, sessiond.ErrUnsupported) {
		t.Errorf("New(MaxSessions 3, store without a Limiter) = %v; want ErrUnsupported", err)
	}
}
