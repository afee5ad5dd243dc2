package webhook_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// blockingSender signals started at each Send and answers once release
// is closed.
type blockingSender struct{ started, release chan struct{} }

func (s *blockingSender) Owns(string) bool { return true }
func (s *blockingSender) Send(context.Context, sessiond.Delivery) (bool, error) {
	s.started <- struct{}{}
	<-s.release
	return false, nil
}

// TestDispatcher_Unrecorded counts the claims whose outcome is not yet
// written: what a process that exits now leaves to be tried again after
// the lease (and, for an attempt that reached the receiver, sent twice).
func TestDispatcher_Unrecorded(t *testing.T) {
	ctx := context.Background()
	ob := newOutbox(t)
	s := &blockingSender{started: make(chan struct{}), release: make(chan struct{})}
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: sessiondtest.NewClock(t0), Senders: []webhook.Sender{s}})
	const n = 3
	for i := range n {
		if err := ob.EnqueueDeliveries(ctx, sessiond.Delivery{ID: fmt.Sprintf("msg_%d", i), Endpoint: "ssf:x", EventID: "e1",
			Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.Unrecorded(); got != 0 {
		t.Fatalf("Unrecorded() before any claim = %d; want 0", got)
	}
	done := make(chan error, 1)
	go func() { _, err := d.DeliverDue(ctx); done <- err }()
	for range n {
		<-s.started
	}
	if got := d.Unrecorded(); got != n {
		t.Errorf("Unrecorded() with %d attempts in flight = %d; want %d", n, got, n)
	}
	close(s.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := d.Unrecorded(); got != 0 {
		t.Errorf("Unrecorded() once every outcome is written = %d; want 0", got)
	}
}
