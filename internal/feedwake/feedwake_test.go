package feedwake

import (
	"context"
	"testing"
	"time"
)

func TestWaker(t *testing.T) {
	var w Waker
	w.Answered() // no feed waits: nothing to do, nothing blocks

	a, stopA := w.Watch()
	b, stopB := w.Watch()
	w.Answered()
	w.Answered() // merges with the wake still pending
	for name, c := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-c:
		default:
			t.Fatalf("feed %s not woken by Answered", name)
		}
		select {
		case <-c:
			t.Fatalf("feed %s woken twice by two Answered it had not received yet; want once", name)
		default:
		}
	}

	stopA()
	stopA() // harmless
	w.Answered()
	select {
	case <-a:
		t.Error("a stopped feed was woken")
	default:
	}
	select {
	case <-b:
	default:
		t.Error("feed b not woken after a stopped")
	}
	stopB()
	if n := w.waiting.Load(); n != 0 {
		t.Errorf("waiting = %d after every feed stopped; want 0", n)
	}
}

func TestWait(t *testing.T) {
	const forever = time.Hour
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name      string
		ctx       context.Context
		woken     bool
		d         time.Duration
		notBefore time.Duration // from the call
		want      bool
	}{
		{"Elapsed", context.Background(), false, 0, 0, true},
		{"Woken", context.Background(), true, forever, 0, true},
		{"WokenBeforeFloor", context.Background(), true, forever, 20 * time.Millisecond, true},
		// A jittered backoff may be shorter than the floor: a wake then
		// waits for the backoff's end, never returns at once.
		{"WokenFloorPastBackoff", context.Background(), true, 20 * time.Millisecond, forever, true},
		{"Canceled", canceled, false, forever, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			woken := make(chan struct{}, 1)
			if c.woken {
				woken <- struct{}{}
			}
			start := time.Now()
			notBefore := start.Add(c.notBefore)
			got, wasWoken := Wait(c.ctx, woken, c.d, notBefore)
			if got != c.want {
				t.Fatalf("Wait() = %t; want %t", got, c.want)
			}
			// The caller learns of the wake, to wait whole after a woken
			// attempt that failed.
			if c.want && wasWoken != c.woken {
				t.Errorf("Wait() woken = %t; want %t", wasWoken, c.woken)
			}
			// A wake brings the attempt to notBefore at the earliest, or
			// to the end of d when that comes first.
			if floor := min(c.notBefore, c.d); c.want && time.Since(start) < floor {
				t.Errorf("Wait() returned after %v; want at least %v: a wake must not bring the attempt earlier", time.Since(start), floor)
			}
		})
	}
}
