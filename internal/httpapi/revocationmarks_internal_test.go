package httpapi

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/verifier/stream"
)

// TestMarkReads_SlowReadShared: streams that ask while a read of the
// watermark document is under way share it (or its error), however long
// it takes; a read longer than the poll interval used to be repeated once
// per waiting stream, one after the other, holding every stream's poll and
// heartbeats.
func TestMarkReads_SlowReadShared(t *testing.T) {
	for name, readErr := range map[string]error{"Marks": nil, "Error": errors.New("store unavailable")} {
		t.Run(name, func(t *testing.T) {
			const waiters = 20
			var reads atomic.Int32
			inRead, release := make(chan struct{}), make(chan struct{})
			m := &markReads{keep: 1, // any read is older than keep by the time another caller looks
				read: func(context.Context) ([]stream.Watermark, error) {
					if reads.Add(1) == 1 {
						close(inRead)
						<-release
					}
					return []stream.Watermark{{Subject: "erin"}}, readErr
				}}
			errs := make(chan error, waiters+1)
			var wg sync.WaitGroup
			get := func() {
				defer wg.Done()
				marks, err := m.get(context.Background())
				if err == nil && len(marks) != 1 {
					t.Errorf("get = %v; want erin's watermark", marks)
				}
				errs <- err
			}
			wg.Add(1)
			go get()
			<-inRead
			for range waiters {
				wg.Add(1)
				go get()
			}
			for m.waiting.Load() < waiters {
				runtime.Gosched()
			}
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, readErr) {
					t.Errorf("get = %v; want %v", err, readErr)
				}
			}
			if n := reads.Load(); n != 1 {
				t.Errorf("%d callers during one read made %d reads; want 1", waiters+1, n)
			}
		})
	}
}
