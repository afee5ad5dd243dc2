package groupcommit

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"
)

// req is a write that a test names; done carries its outcome.
type req struct {
	name string
	done chan error
	Write
}

func newReq(name string) *req { return &req{name: name, done: make(chan error, 1)} }

func names(ws []*req) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.name)
	}
	return out
}

func TestQueue_Take(t *testing.T) {
	tests := []struct {
		name      string
		push      []string
		withdraw  []string
		limit     int
		want      []string
		wantLeft  int
		wantTaken []string // after a second Take with the same limit
	}{
		{name: "empty", limit: 2},
		{name: "oldest first", push: []string{"a", "b", "c"}, limit: 8, want: []string{"a", "b", "c"}},
		{name: "up to the limit", push: []string{"a", "b", "c"}, limit: 2, want: []string{"a", "b"}, wantLeft: 1,
			wantTaken: []string{"c"}},
		{name: "skips the withdrawn", push: []string{"a", "b", "c"}, withdraw: []string{"a", "c"}, limit: 8, want: []string{"b"}},
		{name: "withdrawn do not count toward the limit", push: []string{"a", "b", "c", "d"}, withdraw: []string{"b"}, limit: 2,
			want: []string{"a", "c"}, wantLeft: 1, wantTaken: []string{"d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Queue[*req]
			byName := map[string]*req{}
			for _, n := range tt.push {
				byName[n] = newReq(n)
				q.Push(byName[n])
			}
			for _, n := range tt.withdraw {
				if !byName[n].Withdraw() {
					t.Fatalf("Withdraw(%s) of a queued write = false", n)
				}
			}
			got := q.Take(tt.limit)
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("Take(%d) = %v; want %v", tt.limit, names(got), tt.want)
			}
			for _, w := range got {
				if w.Queued() || w.Withdraw() {
					t.Errorf("%s taken: Queued() = %v, Withdraw() succeeded; want neither", w.name, w.Queued())
				}
			}
			if n := q.Len(); n != tt.wantLeft {
				t.Errorf("Len() after Take = %d; want %d", n, tt.wantLeft)
			}
			if again := q.Take(tt.limit); !slices.Equal(names(again), tt.wantTaken) {
				t.Errorf("second Take(%d) = %v; want %v", tt.limit, names(again), tt.wantTaken)
			}
		})
	}
}

func TestWrite_WithdrawOnce(t *testing.T) {
	var w Write
	if !w.Queued() || !w.Withdraw() {
		t.Fatal("a new Write is not queued or cannot be withdrawn")
	}
	if w.Queued() || w.Withdraw() || w.take() {
		t.Error("a withdrawn Write is queued, withdrawn again or taken")
	}
}

func TestQueue_Run(t *testing.T) {
	errW := errors.New("w's outcome")
	t.Run("leads when a slot is free", func(t *testing.T) {
		var q Queue[*req]
		a, b, w := newReq("a"), newReq("b"), newReq("w")
		q.Push(a)
		q.Push(b)
		var batches [][]string
		run := func(batch []*req) {
			var ns []string
			for _, r := range batch {
				ns = append(ns, r.name)
				if r == w {
					r.done <- errW
				} else {
					r.done <- nil
				}
			}
			batches = append(batches, ns)
		}
		slots := make(chan struct{}, 1)
		withdrawn, err := q.Run(t.Context(), w, w.done, slots, 2, run)
		if withdrawn || err != errW {
			t.Errorf("Run = %v, %v; want false, %v", withdrawn, err, errW)
		}
		if want := [][]string{{"a", "b"}, {"w"}}; !slices.EqualFunc(batches, want, slices.Equal) {
			t.Errorf("batches = %v; want %v", batches, want)
		}
		if len(slots) != 0 {
			t.Error("the slot is still held")
		}
	})
	t.Run("waits for another leader", func(t *testing.T) {
		var q Queue[*req]
		w := newReq("w")
		slots := make(chan struct{}, 1)
		slots <- struct{}{} // another leader holds the only slot
		go func() {
			for {
				if got := q.Take(8); len(got) > 0 {
					got[0].done <- errW
					return
				}
				runtime.Gosched()
			}
		}()
		withdrawn, err := q.Run(t.Context(), w, w.done, slots, 8, func([]*req) { t.Error("ran a batch without a slot") })
		if withdrawn || err != errW {
			t.Errorf("Run = %v, %v; want false, %v", withdrawn, err, errW)
		}
	})
	t.Run("withdraws when ctx ends first", func(t *testing.T) {
		var q Queue[*req]
		w := newReq("w")
		slots := make(chan struct{}, 1)
		slots <- struct{}{}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		withdrawn, err := q.Run(ctx, w, w.done, slots, 8, func([]*req) { t.Error("ran a batch without a slot") })
		if !withdrawn || !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, %v; want true, context.Canceled", withdrawn, err)
		}
		if got := q.Take(8); len(got) != 0 {
			t.Errorf("Take after the withdrawal = %v; want none", names(got))
		}
	})
}
