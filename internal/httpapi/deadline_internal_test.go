package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestRequestDeadline: the store calls of a request end a margin before
// server.write_timeout, so the 503 is written before the server closes the
// connection: a quarter of the timeout, at most a second.
func TestRequestDeadline(t *testing.T) {
	for _, c := range []struct{ wt, want time.Duration }{
		{0, 0},
		{-time.Second, 0},
		{400 * time.Millisecond, 300 * time.Millisecond},
		{2 * time.Second, 1500 * time.Millisecond},
		{4 * time.Second, 3 * time.Second},
		{15 * time.Second, 14 * time.Second},
	} {
		if got := RequestDeadline(c.wt); got != c.want {
			t.Errorf("RequestDeadline(%v) = %v; want %v", c.wt, got, c.want)
		}
	}
}

// TestUnboundedRoutes: each route exempt from the deadline is a route.
func TestUnboundedRoutes(t *testing.T) {
	for pattern := range unboundedRoutes {
		found := false
		for _, rt := range routes {
			found = found || rt.pattern == pattern
		}
		if !found {
			t.Errorf("unboundedRoutes names %q, which is no route", pattern)
		}
	}
}

// TestStoreDeadline: an error carrying the request's own deadline is the
// store not answering in time (ErrStoreUnavailable); a canceled request
// (the client went away) and a deadline not the request's are left as
// they are.
func TestStoreDeadline(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, stop := context.WithCancel(context.Background())
	stop()
	raw := fmt.Errorf("sqlitestore: create session: %w", context.DeadlineExceeded)
	if err := storeDeadline(expired, raw); !errors.Is(err, sessiond.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past the request's deadline: %v; want ErrStoreUnavailable and DeadlineExceeded", err)
	}
	said := fmt.Errorf("redisstore: get: %w: %w", sessiond.ErrStoreUnavailable, context.DeadlineExceeded)
	if err := storeDeadline(expired, said); err != said {
		t.Errorf("already ErrStoreUnavailable: %v; want it as it is", err)
	}
	gone := fmt.Errorf("x: %w", context.Canceled)
	if err := storeDeadline(canceled, gone); err != gone || strings.Contains(err.Error(), "unavailable") {
		t.Errorf("canceled: %v; want it as it is", err)
	}
	if err := storeDeadline(context.Background(), raw); err != raw {
		t.Errorf("another context's deadline: %v; want it as it is", err)
	}
	if err := storeDeadline(expired, nil); err != nil {
		t.Errorf("nil: %v", err)
	}
}
