package sessiond_test

// The verify cache and the revoked set against revocations and retired
// keys that happen while a verify is under way or before a node starts.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// hybridCacheNode is a hybrid Manager on st with signer signed.
func hybridCacheNode(t *testing.T, st sessiond.Store, signed sessiond.SignedTokens, clock *sessiondtest.Clock) *sessiond.Manager {
	t.Helper()
	return newManager(t, sessiond.Options{
		Strategy: sessiond.StrategyHybrid, Store: st, Signed: signed, Opaque: opaquetoken.Codec{},
		Clock: clock, Events: &sessiondtest.Events{}, GCInterval: -1,
		Lifetimes: sessiond.Lifetimes{Access: 10 * time.Minute, Refresh: 24 * time.Hour, Idle: 30 * time.Minute, Absolute: 8 * time.Hour},
	}, nil)
}

// ReasonIncident is the kill switch's: Resync leaves incident revocations
// out of the revoked set (their watermark covers them), so a single
// session revoked with it would verify again on a node started later.
// Revoke and RevokeSubject refuse it, and store nothing.
func TestManager_RevokeRefusesIncidentReason(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clock := sessiondtest.NewClock(t0)
	codec, _ := jwttest.Codec(t, t0, 90*24*time.Hour)
	a := hybridCacheNode(t, st, codec, clock)
	iss, err := a.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, iss.Session.ID, sessiond.ReasonIncident); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Fatalf("Revoke with ReasonIncident = %v, want ErrInvalidArgument", err)
	}
	if _, err := a.RevokeSubject(ctx, "alice", "", sessiond.ReasonIncident); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Fatalf("RevokeSubject with ReasonIncident = %v, want ErrInvalidArgument", err)
	}
	if _, err := a.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
		t.Fatalf("the refused revocations ended the session: %v", err)
	}
	// With its own reason the revocation reaches a node started later.
	if err := a.Revoke(ctx, iss.Session.ID, sessiond.ReasonAdmin); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	b := hybridCacheNode(t, st, codec, clock)
	if _, err := b.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("node started after the revocation: Verify = %v, want ErrRevoked", err)
	}
}

// blockingSigner is a SignedTokens whose Verify, once armed, reports that
// it has checked the signature and then waits before returning: the moment
// between the signature check and the verify cache's fill.
type blockingSigner struct {
	sessiond.SignedTokens
	mu      sync.Mutex
	armed   bool
	checked chan struct{}
	release chan struct{}
}

func (s *blockingSigner) Verify(kind sessiond.TokenKind, tok sessiond.Secret, now time.Time) (sessiond.TokenClaims, error) {
	c, err := s.SignedTokens.Verify(kind, tok, now)
	s.mu.Lock()
	armed := s.armed
	s.armed = false
	s.mu.Unlock()
	if armed {
		close(s.checked)
		<-s.release
	}
	return c, err
}

// PurgeVerifyCache (keys retired: the kill switch's rotate_keys, a key
// removed from the ring) must also stop a verify that checked the
// signature just before from caching the token just after: a cache hit
// skips the signature, so a token signed by a retired (possibly leaked)
// key would keep working until it expires.
func TestManager_VerifyCacheNotFilledAcrossPurge(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clock := sessiondtest.NewClock(t0)
	codec, ring := jwttest.Codec(t, t0, 90*24*time.Hour)
	signer := &blockingSigner{SignedTokens: codec, checked: make(chan struct{}), release: make(chan struct{})}
	m := hybridCacheNode(t, st, signer, clock)
	iss, err := m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signer.mu.Lock()
	signer.armed = true
	signer.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{})
		done <- err
	}()
	<-signer.checked // the signature checked out with the key still in the ring
	// The keys are retired and the cache purged, as on a key incident.
	if err := ring.RetireAll(clock.Now()); err != nil {
		t.Fatal(err)
	}
	m.PurgeVerifyCache()
	close(signer.release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight verify: %v", err)
	}
	// The signature alone no longer checks out.
	if _, err := codec.Verify(sessiond.KindAccess, iss.AccessToken, clock.Now()); err == nil {
		t.Fatal("the retired key still verifies: the probe is wrong")
	}
	if _, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err == nil {
		t.Fatal("a token signed by a retired key verifies after PurgeVerifyCache: the in-flight verify refilled the cache after the purge")
	}
}
