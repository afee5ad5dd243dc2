package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/sessiondtest"
)

// downLive fails while down is set: each call then takes d of the
// injected clock (a refusal, a statement timeout, a hang until the
// count's deadline) and fails with err. tries counts the calls.
type downLive struct {
	sessiond.LiveCounter
	clock *sessiondtest.Clock
	d     time.Duration
	err   error
	down  atomic.Bool
	tries atomic.Int32
}

func (f *downLive) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	f.tries.Add(1)
	if f.down.Load() {
		f.clock.Advance(f.d)
		return nil, f.err
	}
	return f.LiveCounter.CountLive(ctx, now)
}

// failures counts what a shared count reports, and keeps the retry times.
type failures struct {
	mu     sync.Mutex
	errs   []error
	retrys []time.Duration
}

func (f *failures) report(err error, retry time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs, f.retrys = append(f.errs, err), append(f.retrys, retry)
}

func (f *failures) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs)
}

// TestSharedCount_FailureBacksOff: a count that fails, quickly or slowly,
// stands as long as a count that took as long would (30 s, ten times its
// time, at most 5 minutes) before the next try, so a scrape every 15 s
// during an outage does not rescan the store back to back; every ask
// meanwhile is served the last good count with its age growing, each
// failure is reported once, and once the store is back the next try after
// the failure counts again.
func TestSharedCount_FailureBacksOff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		d     time.Duration
		err   error
		retry time.Duration
	}{
		{"refused", 0, sessiond.ErrStoreUnavailable, countEvery},
		{"statement timeout", 10 * time.Second, fmt.Errorf("pgstore: count live: %w", sessiond.ErrStoreUnavailable), 100 * time.Second},
		{"hang until the deadline", countTimeout, context.DeadlineExceeded, countRetryMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := sessiondtest.NewClock(liveT0)
			c, st := liveFixture(t, liveT0, 1)
			f := &downLive{LiveCounter: c, clock: clock, d: tc.d, err: tc.err}
			bg := newBackground()
			t.Cleanup(bg.stop)
			l := newLiveCount(f, clock, bg)
			l.wait = time.Minute
			var got failures
			l.failed = got.report
			ctx := context.Background()
			ask := func(when string) {
				t.Helper()
				m, age, err := l.get(ctx)
				if want := clock.Now().Sub(liveT0); err != nil || m[sessiond.StrategyHybrid] != 1 || age != want {
					t.Fatalf("%s: ask = %v, age %v, %v; want the last good count (hybrid 1) aged %v", when, m, age, err, want)
				}
			}
			if _, _, err := l.get(ctx); err != nil {
				t.Fatal(err)
			}
			f.down.Store(true)

			clock.Advance(countEvery)
			ask("first ask past the reuse interval")
			if n := f.tries.Load(); n != 2 {
				t.Fatalf("%d counts; want 2 (the good one, the failed one)", n)
			}
			failedAt := clock.Now()
			clock.Advance(tc.retry - time.Second)
			ask("1 s before the failure's retry")
			if n := f.tries.Load(); n != 2 {
				t.Fatalf("%d counts 1 s before the retry; want still 2", n)
			}
			clock.Advance(time.Second)
			ask("at the retry")
			if n := f.tries.Load(); n != 3 {
				t.Fatalf("%d counts at the failure's retry (%v after it); want 3", n, clock.Now().Sub(failedAt))
			}

			// An hour of scrapes every 15 s: a bounded number of tries.
			start, before := clock.Now(), f.tries.Load()
			for i := range 240 {
				clock.Advance(15 * time.Second)
				ask(fmt.Sprintf("scrape %d of the outage", i))
			}
			tries := f.tries.Load() - before
			if bound := int32(clock.Now().Sub(start)/tc.retry) + 1; tries > bound || tries < bound/2 {
				t.Errorf("%d counts over 240 scrapes in %v of outage; want about one a %v (at most %d)", tries, clock.Now().Sub(start), tc.retry, bound)
			}
			if n := got.count(); n != int(f.tries.Load())-1 {
				t.Errorf("%d failures reported for %d failed counts; want each once", n, f.tries.Load()-1)
			}
			for i, err := range got.errs {
				if !errors.Is(err, tc.err) || got.retrys[i] != tc.retry {
					t.Fatalf("failure %d reported as %v, retry in %v; want %v, %v", i, err, got.retrys[i], tc.err, tc.retry)
				}
			}

			// The store is back: the next try counts, served at once.
			f.down.Store(false)
			addLive(t, st, clock.Now())
			clock.Advance(tc.retry)
			m, age, err := l.get(ctx)
			if err != nil || m[sessiond.StrategyHybrid] != 2 || age != 0 {
				t.Fatalf("ask with the store back = %v, age %v, %v; want a new count: hybrid 2, age 0", m, age, err)
			}
		})
	}
}

// TestSharedCount_FailsBeforeAnyCount: with no good count to serve, each
// ask gets the failure (the gauge is left out), the failure stands before
// the next try as it does after a good count, and is reported once.
func TestSharedCount_FailsBeforeAnyCount(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, _ := liveFixture(t, liveT0, 1)
	f := &downLive{LiveCounter: c, clock: clock, err: sessiond.ErrStoreUnavailable}
	f.down.Store(true)
	bg := newBackground()
	t.Cleanup(bg.stop)
	l := newLiveCount(f, clock, bg)
	var got failures
	l.failed = got.report
	ctx := context.Background()
	for i := range 40 { // 10 minutes of scrapes every 15 s
		if m, _, err := l.get(ctx); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Fatalf("ask %d with the store down since start = %v, %v; want ErrStoreUnavailable", i, m, err)
		}
		clock.Advance(15 * time.Second)
	}
	if n := f.tries.Load(); n != 20 {
		t.Errorf("%d counts in 40 scrapes 15 s apart; want 20 (one a 30 s)", n)
	}
	if n := got.count(); n != int(f.tries.Load()) {
		t.Errorf("%d failures reported for %d failed counts; want each once", n, f.tries.Load())
	}
	f.down.Store(false)
	if m, age, err := l.get(ctx); err != nil || m[sessiond.StrategyHybrid] != 1 || age != 0 {
		t.Fatalf("ask with the store back = %v, age %v, %v; want hybrid 1 counted now", m, age, err)
	}
}

// TestSharedCount_ShutdownIsNoFailure: a count the server's shutdown
// cancels is not reported as a failure of the store.
func TestSharedCount_ShutdownIsNoFailure(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, _ := liveFixture(t, liveT0, 1)
	hold := make(chan struct{})
	c.setHold(hold)
	bg := newBackground()
	l := newLiveCount(c, clock, bg)
	var got failures
	l.failed = got.report
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := l.get(ctx); err == nil {
		t.Fatal("ask that stopped waiting before any count: no error")
	}
	bg.stop() // cancels the held count and waits for it
	if n := got.count(); n != 0 {
		t.Errorf("%d failures reported for a count the shutdown canceled (%v); want none", n, got.errs)
	}
}

// TestSharedCount_OutboxDepth: the webhook outbox's depth is one shared
// count of both states, reused for the interval like the live count.
func TestSharedCount_OutboxDepth(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	ob := &countingOutbox{Outbox: st}
	bg := newBackground()
	t.Cleanup(bg.stop)
	d := newOutboxDepth(ob, clock, bg)
	ctx := context.Background()
	enqueue := func(n int) {
		t.Helper()
		for range n {
			id := sessiond.NewEventID(clock.Now())
			if err := st.EnqueueDeliveries(ctx, sessiond.Delivery{ID: id, Endpoint: "siem", EventID: id, Payload: []byte("{}"),
				State: sessiond.DeliveryPending, NextAttemptAt: clock.Now(), CreatedAt: clock.Now(), UpdatedAt: clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enqueue(2)
	for _, step := range []struct {
		advance     time.Duration
		add         int
		wantCalls   int32 // CountDeliveries calls: two a count
		wantPending int
		wantAge     time.Duration
	}{
		{0, 0, 2, 2, 0},
		{20 * time.Second, 3, 2, 2, 20 * time.Second},
		{10 * time.Second, 0, 4, 5, 0},
	} {
		clock.Advance(step.advance)
		enqueue(step.add)
		m, age, err := d.get(ctx)
		if err != nil || ob.calls.Load() != step.wantCalls || m[sessiond.DeliveryPending] != step.wantPending || m[sessiond.DeliveryDead] != 0 || age != step.wantAge {
			t.Fatalf("at +%v: %v, age %v, %v after %d store calls; want pending %d, dead 0, age %v after %d",
				clock.Now().Sub(liveT0), m, age, err, ob.calls.Load(), step.wantPending, step.wantAge, step.wantCalls)
		}
	}
}

type countingOutbox struct {
	sessiond.Outbox
	calls atomic.Int32
}

func (c *countingOutbox) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	c.calls.Add(1)
	return c.Outbox.CountDeliveries(ctx, state)
}

// downStore is a memstore whose counts for the metrics fail while down is
// set, each call counted.
type downStore struct {
	*memstore.Store
	down         atomic.Bool
	live, outbox atomic.Int32
}

func (s *downStore) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	s.live.Add(1)
	if s.down.Load() {
		return nil, fmt.Errorf("memstore: count live: %w", sessiond.ErrStoreUnavailable)
	}
	return s.Store.CountLive(ctx, now)
}

func (s *downStore) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	s.outbox.Add(1)
	if s.down.Load() {
		return 0, fmt.Errorf("memstore: count deliveries: %w", sessiond.ErrStoreUnavailable)
	}
	return s.Store.CountDeliveries(ctx, state)
}

// TestSharedCount_ScrapesDuringAnOutage: /metrics wired as serve wires it.
// While the store fails, every scrape still has both gauges, the last
// good figures with their age growing (what SessiondLiveCountStale and
// SessiondOutboxDepthStale fire on), the store is asked once per retry
// interval, not once per scrape, and sessiond_store_errors_total counts
// each failed count once.
func TestSharedCount_ScrapesDuringAnOutage(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	st := &downStore{Store: memstore.New()}
	t.Cleanup(func() { st.Close() })
	addLive(t, st, liveT0)
	bg := newBackground()
	t.Cleanup(bg.stop)
	live, depth := newLiveCount(st, clock, bg), newOutboxDepth(st, clock, bg)
	live.wait, depth.wait = time.Minute, time.Minute // each scrape waits for its count
	met, err := metrics.New(metrics.Options{ActiveSessions: reported(live.get), OutboxDepth: reported(depth.get)})
	if err != nil {
		t.Fatal(err)
	}
	events := &fanout{metrics: met, slog: slog.New(slog.DiscardHandler), clock: clock}
	live.failed, depth.failed = events.countFailed("count_sessions"), events.countFailed("count_deliveries")
	scrape := func() map[string]float64 {
		t.Helper()
		rec := httptest.NewRecorder()
		met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		out := map[string]float64{}
		for _, m := range regexp.MustCompile(`(?m)^(sessiond_(?:sessions_active|webhook_outbox_depth|store_errors_total)\S*) (\S+)$`).FindAllSubmatch(b, -1) {
			out[string(m[1])], _ = strconv.ParseFloat(string(m[2]), 64)
		}
		return out
	}
	const (
		liveErrs   = `sessiond_store_errors_total{error="unavailable",op="count_sessions"}`
		outboxErrs = `sessiond_store_errors_total{error="unavailable",op="count_deliveries"}`
	)
	if s := scrape(); s[`sessiond_sessions_active{strategy="hybrid"}`] != 1 || s["sessiond_webhook_outbox_depth_age_seconds"] != 0 {
		t.Fatalf("first scrape: %v", s)
	}
	st.down.Store(true)
	const scrapes = 40 // 10 minutes, every 15 s
	for i := range scrapes {
		clock.Advance(15 * time.Second)
		s := scrape()
		want := clock.Now().Sub(liveT0).Seconds()
		for _, name := range []string{"sessiond_sessions_active_age_seconds", "sessiond_webhook_outbox_depth_age_seconds"} {
			if got, ok := s[name]; !ok || got != want {
				t.Fatalf("scrape %d of the outage: %s = %v (present %v); want %v, the last good count's age", i, name, got, ok, want)
			}
		}
		if got, ok := s[`sessiond_sessions_active{strategy="hybrid"}`]; got != 1 {
			t.Fatalf("scrape %d of the outage: live sessions gauge %v (present %v); want the last good count, 1", i, got, ok)
		}
	}
	s := scrape()
	// The good counts, then one try a 30 s over 10 minutes: a good
	// outbox count makes two calls, a failed one stops at its first.
	if n := st.live.Load(); n != 1+20 {
		t.Errorf("%d live counts for %d scrapes in 10 minutes of outage; want 21, the first and one a 30 s", n, scrapes)
	}
	if n := st.outbox.Load(); n != 2+20 {
		t.Errorf("%d outbox calls for %d scrapes in 10 minutes of outage; want 22, the first count's two and one a 30 s", n, scrapes)
	}
	if got, want := s[liveErrs], float64(st.live.Load()-1); got != want {
		t.Errorf("%s = %v; want %v, one per failed count", liveErrs, got, want)
	}
	if got, want := s[outboxErrs], float64(st.outbox.Load()-2); got != want {
		t.Errorf("%s = %v; want %v, one per failed count", outboxErrs, got, want)
	}
}

// TestFanout_CountFailed: a failed shared count counts as the store error
// it is: a deadline is the store not answering in time, a conflict a
// conflict.
func TestFanout_CountFailed(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{sessiond.ErrStoreUnavailable, `error="unavailable"`},
		{fmt.Errorf("sqlitestore: count live: %w", context.DeadlineExceeded), `error="unavailable"`},
		{fmt.Errorf("pgstore: count live: %w", sessiond.ErrConflict), `error="conflict"`},
		// An error the store does not classify (a table renamed or not
		// readable: pgstore's SQLSTATE 42P01, 42501) fails the count all
		// the same, and ErrReported keeps metrics from counting it.
		{errors.New(`pgstore: count deliveries: relation "deliveries" does not exist (SQLSTATE 42P01)`), `error="unavailable"`},
	} {
		met, err := metrics.New(metrics.Options{})
		if err != nil {
			t.Fatal(err)
		}
		(&fanout{metrics: met, slog: slog.New(slog.DiscardHandler)}).countFailed("count_sessions")(tc.err, countEvery)
		rec := httptest.NewRecorder()
		met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		line := `sessiond_store_errors_total{` + tc.want + `,op="count_sessions"} 1`
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).Match(b) {
			t.Errorf("countFailed(%v): no %s in the scrape", tc.err, line)
		}
	}
}

// TestSharedCount_ClockStepsDuringAnOutage: a failure stands on the
// clock, like a count, so a step either way ends it (the next ask tries
// again, never waits out the step); after a step back the last good count
// is from the clock's future and its age unknown, so when the count meant
// to replace it fails too it is no longer served (as 0 s old for as long
// as the step, out of SessiondLiveCountStale's reach) but left out.
func TestSharedCount_ClockStepsDuringAnOutage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		step     time.Duration
		during   bool // the step comes during the retry's count, at its time
		wantLast bool // served the last good count, aged by the clock
	}{
		{"back an hour", -time.Hour, false, false},
		{"back just past the last count", -2*countEvery - time.Second, false, false},
		{"back an hour during the next count", -time.Hour, true, false},
		{"forward a day", 24 * time.Hour, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := sessiondtest.NewClock(liveT0)
			c, _ := liveFixture(t, liveT0, 1)
			f := &downLive{LiveCounter: c, clock: clock, err: fmt.Errorf("pgstore: count live: %w", sessiond.ErrStoreUnavailable)}
			bg := newBackground()
			t.Cleanup(bg.stop)
			l := newLiveCount(f, clock, bg)
			l.wait = time.Minute
			ctx := context.Background()
			if _, _, err := l.get(ctx); err != nil {
				t.Fatal(err)
			}
			f.down.Store(true)
			clock.Advance(2 * countEvery) // past the reuse, to the failure
			if m, age, err := l.get(ctx); err != nil || m[sessiond.StrategyHybrid] != 1 || age != 2*countEvery {
				t.Fatalf("ask at the failure = %v, age %v, %v; want the last count, 1m0s old", m, age, err)
			}
			if tc.during {
				clock.Advance(countEvery) // to the retry
				f.d = tc.step
			} else {
				clock.Advance(tc.step)
			}
			m, age, err := l.get(ctx)
			if n := f.tries.Load(); n != 3 {
				t.Fatalf("%d counts after the clock stepped %v during the failure; want 3 (a new try)", n, tc.step)
			}
			if tc.wantLast {
				if want := clock.Now().Sub(liveT0); err != nil || m[sessiond.StrategyHybrid] != 1 || age != want {
					t.Fatalf("ask after the step = %v, age %v, %v; want the last count, %v old", m, age, err, want)
				}
				return
			}
			if !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Fatalf("ask after the step = %v, age %v, %v; want the failure (the last count's age is unknown)", m, age, err)
			}
			// Nor once the clock is back past the last count: its age
			// would be short by the step.
			f.d = 0
			clock.Advance(-tc.step + countRetryMax)
			if m, age, err := l.get(ctx); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Fatalf("ask once the clock passed the last count again = %v, age %v, %v; want the failure", m, age, err)
			}
		})
	}
}

// TestSharedCount_ScrapesBeforeAnyCount: /metrics wired as serve wires it,
// the store failing from start: both gauges are left out of every scrape,
// and each failed count is counted once in sessiond_store_errors_total,
// not once more at every scrape that finds it standing.
func TestSharedCount_ScrapesBeforeAnyCount(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	st := &downStore{Store: memstore.New()}
	t.Cleanup(func() { st.Close() })
	st.down.Store(true)
	bg := newBackground()
	t.Cleanup(bg.stop)
	live, depth := newLiveCount(st, clock, bg), newOutboxDepth(st, clock, bg)
	met, err := metrics.New(metrics.Options{ActiveSessions: reported(live.get), OutboxDepth: reported(depth.get)})
	if err != nil {
		t.Fatal(err)
	}
	events := &fanout{metrics: met, slog: slog.New(slog.DiscardHandler), clock: clock}
	live.failed, depth.failed = events.countFailed("count_sessions"), events.countFailed("count_deliveries")
	var body string
	for i := range 40 { // 10 minutes, every 15 s
		rec := httptest.NewRecorder()
		met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body = rec.Body.String()
		if m := regexp.MustCompile(`(?m)^sessiond_(sessions_active|webhook_outbox_depth)\S*`).FindString(body); m != "" {
			t.Fatalf("scrape %d: %s present; want it left out, nothing counted yet", i, m)
		}
		clock.Advance(15 * time.Second)
	}
	for op, calls := range map[string]int32{"count_sessions": st.live.Load(), "count_deliveries": st.outbox.Load()} {
		line := `sessiond_store_errors_total{error="unavailable",op="` + op + `"} ` + strconv.Itoa(int(calls))
		if calls != 20 || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(line)+`$`).MatchString(body) {
			t.Errorf("%d failed counts of %s; want 20 (one a 30 s), and %s in the last scrape", calls, op, line)
		}
	}
}

// TestSharedCount_View: what the console shows of a shared count: the
// counts with the time they were counted at (not the time asked), and,
// while a failed count stands, the time it failed, with the last good
// counts or, before any, none and the failure.
func TestSharedCount_View(t *testing.T) {
	clock := sessiondtest.NewClock(liveT0)
	c, _ := liveFixture(t, liveT0, 1)
	f := &downLive{LiveCounter: c, clock: clock, err: sessiond.ErrStoreUnavailable}
	bg := newBackground()
	t.Cleanup(bg.stop)
	l := newLiveCount(f, clock, bg)
	ctx := context.Background()

	f.down.Store(true)
	v, err := l.view(ctx)
	if !errors.Is(err, sessiond.ErrStoreUnavailable) || v.counts != nil || !v.at.IsZero() || !v.failedAt.Equal(liveT0) {
		t.Fatalf("view failing before any count = %+v, %v; want no counts, failed at %v, ErrStoreUnavailable", v, err, liveT0)
	}
	f.down.Store(false)
	clock.Advance(countEvery)
	counted := clock.Now()
	if v, err := l.view(ctx); err != nil || v.counts[sessiond.StrategyHybrid] != 1 || !v.at.Equal(counted) || !v.failedAt.IsZero() {
		t.Fatalf("view once the store is back = %+v, %v; want hybrid 1 counted at %v, no failure", v, err, counted)
	}
	clock.Advance(10 * time.Second)
	if v, err := l.view(ctx); err != nil || !v.at.Equal(counted) || !v.failedAt.IsZero() {
		t.Fatalf("view of the reused count = %+v, %v; want it counted at %v", v, err, counted)
	}
	f.down.Store(true)
	clock.Advance(countEvery)
	failed := clock.Now()
	for i := range 2 { // the failure stands: the second view is served without a count
		if v, err := l.view(ctx); err != nil || v.counts[sessiond.StrategyHybrid] != 1 || !v.at.Equal(counted) || !v.failedAt.Equal(failed) {
			t.Fatalf("view %d after a failed count = %+v, %v; want hybrid 1 counted at %v, failed at %v", i, v, err, counted, failed)
		}
		clock.Advance(time.Second)
	}
	if n := f.tries.Load(); n != 3 {
		t.Errorf("%d counts; want 3 (failed, good, failed)", n)
	}
}
