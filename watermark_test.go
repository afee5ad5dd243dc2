package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
)

func TestManager_RevokeMatching(t *testing.T) {
	ctx := context.Background()
	t.Run("subjects", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		a := h.create(t, "alice", sessiond.CreateOptions{})
		b := h.create(t, "bob", sessiond.CreateOptions{})
		if _, err := h.m.Verify(ctx, a.AccessToken, sessiond.Client{}); err != nil { // now cached
			t.Fatal(err)
		}
		n, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, true)
		if err != nil || n != 1 {
			t.Fatalf("RevokeMatching = %d, %v; want 1", n, err)
		}
		if _, err := h.m.Verify(ctx, a.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("alice's cached token = %v; want ErrRevoked", err)
		}
		if _, err := h.m.Refresh(ctx, a.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("alice's refresh = %v; want ErrRevoked", err)
		}
		if _, err := h.m.Verify(ctx, b.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("bob: %v", err)
		}
		if got := h.events.Count(sessiond.EventRevokedByIncident); got != 1 {
			t.Errorf("%d revoked_by_incident events; want 1 (one per subject)", got)
		}
		// A new login of alice after the incident works.
		h.clock.Advance(2 * time.Second)
		a2 := h.create(t, "alice", sessiond.CreateOptions{})
		if _, err := h.m.Verify(ctx, a2.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("alice's new session: %v", err)
		}
		if n, _ := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}, IssuedBefore: t0.Add(time.Second)}, sessiond.ReasonIncident, false); n != 0 {
			t.Errorf("second run revoked %d; want 0 (idempotent)", n)
		}
	})
	t.Run("issued before, database", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyDatabase, nil)
		old := h.create(t, "carl", sessiond.CreateOptions{})
		h.clock.Advance(10 * time.Second)
		cut := h.clock.Now()
		h.clock.Advance(10 * time.Second)
		young := h.create(t, "carl", sessiond.CreateOptions{})
		n, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{IssuedBefore: cut}, sessiond.ReasonIncident, false)
		if err != nil || n != 1 {
			t.Fatalf("RevokeMatching = %d, %v; want 1", n, err)
		}
		if _, err := h.m.Verify(ctx, old.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("old session = %v; want ErrRevoked", err)
		}
		if _, err := h.m.Verify(ctx, young.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("session created after the cut: %v", err)
		}
	})
	t.Run("all, jwt strategy", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyJWT, nil)
		a := h.create(t, "dora", sessiond.CreateOptions{})
		if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
			t.Fatal(err)
		}
		if _, err := h.m.Verify(ctx, a.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("stateless access token after the kill switch = %v; want ErrRevoked", err)
		}
		if _, err := h.m.Refresh(ctx, a.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("stateless refresh token after the kill switch = %v; want ErrRevoked", err)
		}
	})
	t.Run("other node", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		a := h.create(t, "eve", sessiond.CreateOptions{})
		other, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: h.store, Signed: h.codec,
			Opaque: opaquetoken.Codec{}, Clock: h.clock, GCInterval: -1, WatermarkPoll: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := other.Verify(ctx, a.AccessToken, sessiond.Client{}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := other.Verify(ctx, a.AccessToken, sessiond.Client{})
			if errors.Is(err, sessiond.ErrRevoked) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the other node still accepts the token: %v", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("empty filter", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{}, sessiond.ReasonIncident, false); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("empty filter = %v; want ErrInvalidArgument", err)
		}
	})
}
