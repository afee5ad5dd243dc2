package sessiondtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// Option changes what a suite expects of the store it checks.
type Option func(*options)

type options struct {
	replayByStoreClock bool
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// ReplayByStoreClock tells the replay-guard suites that the store expires
// one-time keys by its own clock, keeping each at least until-now from the
// call (redisstore, by Redis's TIME), rather than deciding expiry by the
// caller's now. Without it the suites check that a record the caller's
// clock says has expired no longer blocks its key, even while the store's
// clock says it has not; a store expiring by its own clock fails that.
func ReplayByStoreClock() Option {
	return func(o *options) { o.replayByStoreClock = true }
}

// TestReplayGuard checks sessiond.ReplayGuard, failing at once if newStore's
// stores do not implement it. TestStore runs it when they do.
func TestReplayGuard(t *testing.T, newStore func(t *testing.T) sessiond.Store, opts ...Option) {
	o := newOptions(opts)
	runSuite(t, newStore, []subtest[sessiond.ReplayGuard]{
		{"Once", replayOnce},
		{"ConcurrentOnce", replayConcurrentOnce},
		{"Expires", replayExpires},
		{"CallerClock", o.replayCallerClock},
		{"ReplayKeepsRecord", replayKeepsRecord},
		{"EmptyKey", replayEmptyKey},
	})
}

// replayEmptyKey: an empty key is refused with ErrInvalidArgument and
// records nothing, on every store: no caller remembers nothing (they pass
// a hash), so it is a bug, and recording it would refuse every later
// empty key as a replay on one store while another refused none.
func replayEmptyKey(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	now := time.Now()
	for i := range 2 {
		fresh, err := g.RememberOnce(f.ctx, "", now, now.Add(time.Hour))
		wantErr(t, fmt.Sprintf("RememberOnce(\"\") #%d", i+1), err, sessiond.ErrInvalidArgument)
		if fresh {
			t.Errorf("RememberOnce(\"\") #%d = fresh; want false with the error", i+1)
		}
	}
	if a, ok := g.(sessiond.AckedReplayGuard); ok {
		fresh, err := a.RememberOnceAcked(f.ctx, "", now, now.Add(time.Hour))
		wantErr(t, "RememberOnceAcked(\"\")", err, sessiond.ErrInvalidArgument)
		if fresh {
			t.Errorf("RememberOnceAcked(\"\") = fresh; want false with the error")
		}
	}
}

func replayOnce(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	now := time.Now()
	until := now.Add(time.Hour)
	for i, want := range []bool{true, false, false} {
		fresh, err := g.RememberOnce(f.ctx, "jti-a", now, until)
		if err != nil || fresh != want {
			t.Fatalf("RememberOnce(jti-a) #%d = %v, %v; want %v", i+1, fresh, err, want)
		}
	}
	if fresh, err := g.RememberOnce(f.ctx, "jti-b", now, until); err != nil || !fresh {
		t.Fatalf("RememberOnce(jti-b) = %v, %v; keys are not independent", fresh, err)
	}
	// Keys are compared byte for byte: callers pass base64url, where case
	// matters (a case-insensitive collation would refuse a fresh key).
	if fresh, err := g.RememberOnce(f.ctx, "JTI-A", now, until); err != nil || !fresh {
		t.Fatalf("RememberOnce(JTI-A) after jti-a = %v, %v; keys that differ only in case are not independent", fresh, err)
	}
}

func replayConcurrentOnce(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh, err := g.RememberOnce(f.ctx, "jti-race", now, now.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if fresh {
				wins++
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 20 concurrent RememberOnce calls were fresh; want 1", wins)
	}
}

// replayExpires: a record no longer blocks its key once its until has
// passed (the SSF receiver and DPoP keep records for exactly their window).
// Redis expires keys on its own clock, and keeps a record at least as long
// as the caller's window measured from its call (the caller's clock may
// be behind Redis's), so the record is a short one, awaited in real time,
// the caller's clock telling the real time too.
func replayExpires(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	now := time.Now()
	if fresh, err := g.RememberOnce(f.ctx, "jti-exp", now, now.Add(20*time.Millisecond)); err != nil || !fresh {
		t.Fatalf("RememberOnce(jti-exp, a 20ms window) = %v, %v; want true", fresh, err)
	}
	var again time.Time // when the key was recorded again, for a minute
	for deadline := now.Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		again = time.Now()
		fresh, err := g.RememberOnce(f.ctx, "jti-exp", again, again.Add(time.Minute))
		if err != nil {
			t.Fatalf("RememberOnce(jti-exp, once its window ended) = %v", err)
		}
		if fresh {
			break
		}
		if again.After(deadline) {
			t.Fatal("RememberOnce(jti-exp) is still a replay 10s after its 20ms window ended; want the record expired")
		}
	}
	// Late in its minute, by the caller's clock, the record still blocks
	// (a store keeping it half its window passes a replay there); Redis
	// keeps it by its own clock, a minute from the call.
	late := again.Add(40 * time.Second)
	if fresh, err := g.RememberOnce(f.ctx, "jti-exp", late, late.Add(time.Minute)); err != nil || fresh {
		t.Fatalf("RememberOnce(jti-exp) 40s into the minute it was recorded again for = %v, %v; want false", fresh, err)
	}
}

// replayCallerClock: expiry is decided by the caller's now, whatever the
// store's clock says (replayExpires waits in real time, where the two
// agree). A record made an hour in the past still blocks within its
// window by the caller's clock: a store that expires records by its own
// clock drops it at once, unless, like Redis, it keeps each record its
// window from the call. Unless the store said ReplayByStoreClock, a record
// made an hour ahead no longer blocks once its window has ended by the
// caller's clock, though by the store's clock it has not begun.
func (o options) replayCallerClock(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	wall := time.Now().UTC().Truncate(time.Microsecond)
	steps := []struct {
		key        string
		at         time.Time // the caller's now
		want       bool
		storeClock bool // also checked on a store expiring by its own clock
	}{
		{"jti-behind", wall.Add(-time.Hour), true, true},
		{"jti-behind", wall.Add(-time.Hour + 30*time.Second), false, true}, // its window runs by the caller's clock
		{"jti-ahead", wall.Add(time.Hour), true, true},
		{"jti-ahead", wall.Add(time.Hour + 30*time.Second), false, true},
		{"jti-ahead", wall.Add(time.Hour + 2*time.Minute), true, false}, // its window ended by the caller's clock
	}
	for i, st := range steps {
		if o.replayByStoreClock && !st.storeClock {
			continue
		}
		fresh, err := g.RememberOnce(f.ctx, st.key, st.at, st.at.Add(time.Minute))
		if err != nil || fresh != st.want {
			t.Fatalf("step %d: RememberOnce(%s, now wall%+v, a minute's window) = %v, %v; want %v (expiry is decided by the caller's now)",
				i+1, st.key, st.at.Sub(wall), fresh, err, st.want)
		}
	}
}

// replayKeepsRecord: a replay changes nothing, whatever window it
// names; a store that writes the replay's until over the record's (an
// upsert without its condition, a SET without NX) lets a second replay
// through once the shorter window ends. The replay's window ended in real
// time already, so that Redis, which expires keys on its own clock,
// would drop an overwritten record at once.
func replayKeepsRecord(t *testing.T, f *fixture, g sessiond.ReplayGuard) {
	now := time.Now()
	steps := []struct {
		at, until time.Duration
		want      bool
	}{
		{0, time.Hour, true},
		{-2 * time.Minute, -time.Minute, false}, // a replay: the record is live then
		{time.Minute, 2 * time.Minute, false},   // the record's hour still runs
	}
	for i, st := range steps {
		fresh, err := g.RememberOnce(f.ctx, "jti-keep", now.Add(st.at), now.Add(st.until))
		if err != nil || fresh != st.want {
			t.Fatalf("step %d: RememberOnce(jti-keep, now%+v, until now%+v) = %v, %v; want %v (a replay must not shorten the record)",
				i+1, st.at, st.until, fresh, err, st.want)
		}
	}
}

// TestAckedReplayGuard checks sessiond.AckedReplayGuard, failing at once
// if newStore's stores do not implement it. TestStore runs it when they
// do. RememberOnceAcked keeps RememberOnce's contract, on the same keys;
// its wait for replicas is the store's own tests' to check.
func TestAckedReplayGuard(t *testing.T, newStore func(t *testing.T) sessiond.Store, opts ...Option) {
	o := newOptions(opts)
	acked := func(run func(*testing.T, *fixture, sessiond.ReplayGuard)) func(*testing.T, *fixture, sessiond.AckedReplayGuard) {
		return func(t *testing.T, f *fixture, g sessiond.AckedReplayGuard) { run(t, f, ackedOnly{g}) }
	}
	runSuite(t, newStore, []subtest[sessiond.AckedReplayGuard]{
		{"Once", acked(replayOnce)},
		{"ConcurrentOnce", acked(replayConcurrentOnce)},
		{"Expires", acked(replayExpires)},
		{"CallerClock", acked(o.replayCallerClock)},
		{"ReplayKeepsRecord", acked(replayKeepsRecord)},
		{"SameKeys", replayAckedSameKeys},
	})
}

// ackedOnly is g with RememberOnce answered by RememberOnceAcked, for the
// ReplayGuard subtests.
type ackedOnly struct{ g sessiond.AckedReplayGuard }

func (a ackedOnly) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	return a.g.RememberOnceAcked(ctx, key, now, until)
}

// replayAckedSameKeys: a key recorded by either method is a replay to the
// other.
func replayAckedSameKeys(t *testing.T, f *fixture, g sessiond.AckedReplayGuard) {
	now := time.Now()
	until := now.Add(time.Hour)
	steps := []struct {
		key   string
		acked bool
		want  bool
	}{
		{"jti-acked", true, true},
		{"jti-acked", false, false},
		{"jti-plain", false, true},
		{"jti-plain", true, false},
	}
	for i, st := range steps {
		remember, name := g.RememberOnce, "RememberOnce"
		if st.acked {
			remember, name = g.RememberOnceAcked, "RememberOnceAcked"
		}
		if fresh, err := remember(f.ctx, st.key, now, until); err != nil || fresh != st.want {
			t.Fatalf("step %d: %s(%s) = %v, %v; want %v", i+1, name, st.key, fresh, err, st.want)
		}
	}
}
