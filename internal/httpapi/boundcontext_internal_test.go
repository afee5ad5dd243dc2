package httpapi

import (
	"context"
	"errors"
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
				if tt.child {
					var stop context.CancelFunc
					child, stop = context.WithCancel(ctx)
					defer stop()
				}
				if tt.event != nil {
					tt.event(pc, cancel)
				}
				if tt.waitOn {
					<-ctx.Done()
				}
				o := observe(ctx, child)
				if o.deadline.Equal(dl) {
					o.deadline = time.Time{} // the runs' deadlines differ; each must be its own
				}
				return o
			}
			want, got := run(false), run(true)
			if got.err != want.err || got.done != want.done || got.deadline != want.deadline || got.hasDL != want.hasDL ||
				got.value != want.value || got.childErr != want.childErr || (got.cause == nil) != (want.cause == nil) ||
				got.cause != nil && got.cause.Error() != want.cause.Error() {
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
