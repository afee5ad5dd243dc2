package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_DeadlineWhileReconnecting: on a frozen Redis, a call whose
// context has a deadline returns once it passes, although another caller
// without one is reopening the connection the call needs (rueidis makes
// the call wait for that opener, up to its dial timeout, whatever the
// call's context: redis/rueidis#683). Serve's requests rely on it to
// answer 503 before server.write_timeout cuts their connection.
func TestStore_DeadlineWhileReconnecting(t *testing.T) {
	port, redis := testenv.PrivateRedis(t, "a frozen Redis")
	// Through a proxy, so that the test can cut the store's connection.
	p := sessiondtest.NewProxy(t, "127.0.0.1:"+strconv.Itoa(port))
	url := "redis://" + p.Addr() + "/0"
	var st *redisstore.Store
	for begin := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if st, err = redisstore.New(t.Context(), url, redisstore.Options{Prefix: randomPrefix()}); err == nil {
			break
		}
		if time.Since(begin) > 10*time.Second {
			t.Fatalf("private redis-server: %v", err)
		}
	}
	defer st.Close()

	// Redis freezes and the store's connection breaks: the next call
	// reopens it, to a server that accepts it and never answers.
	if err := redis.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	p.Down()
	p.Up(t)
	short := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		return st.Ping(ctx)
	}
	if err := short(); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Fatalf("Ping(frozen) = %v; want ErrStoreUnavailable", err)
	}
	// An opener without a deadline (a background loop): its handshake
	// waits for the frozen Redis up to the dial timeout (5 s).
	opened := make(chan struct{})
	go func() { defer close(opened); _ = st.Ping(context.Background()) }()
	time.Sleep(100 * time.Millisecond) // let it begin the handshake
	// Each call must be back by its deadline and a margin (serve's is a
	// second: httpapi.RequestDeadline), not the opener's dial timeout.
	for i := range 5 {
		begin := time.Now()
		err := short()
		if took := time.Since(begin); took > 200*time.Millisecond+time.Second {
			t.Errorf("call %d with a 200 ms deadline returned after %v, behind the reconnect; want it back at its deadline", i, took.Round(time.Millisecond))
		}
		if !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("call %d: Ping(frozen, reconnecting) = %v; want ErrStoreUnavailable", i, err)
		}
	}
	if err := redis.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	<-opened
	// Redis answers again: so do the calls.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping(thawed) = %v; want nil", err)
	}
}
