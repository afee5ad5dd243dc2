package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// TestManager_TouchEveryVerify: a negative TouchInterval writes a database
// session's activity back on every verify, so a session verified more
// often than its idle timeout never times out, however short that is.
func TestManager_TouchEveryVerify(t *testing.T) {
	life := sessiond.Lifetimes{Access: time.Hour, Refresh: 24 * time.Hour, Idle: 5 * time.Second, Absolute: time.Hour}
	h := newHarness(t, sessiond.StrategyDatabase, func(o *sessiond.Options) {
		o.Lifetimes, o.TouchInterval = life, -1
	})
	ctx := context.Background()
	iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 { // 20 s of use, every 2 s, against a 5 s idle timeout
		h.clock.Advance(2 * time.Second)
		if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
			t.Fatalf("verify %d, %v after login: %v; want the session live while in use", i+1, time.Duration(i+1)*2*time.Second, err)
		}
	}
}

// failingTouch is a memstore whose Touch fails with err: a store that
// reads but cannot write (a full or read-only disk), or one that answers
// the touch with not found (the session revoked or collected since the
// Manager read it).
type failingTouch struct {
	*memstore.Store
	err error
}

func (s *failingTouch) Touch(context.Context, sessiond.SessionID, time.Time, time.Time) error {
	return s.err
}

// TestManager_VerifyWhenTouchFails: in the database strategy a verify
// whose touch is due still answers from the session it read when the
// store cannot write the touch (a full disk, answered before as 503 for
// every session after one touch interval), counts the failure, and
// extends nothing; a touch answered not found still refuses the token.
func TestManager_VerifyWhenTouchFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantErr error // nil: verified
		wantOps []string
	}{
		{"store unavailable", fmt.Errorf("disk full: %w", sessiond.ErrStoreUnavailable), nil, []string{"touch"}},
		{"deadline", fmt.Errorf("touch: %w", context.DeadlineExceeded), nil, []string{"touch"}},
		{"session gone", fmt.Errorf("touch: %w", sessiond.ErrNotFound), sessiond.ErrInvalidToken, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ops storeOps
			h := newHarness(t, sessiond.StrategyDatabase, func(o *sessiond.Options) {
				o.TouchInterval = time.Minute
				o.StoreErrorObserver = ops.observe
			})
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			h.m.Close() // rebuilt below on the failing store; the session stays in h.store
			m := newManager(t, sessiond.Options{
				Strategy: sessiond.StrategyDatabase, Store: &failingTouch{Store: h.store, err: tc.err},
				Opaque: opaquetoken.Codec{}, Clock: h.clock, GCInterval: -1,
				TouchInterval: time.Minute, StoreErrorObserver: ops.observe,
			}, nil)
			h.clock.Advance(2 * time.Minute) // the touch is due
			got, err := m.Verify(context.Background(), iss.AccessToken, sessiond.Client{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Verify = %v, %v; want %v", got, err, tc.wantErr)
				}
			} else if err != nil || got.ID != iss.Session.ID {
				t.Fatalf("Verify = %v, %v; want session %s", got, err, iss.Session.ID)
			}
			if ops := ops.take(); !slices.Equal(ops, tc.wantOps) {
				t.Errorf("store failures reported = %q; want %q", ops, tc.wantOps)
			}
			stored, err := h.store.Get(context.Background(), iss.Session.ID)
			if err != nil || !stored.LastActiveAt.Equal(iss.Session.LastActiveAt) || !stored.IdleExpiresAt.Equal(iss.Session.IdleExpiresAt) {
				t.Errorf("stored session after the failed touch = %+v, %v; want its activity unchanged", stored, err)
			}
			if tc.wantErr == nil && !got.IdleExpiresAt.Equal(iss.Session.IdleExpiresAt) {
				t.Errorf("Verify's session IdleExpiresAt = %v; want the stored %v (the touch was not written)", got.IdleExpiresAt, iss.Session.IdleExpiresAt)
			}
		})
	}
}
