package sessiond_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
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
