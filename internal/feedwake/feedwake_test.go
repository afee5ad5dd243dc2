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
		{"Canceled", canceled, false, forever, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			woken := make(chan struct{}, 1)
			if c.woken {
				woken <- struct{}{}
			}
			notBefore := time.Now().Add(c.notBefore)
			if got := Wait(c.ctx, woken, c.d, notBefore); got != c.want {
				t.Fatalf("Wait() = %t; want %t", got, c.want)
			}
			if c.want && time.Now().Before(notBefore) {
				t.Errorf("Wait() returned before notBefore: a wake must not bring the attempt earlier")
			}
		})
	}
}
