package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// gatedLog is an event log whose reads can be held: while gate is set,
// every QueryEvents waits for it to close. It counts the reads.
type gatedLog struct {
	sessiond.EventLog
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{} // receives once per held read, when it starts
	queries atomic.Int64
}

func (l *gatedLog) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	l.queries.Add(1)
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		l.entered <- struct{}{}
		<-gate
	}
	return l.EventLog.QueryEvents(ctx, q)
}

// began waits for a held read to start.
func (l *gatedLog) began(t *testing.T) {
	t.Helper()
	select {
	case <-l.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no read of the log began")
	}
}

func (l *gatedLog) hold() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gate = make(chan struct{})
	return l.gate
}

func (l *gatedLog) release(gate chan struct{}) {
	l.mu.Lock()
	l.gate = nil
	l.mu.Unlock()
	close(gate)
}

func revokedEvent(t *testing.T, at time.Time) sessiond.Event {
	t.Helper()
	return sessiond.Event{ID: sessiond.NewEventID(at), Type: sessiond.EventSessionRevoked, Time: at, Subject: "s",
		SessionID: sessiond.NewSessionID()}
}

func liveFrom(at time.Time) map[sessiond.EventType]time.Time {
	m := map[sessiond.EventType]time.Time{}
	for _, typ := range streamTypes {
		m[typ] = at
	}
	return m
}

// TestLogWindow_FreshRead: a stream asking while a shared read is under
// way gets a read that began after it asked, so it sees an event written
// between the two. Sharing the read already under way would lose it: that
// read may have passed the event's place in the log.
func TestLogWindow_FreshRead(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	log := &gatedLog{EventLog: memstore.New(), entered: make(chan struct{}, 16)}
	rs := &RevocationStream{Log: log, Now: func() time.Time { return now }}
	w := rs.window()

	gate := log.hold()
	first := make(chan []sessiond.Event, 1)
	go func() {
		evs, _, err := w.read(ctx, liveFrom(now.Add(-5*time.Second)))
		if err != nil {
			t.Error(err)
		}
		first <- evs
	}()
	log.began(t) // the first read is under way, before the event
	e := revokedEvent(t, now.Add(-time.Second))
	if err := log.AppendEvents(ctx, e); err != nil {
		t.Fatal(err)
	}
	second := make(chan []sessiond.Event, 1)
	go func() {
		evs, ok, err := w.read(ctx, liveFrom(now.Add(-5*time.Second)))
		if err != nil || !ok {
			t.Errorf("second read: ok %v, %v", ok, err)
		}
		second <- evs
	}()
	for {
		w.mu.Lock()
		waiting := w.waiting
		w.mu.Unlock()
		if waiting == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	log.release(gate)
	<-first
	got := <-second
	if len(got) != 1 || got[0].ID != e.ID {
		t.Fatalf("the stream that asked after the event was written got %v; want it", got)
	}
}

// TestLogWindow_SharedByWaiters: streams that ask while a read runs share
// one read after it, whatever their number, and each gets every event of
// its window (and none before it).
func TestLogWindow_SharedByWaiters(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	log := &gatedLog{EventLog: memstore.New(), entered: make(chan struct{}, 64)}
	old := revokedEvent(t, now.Add(-8*time.Second))
	recent := revokedEvent(t, now.Add(-2*time.Second))
	if err := log.AppendEvents(ctx, old, recent); err != nil {
		t.Fatal(err)
	}
	rs := &RevocationStream{Log: log, Now: func() time.Time { return now }}
	w := rs.window()

	gate := log.hold()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the leader, holding the first read
		defer wg.Done()
		if _, _, err := w.read(ctx, liveFrom(now.Add(-9*time.Second))); err != nil {
			t.Error(err)
		}
	}()
	log.began(t)
	const streams = 50
	results := make([][]sessiond.Event, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := now.Add(-9 * time.Second)
			if i%2 == 1 {
				from = now.Add(-5 * time.Second) // only the recent event
			}
			evs, ok, err := w.read(ctx, liveFrom(from))
			if err != nil || !ok {
				t.Errorf("stream %d: ok %v, %v", i, ok, err)
			}
			results[i] = evs
		}()
	}
	for {
		w.mu.Lock()
		waiting := w.waiting
		w.mu.Unlock()
		if waiting == streams {
			break
		}
		time.Sleep(time.Millisecond)
	}
	before := log.queries.Load()
	log.release(gate)
	wg.Wait()
	// The leader's read, then one read for all the waiters: a query per
	// event type each.
	if reads := (log.queries.Load() - before) / int64(len(streamTypes)); reads > 1 {
		t.Errorf("%d streams waiting made %d reads after the one under way; want 1", streams, reads)
	}
	for i, evs := range results {
		want := []string{old.ID, recent.ID}
		if i%2 == 1 {
			want = want[1:]
		}
		if len(evs) != len(want) {
			t.Errorf("stream %d got %d events; want %d", i, len(evs), len(want))
			continue
		}
		for j := range want {
			if evs[j].ID != want[j] {
				t.Errorf("stream %d event %d = %s; want %s", i, j, evs[j].ID, want[j])
			}
		}
	}
}

// TestLogWindow_OlderCursorReadsItsOwn: a window starting before what a
// shared read covers is not served from it.
func TestLogWindow_OlderCursorReadsItsOwn(t *testing.T) {
	now := time.Now()
	log := &gatedLog{EventLog: memstore.New()}
	rs := &RevocationStream{Log: log, Now: func() time.Time { return now }}
	_, ok, err := rs.window().read(context.Background(), liveFrom(now.Add(-time.Hour)))
	if err != nil || ok {
		t.Fatalf("read from an hour back: ok %v, %v; want not served", ok, err)
	}
	if n := log.queries.Load(); n != 0 {
		t.Errorf("the refused shared read queried the log %d times", n)
	}
}

// panickyLog panics on its first read, as a store driver with a bug
// might; the server recovers that for the one request.
type panickyLog struct {
	sessiond.EventLog
	panicked atomic.Bool
}

func (l *panickyLog) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	if l.panicked.CompareAndSwap(false, true) {
		panic("store bug")
	}
	return l.EventLog.QueryEvents(ctx, q)
}

// TestLogWindow_PanicEndsTheRead: a read whose store panics does not
// stay under way: the next stream leads a read of its own instead of
// waiting for one that will never end.
func TestLogWindow_PanicEndsTheRead(t *testing.T) {
	now := time.Now()
	log := &panickyLog{EventLog: memstore.New()}
	rs := &RevocationStream{Log: log, Now: func() time.Time { return now }}
	w := rs.window()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the store's panic did not reach the stream")
			}
		}()
		_, _, _ = w.read(context.Background(), liveFrom(now.Add(-5*time.Second)))
	}()
	// Bounded only so that the failure is a message, not a hung test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, ok, err := w.read(ctx, liveFrom(now.Add(-5*time.Second))); err != nil || !ok {
		t.Fatalf("read after a panicked one: ok %v, %v; want a read of its own", ok, err)
	}
}

// TestUntilAligned: every stream's poll falls on the same instants, the
// multiples of the interval, so the polls of a node's streams meet and
// share a read.
func TestUntilAligned(t *testing.T) {
	for _, c := range []struct {
		now   time.Time
		every time.Duration
		want  time.Duration
	}{
		{time.Unix(100, 250_000_000), time.Second, 750 * time.Millisecond},
		{time.Unix(100, 0), time.Second, time.Second}, // on the instant: the next one
		{time.Unix(100, 999_999_999), time.Second, time.Nanosecond},
		{time.Unix(100, 30_000_000), 20 * time.Millisecond, 10 * time.Millisecond},
	} {
		got := untilAligned(c.now, c.every)
		if got != c.want {
			t.Errorf("untilAligned(%v, %v) = %v; want %v", c.now.UnixNano(), c.every, got, c.want)
		}
		if next := c.now.Add(got); next.UnixNano()%int64(c.every) != 0 {
			t.Errorf("untilAligned(%v, %v) lands on %v, not a multiple", c.now.UnixNano(), c.every, next.UnixNano())
		}
	}
}
