package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_InspectChecked: check runs once the token is valid and before
// anything is written; its error comes back as is and the session's
// activity is not recorded, nor is an anomaly rule run. SkipActivity
// verifies without the record. Without an error the verification is
// Inspect's.
func TestManager_InspectChecked(t *testing.T) {
	errRefused := errors.New("refused by the caller")
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, func(o *sessiond.Options) { o.TouchInterval = time.Second })
			ctx := context.Background()
			iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Minute)
			var saw *sessiond.Session
			_, err = h.m.InspectChecked(ctx, iss.AccessToken, sessiond.Client{}, func(s *sessiond.Session) error {
				saw = s
				return errRefused
			})
			if !errors.Is(err, errRefused) || saw == nil || saw.ID != iss.Session.ID {
				t.Fatalf("InspectChecked = %v, check saw %v; want the check's error for session %s", err, saw, iss.Session.ID)
			}
			if st == sessiond.StrategyDatabase {
				s, err := h.m.Get(ctx, iss.Session.ID)
				if err != nil || !s.LastActiveAt.Equal(iss.Session.LastActiveAt) {
					t.Errorf("after a refused check the session was last active %v (%v); want still %v", s.LastActiveAt, err, iss.Session.LastActiveAt)
				}
			}
			// SkipActivity: valid, answered, and nothing recorded.
			v, err := h.m.InspectChecked(ctx, iss.AccessToken, sessiond.Client{}, func(*sessiond.Session) error { return sessiond.SkipActivity })
			if err != nil || v.Session.ID != iss.Session.ID {
				t.Fatalf("InspectChecked with SkipActivity = %v, %v; want the session, no error", v.Session.ID, err)
			}
			if st == sessiond.StrategyDatabase {
				s, err := h.m.Get(ctx, iss.Session.ID)
				if err != nil || !s.LastActiveAt.Equal(iss.Session.LastActiveAt) {
					t.Errorf("after SkipActivity the session was last active %v (%v); want still %v", s.LastActiveAt, err, iss.Session.LastActiveAt)
				}
			}
			v, err = h.m.InspectChecked(ctx, iss.AccessToken, sessiond.Client{}, func(*sessiond.Session) error { return nil })
			if err != nil || v.Session.ID != iss.Session.ID {
				t.Fatalf("InspectChecked with a passing check = %v, %v", v.Session.ID, err)
			}
			if st == sessiond.StrategyDatabase {
				if s, _ := h.m.Get(ctx, iss.Session.ID); !s.LastActiveAt.After(iss.Session.LastActiveAt) {
					t.Errorf("after a passing check the session was last active %v; want later than %v", s.LastActiveAt, iss.Session.LastActiveAt)
				}
			}
			if _, err := h.m.InspectChecked(ctx, "garbage", sessiond.Client{}, func(*sessiond.Session) error {
				t.Error("check ran on an invalid token")
				return nil
			}); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Errorf("InspectChecked(garbage) = %v; want ErrInvalidToken", err)
			}
		})
	}
}
