package verifier

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/sessiondtest"
)

// TestVerifier_StaleOnTicks: how long ago the state was proven current is
// measured on ticks, which only move forward, not on the wall clock, which
// NTP or a restored VM may step either way.
func TestVerifier_StaleOnTicks(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		wall, tick time.Duration // how far each moved since the last sync
		want       bool
	}{
		{"fresh", time.Second, time.Second, false},
		{"past MaxStaleness", 31 * time.Second, 31 * time.Second, true},
		{"wall stepped back, stream silent", -10 * time.Minute, 31 * time.Second, true},
		{"wall stepped forward", time.Hour, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := sessiondtest.NewClock(start)
			var ticks atomic.Int64
			v := bare()
			v.clock, v.ticks, v.opts.MaxStaleness = clock, ticks.Load, 30*time.Second
			v.markSynced()
			clock.Set(start.Add(tc.wall))
			ticks.Add(int64(tc.tick))
			if got := v.stale(clock.Now()); got != tc.want {
				t.Errorf("stale after the wall clock moved %v and ticks %v = %v; want %v", tc.wall, tc.tick, got, tc.want)
			}
		})
	}
}

// countHandler counts the records logged at Warn.
type countHandler struct {
	slog.Handler
	warns *atomic.Int64
}

func (countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.warns.Add(1)
	}
	return nil
}

// TestVerifier_WarnStaleOnTicks: the stale warning is written at most once
// a minute, measured on ticks as staleness is: a wall clock stepped back
// must not silence it while tokens are accepted on a stale state.
func TestVerifier_WarnStaleOnTicks(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		wall, tick time.Duration // how far each moved between two stale verifications
		want       int64         // warnings written
	}{
		{"within the minute", 10 * time.Second, 10 * time.Second, 1},
		{"a minute later", time.Minute, time.Minute, 2},
		{"wall stepped back, a minute later", -10 * time.Minute, time.Minute, 2},
		{"wall stepped forward, within the minute", time.Hour, 10 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := sessiondtest.NewClock(start)
			var ticks, warns atomic.Int64
			v := bare()
			v.clock, v.ticks, v.opts.MaxStaleness = clock, ticks.Load, 30*time.Second
			v.log = slog.New(countHandler{Handler: slog.DiscardHandler, warns: &warns})
			ticks.Add(int64(time.Second)) // a process's ticks are past zero
			v.markSynced()
			ticks.Add(int64(31 * time.Second))
			clock.Advance(31 * time.Second)
			v.warnStale(clock.Now())
			clock.Set(clock.Now().Add(tc.wall))
			ticks.Add(int64(tc.tick))
			v.warnStale(clock.Now())
			if got := warns.Load(); got != tc.want {
				t.Errorf("stale warnings after the wall clock moved %v and ticks %v = %d; want %d", tc.wall, tc.tick, got, tc.want)
			}
		})
	}
}
