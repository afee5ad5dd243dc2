package groupcommit

import (
	"slices"
	"testing"
)

type req struct {
	name string
	Write
}

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
				byName[n] = &req{name: n}
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
