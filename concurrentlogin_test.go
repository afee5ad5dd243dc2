package sessiond_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

var (
	desktop = sessiond.Client{IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}
	phone   = sessiond.Client{IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Mobile Safari/604.1"}
)

// concurrentEvents returns subject's concurrent-login events once every
// login made so far through m, a node of h (h.m, or one of h.node), has
// been checked: m's checks are judged in login order, so when a later
// login of another subject through m has its event, every earlier check
// is done. The barrier subject is new at each call: waiting for any one
// more event instead, a call could take a previous call's barrier event,
// still on its way, for its own and return before the checks it waits
// for are done.
func concurrentEvents(t *testing.T, h *harness, m *sessiond.Manager, subject string) []sessiond.Event {
	t.Helper()
	barrier := "barrier-" + rand.Text()
	for range 2 {
		h.clock.Advance(time.Millisecond)
		if _, err := m.Create(context.Background(), barrier, sessiond.CreateOptions{Client: desktop}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := testenv.BeforeDeadline(t) // the checks take as long as the machine is slow
	defer cancel()
	isBarrier := func(e sessiond.Event) bool { return e.Subject == barrier }
	for n := 1; ; {
		got, err := h.events.Await(ctx, sessiond.EventConcurrentLogin, n)
		if err != nil {
			t.Fatalf("the barrier login's check: %v", err)
		}
		if slices.ContainsFunc(got, isBarrier) {
			break
		}
		n = len(got) + 1
	}
	var out []sessiond.Event
	for _, e := range h.events.OfType(sessiond.EventConcurrentLogin) {
		if e.Subject == subject {
			out = append(out, e)
		}
	}
	return out
}

func TestManager_ConcurrentLogin(t *testing.T) {
	ctx := context.Background()
	login := func(c sessiond.Client) func(*testing.T, *harness) {
		return func(t *testing.T, h *harness) { h.create(t, "ann", sessiond.CreateOptions{Client: c}) }
	}
	tests := []struct {
		name      string
		before    func(*testing.T, *harness) // ann's earlier sessions
		client    sessiond.Client            // ann's login under test
		want      bool
		newDevice bool
	}{
		{name: "first login", client: desktop},
		{name: "a second device", before: login(desktop), client: phone, want: true, newDevice: true},
		{name: "the same device again", before: login(desktop), client: desktop, want: true},
		{name: "the other session logged out", before: func(t *testing.T, h *harness) {
			iss := h.create(t, "ann", sessiond.CreateOptions{Client: desktop})
			if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
		}, client: phone},
		{name: "the other session timed out", before: func(t *testing.T, h *harness) {
			login(desktop)(t, h)
			life := h.m.Lifetimes() // a token strategy's idle end is after its access token's
			h.clock.Advance(life.Access + life.Idle + time.Second)
		}, client: phone},
		{name: "the other session ended by the kill switch", before: func(t *testing.T, h *harness) {
			login(desktop)(t, h)
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(2 * time.Second)
		}, client: phone},
		{name: "another subject's session", before: func(t *testing.T, h *harness) {
			h.create(t, "bob", sessiond.CreateOptions{Client: desktop})
		}, client: phone},
	}
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, tt := range tests {
			t.Run(string(st)+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				if tt.before != nil {
					tt.before(t, h)
				}
				h.clock.Advance(time.Millisecond)
				iss := h.create(t, "ann", sessiond.CreateOptions{Client: tt.client})
				got := concurrentEvents(t, h, h.m, "ann")
				if !tt.want {
					if len(got) != 0 {
						t.Fatalf("events %+v, want none", got)
					}
					return
				}
				if len(got) != 1 {
					t.Fatalf("%d events, want 1: %+v", len(got), got)
				}
				e := got[0]
				if e.SessionID != iss.Session.ID || e.Client != tt.client {
					t.Errorf("event for session %s, client %+v; want the new session %s, client %+v", e.SessionID, e.Client, iss.Session.ID, tt.client)
				}
				if e.Details["live_sessions"] != 2 || e.Details["new_device"] != tt.newDevice {
					t.Errorf("details %v, want live_sessions 2, new_device %v", e.Details, tt.newDevice)
				}
				list, err := h.m.List(ctx, "ann")
				if err != nil || len(list) != 2 {
					t.Errorf("List: %d sessions, %v; want both", len(list), err)
				}
			})
		}
	}
}

// One event a subject a minute: a burst of logins is one alert.
func TestManager_ConcurrentLoginThrottled(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	for range 3 {
		h.clock.Advance(time.Millisecond)
		h.create(t, "ann", sessiond.CreateOptions{Client: desktop})
	}
	if got := concurrentEvents(t, h, h.m, "ann"); len(got) != 1 {
		t.Fatalf("%d events after three logins in a minute, want 1", len(got))
	}
	h.clock.Advance(time.Minute)
	h.create(t, "ann", sessiond.CreateOptions{Client: phone})
	got := concurrentEvents(t, h, h.m, "ann")
	if len(got) != 2 {
		t.Fatalf("%d events a minute later, want 2", len(got))
	}
	if d := got[1].Details; d["live_sessions"] != 4 || d["new_device"] != true {
		t.Errorf("details %v, want live_sessions 4, new_device true", d)
	}
}

// heldReads is a store whose reads of a subject (List, ListPage) each wait
// until the test releases them with the error to return: a store far
// away, or a failing one. They wait out their ctx too (a read of a store
// that hangs), so that the check's own timeout cannot end them while a
// slow test is still logging in; the test's end ends them.
type heldReads struct {
	*memstore.Store
	arrived  chan heldRead
	inFlight *atomic.Int32
	stop     chan struct{}
}

type heldRead struct {
	subject  string
	inFlight int32 // reads waiting when this one arrived, itself included
	release  chan error
}

// heldNode returns a node of h on a heldReads store, its events recorded
// by events.
func heldNode(t *testing.T, h *harness, events sessiond.EventSink) (heldReads, *sessiond.Manager) {
	st := heldReads{Store: memstore.New(), arrived: make(chan heldRead, 4096), inFlight: new(atomic.Int32), stop: make(chan struct{})}
	m := h.node(t, st, func(o *sessiond.Options) { o.Events = events })
	// Registered after the node's Close, so run before it: Close waits
	// for the reads.
	t.Cleanup(func() { close(st.stop) })
	return st, m
}

func (h heldReads) wait(subject string) error {
	r := heldRead{subject: subject, inFlight: h.inFlight.Add(1), release: make(chan error, 1)}
	// Counted out before the Manager sees the answer.
	defer h.inFlight.Add(-1)
	h.arrived <- r
	select {
	case err := <-r.release:
		return err
	case <-h.stop:
		return sessiond.ErrStoreUnavailable
	}
}

func (h heldReads) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	if err := h.wait(subject); err != nil {
		return nil, err
	}
	return h.Store.List(ctx, subject, now)
}

func (h heldReads) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	if err := h.wait(q.Subject); err != nil {
		return sessiond.Page{}, err
	}
	return h.Store.ListPage(ctx, q)
}

// next returns the next n reads to arrive, failing the test when they do
// not all arrive while the earlier ones are held.
func (h heldReads) next(t *testing.T, n int) []heldRead {
	t.Helper()
	timeout := time.After(10 * time.Second)
	var out []heldRead
	for len(out) < n {
		select {
		case r := <-h.arrived:
			out = append(out, r)
		case <-timeout:
			t.Fatalf("%d reads arrived while held, want %d", len(out), n)
		}
	}
	return out
}

// releaseAll answers every read from now on, until the test ends; seen,
// when not nil, is shown each read before its answer.
func (h heldReads) releaseAll(t *testing.T, seen func(heldRead)) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case r := <-h.arrived:
				if seen != nil {
					seen(r)
				}
				r.release <- nil
			case <-done:
				return
			}
		}
	}()
}

// A store a network away answers each check's read a round trip later: the
// checks' reads overlap (ConcurrentInFlight at once), so that a far store
// keeps up with the checks' rate, and the events still follow the logins'
// order.
func TestManager_ConcurrentLoginFarStore(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	st, m := heldNode(t, h, h.events)
	n := sessiond.ConcurrentInFlight
	subjects := make([]string, n)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("user%d", i)
	}
	// Each subject logs in twice; the second login finds the first.
	for range 2 {
		for _, sub := range subjects {
			h.clock.Advance(time.Millisecond)
			if _, err := m.Create(context.Background(), sub, sessiond.CreateOptions{Client: desktop}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 2 {
		reads := st.next(t, n)
		// The last of them to arrive found them all waiting.
		most := int32(0)
		for _, r := range reads {
			most = max(most, r.inFlight)
		}
		if most != int32(n) {
			t.Errorf("round %d: at most %d reads in flight, want %d", round, most, n)
		}
		// Answered newest first: the events must still come in login order.
		for i := n - 1; i >= 0; i-- {
			reads[i].release <- nil
		}
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	got, err := h.events.Await(ctx, sessiond.EventConcurrentLogin, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.Subject != subjects[i] {
			t.Errorf("event %d for %s, want %s (login order)", i, e.Subject, subjects[i])
		}
	}
	if s := m.Stats().ConcurrentChecksSkipped; s != 0 {
		t.Errorf("%d checks skipped, want 0", s)
	}
}

// A failing store gets one check's read at a time, not ConcurrentInFlight:
// checks it cannot answer wait in the queue and past it are skipped.
func TestManager_ConcurrentLoginFailingStore(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	st, m := heldNode(t, h, h.events)
	n := sessiond.ConcurrentInFlight
	for i := range 2 * n {
		h.clock.Advance(time.Millisecond)
		if _, err := m.Create(context.Background(), fmt.Sprintf("user%d", i), sessiond.CreateOptions{Client: desktop}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range st.next(t, n) {
		r.release <- sessiond.ErrStoreUnavailable
	}
	for i := range n {
		r := st.next(t, 1)[0]
		if r.inFlight != 1 {
			t.Errorf("read %d after the store failed: %d in flight, want 1", i, r.inFlight)
		}
		r.release <- sessiond.ErrStoreUnavailable
	}
}

// A store that failed gets ConcurrentInFlight reads again from its first
// answer: one read at a time is for a failing store, not for good.
func TestManager_ConcurrentLoginStoreRecovers(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	st, m := heldNode(t, h, h.events)
	n := sessiond.ConcurrentInFlight
	for i := range 2*n + 1 {
		h.clock.Advance(time.Millisecond)
		if _, err := m.Create(context.Background(), fmt.Sprintf("user%d", i), sessiond.CreateOptions{Client: desktop}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range st.next(t, n) {
		r.release <- sessiond.ErrStoreUnavailable
	}
	// The store answers again.
	st.next(t, 1)[0].release <- nil
	reads := st.next(t, n)
	most := int32(0)
	for _, r := range reads {
		most = max(most, r.inFlight)
	}
	if most != int32(n) {
		t.Errorf("after the store answered again: at most %d reads in flight, want %d", most, n)
	}
	for _, r := range reads {
		r.release <- nil
	}
}

// A login never waits for its check: over the rate, or with the queue
// full behind a slow store, checks are skipped and counted.
func TestManager_ConcurrentLoginSkipped(t *testing.T) {
	tests := []struct {
		name      string
		logins    int
		perSecond int // logins between clock steps of a second
		skipped   int64
	}{
		// 100 checks a second: the rest of that second's logins are skipped.
		{"over the rate", 150, 150, 50},
		// Within the rate, behind the reads in flight, the queue (1,024)
		// holds all but six.
		{"queue full", 1024 + 6, 100, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, nil)
			st, m := heldNode(t, h, h.events)
			login := func(subject string) {
				if _, err := m.Create(context.Background(), subject, sessiond.CreateOptions{Client: desktop}); err != nil {
					t.Fatalf("login of %s: %v", subject, err)
				}
			}
			// Ann's checks hold as many reads as the checker may, so the
			// queue alone is left for the logins below.
			for range sessiond.ConcurrentInFlight {
				login("ann")
			}
			held := st.next(t, sessiond.ConcurrentInFlight)
			h.clock.Advance(time.Second)
			for i := range tt.logins {
				if i > 0 && i%tt.perSecond == 0 {
					h.clock.Advance(time.Second)
				}
				login(fmt.Sprintf("user%d", i))
			}
			if n := m.Stats().ConcurrentChecksSkipped; n != tt.skipped {
				t.Errorf("%d checks skipped, want %d", n, tt.skipped)
			}
			for _, r := range held {
				r.release <- nil
			}
			st.releaseAll(t, nil)
			ctx, cancel := testenv.BeforeDeadline(t)
			defer cancel()
			got, err := h.events.Await(ctx, sessiond.EventConcurrentLogin, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Subject != "ann" {
				t.Errorf("event %+v, want ann's", got[0])
			}
		})
	}
}

// A check whose login is older than ConcurrentStale when its turn comes is
// dropped and counted as skipped: an alert long after its login (a store
// that hung, then answered) is not sent late. Whether its read outlived
// the bound or it waited in the queue behind others, it is not judged;
// in the queue it is not even read.
func TestManager_ConcurrentLoginStale(t *testing.T) {
	tests := []struct {
		name   string
		queued bool // ann's checks wait in the queue behind reads held for others
	}{
		{name: "read outlived the bound"},
		{name: "waited in the queue past the bound", queued: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, nil)
			st, m := heldNode(t, h, h.events)
			login := func(subject string) {
				h.clock.Advance(time.Millisecond)
				if _, err := m.Create(context.Background(), subject, sessiond.CreateOptions{Client: desktop}); err != nil {
					t.Fatalf("login of %s: %v", subject, err)
				}
			}
			var held []heldRead
			if tt.queued {
				for i := range sessiond.ConcurrentInFlight {
					login(fmt.Sprintf("user%d", i))
				}
				held = st.next(t, sessiond.ConcurrentInFlight)
			}
			login("ann")
			login("ann")
			if !tt.queued {
				held = st.next(t, 2)
			}
			h.clock.Advance(sessiond.ConcurrentStale + time.Second)
			var read atomic.Int32 // ann's reads answered from now on
			st.releaseAll(t, func(r heldRead) {
				if r.subject == "ann" {
					read.Add(1)
				}
			})
			for _, r := range held {
				r.release <- nil
			}
			if got := concurrentEvents(t, h, m, "ann"); len(got) != 0 {
				t.Errorf("events %+v for logins %v old, want none", got, sessiond.ConcurrentStale+time.Second)
			}
			want := int64(2)
			if tt.queued {
				want += sessiond.ConcurrentInFlight // the held reads of user0…
			}
			if n := m.Stats().ConcurrentChecksSkipped; n != want {
				t.Errorf("%d checks skipped, want %d", n, want)
			}
			if tt.queued && read.Load() != 0 {
				t.Errorf("%d reads of ann's sessions, want none: a stale check is dropped unread", read.Load())
			}
		})
	}
}

// batchSink is an EventSink that records runs of events in one call
// (RecordBatch); its first call with a concurrent-login event waits for
// the test, and it keeps only those events.
type batchSink struct {
	first   chan struct{} // closed by the test: the first call returns
	arrived chan struct{} // the first call arrived
	calls   chan []sessiond.Event
	once    atomic.Bool
}

func (s *batchSink) Record(ctx context.Context, e sessiond.Event) error {
	return s.RecordBatch(ctx, []sessiond.Event{e})
}

func (s *batchSink) RecordBatch(ctx context.Context, events []sessiond.Event) error {
	// The logins' own events (session.created) are not the checker's.
	events = slices.DeleteFunc(slices.Clone(events), func(e sessiond.Event) bool { return e.Type != sessiond.EventConcurrentLogin })
	if len(events) == 0 {
		return nil
	}
	if s.once.CompareAndSwap(false, true) {
		close(s.arrived)
		<-s.first
	}
	s.calls <- events
	return nil
}

// judgedLog counts the concurrent-login events the Manager logs: it logs
// each as it judges it, before its record.
type judgedLog struct{ judged chan string }

func (l judgedLog) Enabled(context.Context, slog.Level) bool { return true }
func (l judgedLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "event" {
		return nil
	}
	var typ, subject string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "type":
			typ = a.Value.String()
		case "subject":
			subject = a.Value.String()
		}
		return true
	})
	if typ == string(sessiond.EventConcurrentLogin) {
		l.judged <- subject
	}
	return nil
}
func (l judgedLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l judgedLog) WithGroup(string) slog.Handler      { return l }

// holdFirstRecord is the set-up of the tests of runs: a hybrid harness
// whose events go to sink and whose log reports each concurrent-login
// event as it is judged (on judged, by subject). user0 logs in twice;
// once sink's first concurrent-login record has arrived (closing arrived)
// and is held (until first is closed), user1…user5, the subjects
// returned, log in twice each. release closes first; it runs at the
// test's end too, before the Manager's Close, which waits for the record
// in progress.
func holdFirstRecord(t *testing.T, sink sessiond.EventSink, first, arrived chan struct{}) (h *harness, judged <-chan string, subjects []string, release func()) {
	t.Helper()
	log := judgedLog{judged: make(chan string, 64)}
	h = newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.Events = sink
		o.Logger = slog.New(log)
	})
	release = sync.OnceFunc(func() { close(first) })
	t.Cleanup(release)
	login := func(subject string) {
		h.clock.Advance(time.Millisecond)
		h.create(t, subject, sessiond.CreateOptions{Client: desktop})
	}
	login("user0")
	login("user0")
	waitFor(t, "the first record", arrived)
	subjects = []string{"user1", "user2", "user3", "user4", "user5"}
	for _, sub := range subjects {
		login(sub)
		login(sub)
	}
	return h, log.judged, subjects, release
}

// waitFor fails the test unless c yields (or is closed) within ten seconds.
func waitFor(t *testing.T, what string, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// While a record is in progress the checker goes on judging: the events
// judged meanwhile are recorded together, in login order, in one call of
// a sink that can (one store write for the run, not one each).
func TestManager_ConcurrentLoginBatched(t *testing.T) {
	sink := &batchSink{first: make(chan struct{}), arrived: make(chan struct{}), calls: make(chan []sessiond.Event, 64)}
	_, judged, subjects, release := holdFirstRecord(t, sink, sink.first, sink.arrived)
	// user0's event, then the others judged while its record waits.
	for _, want := range append([]string{"user0"}, subjects...) {
		select {
		case got := <-judged:
			if got != want {
				t.Fatalf("judged %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s's event not judged while a record was in progress", want)
		}
	}
	release()
	var calls [][]sessiond.Event
	for n := 0; n < 1+len(subjects); {
		select {
		case c := <-sink.calls:
			calls = append(calls, c)
			n += len(c)
		case <-time.After(10 * time.Second):
			t.Fatalf("records: %d calls so far", len(calls))
		}
	}
	if len(calls) != 2 || len(calls[1]) != len(subjects) {
		t.Fatalf("%d record calls of %v events, want 2: user0's, then the %d judged meanwhile in one", len(calls), lens(calls), len(subjects))
	}
	for i, e := range calls[1] {
		if e.Subject != subjects[i] {
			t.Errorf("batch event %d for %s, want %s (login order)", i, e.Subject, subjects[i])
		}
	}
}

func lens(calls [][]sessiond.Event) []int {
	out := make([]int, len(calls))
	for i, c := range calls {
		out[i] = len(c)
	}
	return out
}

// The log is read in ID order, and IDs of one microsecond sort at random:
// alerts judged within one microsecond (here the clock stands still while
// the held reads are answered) must still have their IDs in login order,
// so the log shows them as they were judged.
func TestManager_ConcurrentLoginRunIDsInOrder(t *testing.T) {
	sink := &batchSink{first: make(chan struct{}), arrived: make(chan struct{}), calls: make(chan []sessiond.Event, 64)}
	close(sink.first)
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	st, m := heldNode(t, h, sink)
	var subjects []string
	for i := range 8 {
		sub := fmt.Sprintf("user%d", i)
		subjects = append(subjects, sub)
		for range 2 {
			h.clock.Advance(time.Millisecond)
			if _, err := m.Create(context.Background(), sub, sessiond.CreateOptions{Client: desktop}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The clock stands still from here: every check is judged at one time.
	st.releaseAll(t, nil)
	var got []sessiond.Event
	for len(got) < len(subjects) {
		select {
		case c := <-sink.calls:
			got = append(got, c...)
		case <-time.After(10 * time.Second):
			t.Fatalf("records: %d events so far, want %d", len(got), len(subjects))
		}
	}
	for i, e := range got {
		if e.Subject != subjects[i] {
			t.Fatalf("event %d for %s, want %s (login order)", i, e.Subject, subjects[i])
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Errorf("event %d (%s) ID %s sorts before or at event %d's %s: the log would show them out of login order", i, e.Subject, e.ID, i-1, got[i-1].ID)
		}
	}
}

// closeSink is an EventSink without RecordBatch whose writes do not stop
// for their context's end (a file, a socket written without deadline):
// its first concurrent-login record waits for first, the others for their
// context's end, as long as such a write would take.
type closeSink struct {
	first   chan struct{} // closed by the test: the first call returns
	arrived chan struct{} // the first call arrived
	entered chan struct{} // a later call arrived
	calls   atomic.Int32
}

func (s *closeSink) Record(ctx context.Context, e sessiond.Event) error {
	if e.Type != sessiond.EventConcurrentLogin {
		return nil
	}
	if s.calls.Add(1) == 1 {
		close(s.arrived)
		<-s.first
		return nil
	}
	s.entered <- struct{}{}
	<-ctx.Done()
	return nil
}

// Close ends the run under way on a sink without RecordBatch: the events
// of the run are recorded one Record each, and none is started once Close
// has ended the loop's context. Each would be a write of its own after the
// stop (64 at most: as long again for each), where the record of one
// event at a time, before runs, held Close for one write at most.
func TestManager_ConcurrentLoginRunEndsAtClose(t *testing.T) {
	sink := &closeSink{first: make(chan struct{}), arrived: make(chan struct{}), entered: make(chan struct{}, 64)}
	h, judged, subjects, release := holdFirstRecord(t, sink, sink.first, sink.arrived)
	for range 1 + len(subjects) {
		select {
		case <-judged:
		case <-time.After(10 * time.Second):
			t.Fatal("events not judged while a record was in progress")
		}
	}
	release()
	waitFor(t, "the run's first record", sink.entered)
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := sink.calls.Load(); n != 2 {
		t.Errorf("Record called %d times by the time Close returned; want 2 (user0's, and the run's first, under way at Close)", n)
	}
}
