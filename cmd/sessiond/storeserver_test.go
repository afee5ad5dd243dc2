package main

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatal ends only the goroutine that
// called it, and records the message: a test of a helper that must fail.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// TestStoreServer_PostgresPortTaken: a PostgreSQL restarted on its port
// while another server holds it (a restart frees the port for a moment)
// fails to bind and exits; start must then fail the test, not go on
// against the other server, whose data is not this one's.
func TestStoreServer_PostgresPortTaken(t *testing.T) {
	t.Parallel()
	own := newStoreServer(t, "postgres")
	other := newStoreServer(t, "postgres")
	own.stop()
	own.port = other.port

	rec := &fatalRecorder{TB: t}
	own.t = rec
	done := make(chan struct{})
	go func() {
		defer close(done)
		own.start()
	}()
	<-done
	own.t = t
	if rec.msg == "" {
		t.Fatalf("start on port %d, held by another PostgreSQL, returned; want it to fail the test", other.port)
	}
	t.Logf("start failed as it should: %s", rec.msg)
}
