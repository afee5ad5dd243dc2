package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/memstore"
)

// TestShutdown_Bounds: a teardown whose background loop takes a while
// (a last store write) is waited for within shutdown_timeout, cut at it
// (logged) past it, and with shutdown_timeout 0 (requests cut at once)
// still waited for, as before the whole stop was bounded: 0 gives no
// bound to exit at, and exiting at once would skip every loop's last write
// and the store's close.
func TestShutdown_Bounds(t *testing.T) {
	const loop = 300 * time.Millisecond
	for _, tc := range []struct {
		name     string
		grace    time.Duration
		wantDone bool // the loop's last write finished before run returned
		wantLine bool // "shutdown timeout reached"
	}{
		{"within the timeout", 10 * time.Second, true, false},
		{"past the timeout", 50 * time.Millisecond, false, true},
		{"timeout 0", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			bg := newBackground()
			finished, release := make(chan struct{}), make(chan struct{})
			bg.Go(func(ctx context.Context) {
				<-ctx.Done()
				if tc.wantDone {
					time.Sleep(loop) // the loop's last store write
				} else {
					<-release // a write that outlasts the timeout
				}
				close(finished)
			})
			s := &shutdown{log: slog.New(slog.NewTextHandler(&logs, nil)), grace: tc.grace, bg: bg, store: memstore.New()}
			if err := s.run(); err != nil {
				t.Fatalf("run() = %v", err)
			}
			done := false
			select {
			case <-finished:
				done = true
			default:
			}
			if done != tc.wantDone {
				t.Errorf("the loop's last write done when run returned = %v; want %v", done, tc.wantDone)
			}
			if got := strings.Contains(logs.String(), "shutdown timeout reached"); got != tc.wantLine {
				t.Errorf("timeout line logged = %v; want %v\n%s", got, tc.wantLine, logs.String())
			}
			close(release)
			<-finished
		})
	}
}

// TestShutdown_TimeoutCountsUnrecordedDeliveries: an exit at the timeout,
// or at a further signal, says how many webhook deliveries it leaves
// claimed and unrecorded (tried again after their lease, perhaps sent
// twice), so the operator need not guess from "waiting_for".
func TestShutdown_TimeoutCountsUnrecordedDeliveries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal bool
	}{
		{"timeout", false},
		{"further signal", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			bg := newBackground()
			release := make(chan struct{})
			defer close(release)
			bg.Go(func(ctx context.Context) { <-release }) // a last write on a hung store
			again := make(chan struct{}, 1)
			grace := 50 * time.Millisecond
			if tc.signal {
				grace = time.Hour
				again <- struct{}{}
			}
			s := &shutdown{log: slog.New(slog.NewTextHandler(&logs, nil)), grace: grace, bg: bg, store: memstore.New(),
				again: again, unrecorded: func() int { return 2 }}
			_ = s.run()
			if !strings.Contains(logs.String(), "webhook_deliveries_unrecorded=2") {
				t.Errorf("no count of the unrecorded webhook deliveries in the log\n%s", logs.String())
			}
		})
	}
}
