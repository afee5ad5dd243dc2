package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// TestManager_RevokedSetCoversSlowRevocation: a revocation is dated when
// it starts; an access token a refresh issued while it was still being
// written is dated later. Neither this node's revoked set nor a node that
// rebuilds it from the store may forget the revocation while that token is
// unexpired (sessiond.RevokeWriteMargin).
func TestManager_RevokedSetCoversSlowRevocation(t *testing.T) {
	store := &raceStore{Store: memstore.New()}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = store })
	ctx := context.Background()
	iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := h.clock.Now()
	var late *sessiond.Issued
	store.beforeRevoke = func() {
		h.clock.Advance(10 * time.Second) // the write is slow
		if late, err = h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err != nil {
			t.Errorf("Refresh while the logout is written = %v; want it to commit first", err)
		}
	}
	if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	if late == nil {
		t.Fatal("no refresh ran during the revocation")
	}
	// Past what an access token dated at the revocation could live, before
	// the late token's own expiry.
	h.clock.Set(revokedAt.Add(iss.AccessExpiresAt.Sub(revokedAt) + 8*time.Second))
	if !h.clock.Now().Before(late.AccessExpiresAt) {
		t.Fatalf("the late token expired at %v, before the check at %v", late.AccessExpiresAt, h.clock.Now())
	}
	h.m.CollectGarbage(ctx, 100)
	if _, err := h.m.Verify(ctx, late.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("Verify(late access token) on the revoking node = %v; want ErrRevoked", err)
	}
	fresh := newManager(t, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: store, Signed: h.codec,
		Opaque: opaquetoken.Codec{}, Clock: h.clock, GCInterval: -1}, nil)
	if _, err := fresh.Verify(ctx, late.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("Verify(late access token) on a node that rebuilt its set from the store = %v; want ErrRevoked", err)
	}
}

// TestManager_GCGraceForVerifiers: a hybrid session's last access token
// may end exactly at its absolute expiry, and a verifier with a leeway
// above the server's (up to MaxVerifierLeeway) accepts it that long after.
// Collecting the revoked session at its expiry took its revocation out of
// the snapshot such a verifier loads; collection now waits that long.
func TestManager_GCGraceForVerifiers(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.Lifetimes = sessiond.Lifetimes{Access: 15 * time.Minute, Refresh: 40 * time.Minute, Idle: 30 * time.Minute, Absolute: 40 * time.Minute}
	})
	ctx := context.Background()
	iss := h.create(t, "hal", sessiond.CreateOptions{})
	h.clock.Advance(30 * time.Minute)
	last, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	end := iss.Session.ExpiresAt
	if !last.AccessExpiresAt.Equal(end) {
		t.Fatalf("the last access token expires at %v; want the session's end %v", last.AccessExpiresAt, end)
	}
	if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	revoked := func() bool {
		revs, err := h.store.Revocations(ctx, h.clock.Now().Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return len(revs) == 1
	}
	h.clock.Set(end.Add(sessiond.MaxVerifierLeeway / 2))
	if _, err := h.m.CollectGarbage(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if !revoked() {
		t.Errorf("%v after the session's end, within a verifier's leeway, the revocation was collected", sessiond.MaxVerifierLeeway/2)
	}
	h.clock.Set(end.Add(sessiond.MaxVerifierLeeway + time.Minute))
	if n, err := h.m.CollectGarbage(ctx, 100); err != nil || n != 1 || revoked() {
		t.Errorf("CollectGarbage past every leeway = %d, %v (revocation kept %v); want the session collected", n, err, revoked())
	}
}

// TestManager_RevokedSetBoundedWithoutCollector: a node that leaves garbage
// collection to another (Options.GCInterval negative, never calling
// CollectGarbage) still hears every revocation of the cluster; its revoked
// set must forget the ones whose access tokens have all expired instead of
// growing with every logout for as long as it runs.
func TestManager_RevokedSetBoundedWithoutCollector(t *testing.T) {
	tests := []struct {
		name        string
		waves, wave int
	}{
		{"many small waves", 200, 50},
		{"few large waves", 5, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, nil) // GCInterval: -1
			most := 0
			for w := range tt.waves {
				now := h.clock.Now()
				for i := range tt.wave {
					h.m.NoteRevoked(sessiond.Revocation{SessionID: sessiond.SessionID(fmt.Sprintf("w%d-%d", w, i)),
						Subject: "s", RevokedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour), Reason: sessiond.ReasonLogout})
				}
				most = max(most, h.m.Stats().RevokedSetEntries)
				// Past every access token of this wave: its entries may go.
				h.clock.Advance(2 * time.Hour)
			}
			// At most the live wave, the one before it not yet pruned, and
			// a floor below which pruning is not worth a scan.
			if limit := 2*tt.wave + 4096; most > limit {
				t.Errorf("RevokedSetEntries reached %d after %d waves of %d, none live for more than one wave; want at most %d",
					most, tt.waves, tt.wave, limit)
			}
		})
	}
}
