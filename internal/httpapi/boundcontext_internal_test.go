package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type boundKey struct{}

// observed is what a caller can see of a context.
type observed struct {
	err      error
	cause    error
	done     bool
	deadline time.Time
	hasDL    bool
	value    any
	childErr error // of a context.WithCancel child made before the event
	// Of a context.WithValue child: its Err and Cause.
	valueErr, valueCause error
	// stop of a context.AfterFunc made before the event: false once the
	// event has started the function (synchronously, for a context found
	// as its parent's child).
	afterStop  bool
	noTimeline bool // the WithoutCancel child has no deadline, no error, the value
}

func observe(ctx context.Context, child context.Context) observed {
	o := observed{err: ctx.Err(), value: ctx.Value(boundKey{})}
	o.deadline, o.hasDL = ctx.Deadline()
	select {
	case <-ctx.Done():
		o.done = true
	default:
	}
	o.cause = context.Cause(ctx)
	if child != nil {
		o.childErr = child.Err()
	}
	vc := context.WithValue(ctx, boundKey{}, "w")
	o.valueErr, o.valueCause = vc.Err(), context.Cause(vc)
	wc := context.WithoutCancel(ctx)
	_, wcDL := wc.Deadline()
	o.noTimeline = !wcDL && wc.Err() == nil && wc.Done() == nil && wc.Value(boundKey{}) == "v"
	return o
}

// TestBoundContext: the request's lazily timed context answers as
// context.WithDeadline does, whatever is asked first.
func TestBoundContext(t *testing.T) {
	past := -time.Second
	tests := []struct {
		name   string
		in     time.Duration // deadline from now
		child  bool          // make a WithCancel child before the event
		peek   bool          // call Err before the event (no timer made)
		event  func(parentCancel, cancel context.CancelFunc)
		waitOn bool // wait for Done before observing
	}{
		{name: "fresh", in: time.Hour},
		{name: "fresh, peeked", in: time.Hour, peek: true},
		{name: "fresh, child", in: time.Hour, child: true},
		{name: "deadline passed", in: past},
		{name: "deadline passed, child", in: past, child: true},
		{name: "deadline passes later", in: 30 * time.Millisecond, peek: true, waitOn: true},
		{name: "deadline passes later, child", in: 30 * time.Millisecond, child: true, waitOn: true},
		{name: "canceled", in: time.Hour, event: func(_, cancel context.CancelFunc) { cancel() }},
		{name: "canceled, peeked", in: time.Hour, peek: true, event: func(_, cancel context.CancelFunc) { cancel() }},
		{name: "canceled, child", in: time.Hour, child: true, event: func(_, cancel context.CancelFunc) { cancel() }},
		{name: "canceled twice", in: time.Hour, event: func(_, cancel context.CancelFunc) { cancel(); cancel() }},
		{name: "parent canceled", in: time.Hour, event: func(p, _ context.CancelFunc) { p() }},
		{name: "parent canceled, child", in: time.Hour, child: true, event: func(p, _ context.CancelFunc) { p() }},
		{name: "parent canceled, then canceled", in: time.Hour, peek: true, event: func(p, cancel context.CancelFunc) { p(); cancel() }},
		{name: "canceled after the deadline", in: past, event: func(_, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(lazy bool) observed {
				dl := time.Now().Add(tt.in)
				parent, parentCancel := context.WithCancelCause(context.WithValue(context.Background(), boundKey{}, "v"))
				defer parentCancel(nil)
				pc := func() { parentCancel(errors.New("client gone")) }
				var ctx context.Context
				var cancel context.CancelFunc
				if lazy {
					b := &boundContext{parent: parent, deadline: dl}
					ctx, cancel = b, b.cancel
				} else {
					ctx, cancel = context.WithDeadline(parent, dl)
				}
				defer cancel()
				if tt.peek && ctx.Err() != nil && tt.in > 0 {
					t.Fatalf("lazy=%v: Err before any event = %v", lazy, ctx.Err())
				}
				var child context.Context
				var stopAfter func() bool
				if tt.child {
					var stop context.CancelFunc
					child, stop = context.WithCancel(ctx)
					defer stop()
					stopAfter = context.AfterFunc(ctx, func() {})
				}
				if tt.event != nil {
					tt.event(pc, cancel)
				}
				if tt.waitOn {
					<-ctx.Done()
				}
				o := observe(ctx, child)
				if stopAfter != nil && !tt.waitOn { // after a wait, the timer's goroutine may still be on its way to it
					o.afterStop = stopAfter()
				}
				if o.deadline.Equal(dl) {
					o.deadline = time.Time{} // the runs' deadlines differ; each must be its own
				}
				return o
			}
			want, got := run(false), run(true)
			if got.err != want.err || got.done != want.done || got.deadline != want.deadline || got.hasDL != want.hasDL ||
				got.value != want.value || got.childErr != want.childErr || (got.cause == nil) != (want.cause == nil) ||
				got.cause != nil && got.cause.Error() != want.cause.Error() ||
				got.valueErr != want.valueErr || (got.valueCause == nil) != (want.valueCause == nil) ||
				got.valueCause != nil && got.valueCause.Error() != want.valueCause.Error() ||
				got.afterStop != want.afterStop || got.noTimeline != want.noTimeline || !got.noTimeline {
				t.Errorf("boundContext = %+v; WithDeadline gives %+v", got, want)
			}
		})
	}
}

// TestBoundContext_Concurrent: goroutines of one request asking at once
// share one timer (run with -race).
func TestBoundContext_Concurrent(t *testing.T) {
	b := &boundContext{parent: context.Background(), deadline: time.Now().Add(time.Hour)}
	chans := make([]<-chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range chans {
		wg.Go(func() { chans[i] = b.Done(); _ = b.Err(); _ = b.Value(boundKey{}) })
	}
	wg.Wait()
	for i, c := range chans {
		if c != chans[0] {
			t.Fatalf("Done %d is another channel than Done 0", i)
		}
	}
	b.cancel()
	<-chans[0]
	if err := b.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after cancel = %v; want context.Canceled", err)
	}
}

// TestBoundContext_NoTimerUntilWaited: a request that never waits makes
// no timer (the point of the type).
func TestBoundContext_NoTimerUntilWaited(t *testing.T) {
	b := &boundContext{parent: context.Background(), deadline: time.Now().Add(time.Hour)}
	_, _ = b.Deadline()
	_ = b.Err()
	_ = b.Value(boundKey{})
	if b.timer.Load() != nil {
		t.Fatal("a timer was made without a wait")
	}
	b.cancel()
	if b.timer.Load() != nil {
		t.Fatal("cancel made a timer")
	}
	if err := b.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after cancel = %v; want context.Canceled", err)
	}
}

// TestMiddleware_RequestDeadline: a request's context has the sooner of
// its store-call bound and the deadline it came with, as
// context.WithDeadline gives, whichever of the two contexts the middleware
// picks.
func TestMiddleware_RequestDeadline(t *testing.T) {
	const bound = time.Hour
	tests := []struct {
		name   string
		parent time.Duration // the incoming context's deadline from now; 0: none
		bound  bool          // want the bound, else the parent's deadline
	}{
		{name: "no parent deadline", bound: true},
		{name: "parent's later", parent: 2 * bound, bound: true},
		{name: "parent's sooner", parent: time.Minute},
		{name: "parent's passed", parent: -time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &server{bound: bound, log: slog.New(slog.DiscardHandler)}
			var got time.Time
			var ok bool
			h := s.middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got, ok = r.Context().Deadline()
			}))
			ctx := context.Background()
			var parentDL time.Time
			if tt.parent != 0 {
				parentDL = time.Now().Add(tt.parent)
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, parentDL)
				defer cancel()
			}
			before := time.Now()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, http.MethodGet, "/healthz", nil))
			after := time.Now()
			switch {
			case !ok:
				t.Fatal("no deadline")
			case tt.bound && (got.Before(before.Add(bound)) || got.After(after.Add(bound))):
				t.Errorf("Deadline = %v; want the request's start + %v", got, bound)
			case !tt.bound && !got.Equal(parentDL):
				t.Errorf("Deadline = %v; want the parent's %v", got, parentDL)
			}
		})
	}
}

// TestBoundContext_CancelRace: a cancel racing the first wait is never
// lost: the wait ends and Err is context.Canceled (run with -race; a lost
// cancel hangs the wait until the hour's deadline).
func TestBoundContext_CancelRace(t *testing.T) {
	for range 200 {
		b := &boundContext{parent: context.Background(), deadline: time.Now().Add(time.Hour)}
		var wg sync.WaitGroup
		wg.Go(b.cancel)
		wg.Go(func() { <-b.Done() })
		wg.Go(func() { _ = b.Err() })
		wg.Wait()
		if err := b.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err after cancel = %v; want context.Canceled", err)
		}
	}
}
