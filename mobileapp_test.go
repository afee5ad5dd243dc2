package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_NativeApp: what a phone app meets, on a fake clock, as
// docs/lifecycle.md ("Native and mobile apps") tells its developer: the
// access lifetime read from the answer alone (the device's clock may be
// hours off), which errors after days asleep mean "refresh" and which
// "sign in again", and a refresh sent again after a lost answer or twice at
// once on resume.
func TestManager_NativeApp(t *testing.T) {
	ctx := context.Background()
	refresh := func(t *testing.T, h *harness, tok sessiond.Secret) (*sessiond.Issued, error) {
		t.Helper()
		return h.m.Refresh(ctx, tok, sessiond.Client{})
	}

	t.Run("access lifetime from the answer alone", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		iss := h.create(t, "clock", sessiond.CreateOptions{})
		h.clock.Advance(17 * time.Minute)
		next, err := refresh(t, h, iss.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		want := h.m.Lifetimes().Access
		for name, is := range map[string]*sessiond.Issued{"login": iss, "refresh": next} {
			if got := is.AccessExpiresAt.Sub(is.Session.LastActiveAt); got != want {
				t.Errorf("%s: access_token_expires_at - session.last_active_at = %v; want the access lifetime %v", name, got, want)
			}
		}
	})

	t.Run("asleep past the idle timeout", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		iss := h.create(t, "idle", sessiond.CreateOptions{})
		h.clock.Set(iss.AccessExpiresAt)
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrExpired) {
			t.Fatalf("Verify of an expired access token = %v; want ErrExpired (token_expired: refresh)", err)
		}
		if _, err := refresh(t, h, iss.RefreshToken); err != nil {
			t.Fatalf("Refresh at the access token's end = %v; want new tokens", err)
		}
		h2 := newHarness(t, sessiond.StrategyHybrid, nil)
		iss = h2.create(t, "idle", sessiond.CreateOptions{})
		h2.clock.Set(iss.RefreshExpiresAt.Add(3 * 24 * time.Hour))
		if _, err := h2.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrExpired) {
			t.Errorf("Verify after three days asleep = %v; want ErrExpired (token_expired: refresh)", err)
		}
		if _, err := refresh(t, h2, iss.RefreshToken); !errors.Is(err, sessiond.ErrIdleTimeout) {
			t.Errorf("Refresh after three days asleep = %v; want ErrIdleTimeout (idle_timeout: sign in)", err)
		}
		if _, err := h2.m.CollectGarbage(ctx, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(t, h2, iss.RefreshToken); !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Errorf("Refresh once the session was collected = %v; want ErrInvalidToken (token_invalid: sign in)", err)
		}
	})

	t.Run("remember me asleep for weeks", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		iss := h.create(t, "persist", sessiond.CreateOptions{Persistent: true})
		h.clock.Advance(20 * 24 * time.Hour)
		next, err := refresh(t, h, iss.RefreshToken)
		if err != nil {
			t.Fatalf("Refresh of a persistent session after 20 days = %v; want new tokens", err)
		}
		h.clock.Set(next.Session.ExpiresAt)
		if _, err := refresh(t, h, next.RefreshToken); !errors.Is(err, sessiond.ErrAbsoluteTimeout) {
			t.Errorf("Refresh at the absolute end = %v; want ErrAbsoluteTimeout (absolute_timeout: sign in)", err)
		}
	})

	t.Run("lost answer", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			after time.Duration
			want  error
		}{
			{"retried at once", time.Second, nil},
			{"retried at the interval's end", 5*time.Second - time.Microsecond, nil},
			{"retried after the app slept 10 minutes", 10 * time.Minute, sessiond.ErrRefreshReused},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := newHarness(t, sessiond.StrategyHybrid, nil)
				iss := h.create(t, "lost", sessiond.CreateOptions{})
				if _, err := refresh(t, h, iss.RefreshToken); err != nil { // the answer lost
					t.Fatal(err)
				}
				h.clock.Advance(tc.after)
				_, err := refresh(t, h, iss.RefreshToken)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("Refresh sent again %v later = %v; want %v", tc.after, err, tc.want)
				}
				if tc.want == nil {
					return
				}
				if _, err := refresh(t, h, iss.RefreshToken); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("Refresh after the reuse = %v; want ErrRevoked (session_revoked: sign in)", err)
				}
			})
		}
	})

	t.Run("two refreshes at once on resume", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		iss := h.create(t, "twice", sessiond.CreateOptions{})
		first, err := refresh(t, h, iss.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Second)
		second, err := refresh(t, h, iss.RefreshToken)
		if err != nil {
			t.Fatalf("second Refresh of one token within reuse_interval = %v; want new tokens", err)
		}
		// Both access tokens work, but only the later answer's refresh
		// token is live: the earlier one was retired by the later refresh.
		for name, is := range map[string]*sessiond.Issued{"first": first, "second": second} {
			if _, err := h.m.Verify(ctx, is.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("Verify of the %s answer's access token = %v", name, err)
			}
		}
		h.clock.Advance(time.Minute)
		if _, err := refresh(t, h, first.RefreshToken); !errors.Is(err, sessiond.ErrRefreshReused) {
			t.Errorf("Refresh with the earlier answer's token a minute later = %v; want ErrRefreshReused", err)
		}
	})
}
