package sessiondtest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
)

func TestEvents(t *testing.T) {
	var r sessiondtest.Events
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ := sessiond.EventSessionCreated
			if i%2 == 0 {
				typ = sessiond.EventSessionRevoked
			}
			r.Record(context.Background(), sessiond.Event{Type: typ})
		}()
	}
	wg.Wait()
	if c, v := r.Count(sessiond.EventSessionCreated), r.Count(sessiond.EventSessionRevoked); c != 5 || v != 5 || len(r.All()) != 10 {
		t.Fatalf("counts = %d created, %d revoked, %d all; want 5, 5, 10", c, v, len(r.All()))
	}
}
