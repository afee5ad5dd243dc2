package testenv

import (
	"context"
	"testing"
	"time"
)

// deadlineT is a test with the deadline a test binary may have.
type deadlineT struct {
	at time.Time
	ok bool
}

func (d deadlineT) Context() context.Context    { return context.Background() }
func (d deadlineT) Deadline() (time.Time, bool) { return d.at, d.ok }

// TestBeforeDeadline: the context ends deadlineMargin before the test
// binary's deadline, and has none where the binary has none.
func TestBeforeDeadline(t *testing.T) {
	at := time.Now().Add(10 * time.Minute)
	for _, tt := range []struct {
		name   string
		t      deadlineT
		want   time.Time
		wantOK bool
	}{
		{"go test -timeout", deadlineT{at, true}, at.Add(-deadlineMargin), true},
		{"no timeout", deadlineT{}, time.Time{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := BeforeDeadline(tt.t)
			defer cancel()
			if got, ok := ctx.Deadline(); !got.Equal(tt.want) || ok != tt.wantOK {
				t.Errorf("BeforeDeadline().Deadline() = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
