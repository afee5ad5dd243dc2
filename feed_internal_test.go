package sessiond

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// stagedRevocations is a Store whose Revocations, once begun, returns
// what the test sends on the channel it received from calls; every other
// method is unused.
type stagedRevocations struct {
	Store
	calls chan chan error
}

func (s *stagedRevocations) Revocations(context.Context, time.Time) ([]Revocation, error) {
	answer := make(chan error)
	s.calls <- answer
	return nil, <-answer
}

// TestCatchUp_OverlappingFailureKeepsRetry: the feed and the watermark
// loop catch up concurrently. A reload that began before another one
// failed (the store dropped again, the feed reconnected and its catch-up
// failed) did not see what was revoked meanwhile: its success must leave
// the retry due, or those revocations stay unknown to this node until the
// feed's next disconnection.
func TestCatchUp_OverlappingFailureKeepsRetry(t *testing.T) {
	st := &stagedRevocations{calls: make(chan chan error)}
	m := &Manager{store: st, clock: SystemClock{}, log: slog.New(slog.DiscardHandler), revoked: newRevokedSet(time.Minute, 0)}
	m.resyncDue.Store(true)
	ctx := context.Background()

	early := make(chan struct{})
	go func() { // the watermark loop's retry, reading the store
		defer close(early)
		m.catchUp(ctx)
	}()
	earlyAnswer := <-st.calls
	late := make(chan struct{})
	go func() { // the feed's catch-up after its next reconnect
		defer close(late)
		m.catchUp(ctx)
	}()
	(<-st.calls) <- ErrStoreUnavailable // the later one fails...
	<-late
	earlyAnswer <- nil // ...then the earlier one succeeds
	<-early

	if !m.resyncDue.Load() {
		t.Error("resyncDue = false after a catch-up that began before a failed one succeeded; want the retry still due")
	}
}
