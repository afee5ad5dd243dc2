//go:build unix

// SIGSTOP freezes the server: Unix only.

package redisstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
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
	port, redis := redisclustertest.StartProcess(t)
	// Through a proxy, so that the test can cut the store's connection.
	// The opener's handshake gives up after a minute, far past the hang
	// guard below: a call that waits for it is caught by order, not time.
	p := sessiondtest.NewProxy(t, "127.0.0.1:"+strconv.Itoa(port))
	st := openWhenUp(t, "redis://"+p.Addr()+"/0?dial_timeout=1m&write_timeout=1m")

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
	// waits for the frozen Redis up to the dial timeout (a minute here).
	accepted := p.Accepted()
	opened := make(chan struct{})
	go func() { defer close(opened); _ = st.Ping(context.Background()) }()
	// Once its connection is accepted, its handshake is under way (the
	// frozen Redis never answers it). Open cannot tell: the connection of
	// the call above may still count, or close meanwhile.
	for p.Accepted() == accepted {
		select {
		case <-opened:
			t.Fatal("the opener returned before it reconnected")
		case <-time.After(5 * time.Millisecond): // poll the proxy
		}
	}
	// Each call must be back by its deadline, not when the opener's
	// handshake gives up (a minute): the calls must all end while the
	// opener is still stuck; the 30 s bound only keeps a hang from
	// blocking the test run.
	calls := make(chan []error, 1)
	go func() {
		var errs []error
		for range 3 {
			errs = append(errs, short())
		}
		calls <- errs
	}()
	select {
	case errs := <-calls:
		for i, err := range errs {
			if !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("call %d: Ping(frozen, reconnecting) = %v; want ErrStoreUnavailable", i, err)
			}
		}
	case <-opened:
		t.Fatal("the opener gave up before the calls with a deadline returned: they waited for it")
	case <-time.After(30 * time.Second):
		t.Fatal("calls with a 200 ms deadline still waiting for the reopening connection after 30 s")
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

// TestStore_DeadlineWhileReconnectingQuietly: as above, but no call went
// unanswered first. Redis froze while the store had no traffic, rueidis's
// keepalive PING gave up on the silent connection and closed it, and a
// caller without a deadline (a background loop) began to reopen it: the
// calls with a deadline that came next waited for that opener, up to its
// handshake's bound (the dial timeout, 5 s), because the store bounded
// calls only after one had gone unanswered. They now return by their
// deadline from the moment a connection begins to open.
func TestStore_DeadlineWhileReconnectingQuietly(t *testing.T) {
	port, redis := redisclustertest.StartProcess(t)
	// Through a proxy, which shows the store's connections open and close.
	p := sessiondtest.NewProxy(t, "127.0.0.1:"+strconv.Itoa(port))
	// The keepalive gives up on a silent connection after write_timeout,
	// which also bounds a handshake with the frozen Redis: far longer than
	// the calls below may take.
	// One pipelined connection, as rueidis opens with one CPU (a container
	// limited to one): with n, a call waits for the opener only when it
	// picks the opener's connection, one chance in n.
	procs := runtime.GOMAXPROCS(1)
	st := func() *redisstore.Store {
		defer runtime.GOMAXPROCS(procs) // on a Fatal too
		return openWhenUp(t, "redis://"+p.Addr()+"/0?write_timeout=3s")
	}()
	// until polls cond, bounded so that a hang fails rather than blocks.
	until := func(what string, cond func() bool) {
		t.Helper()
		for begin := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Since(begin) > 30*time.Second {
				t.Fatalf("%s: not within 30s (%d connections open)", what, p.Open())
			}
		}
	}

	if err := redis.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	until("the keepalive closing the silent connection", func() bool { return p.Open() == 0 })
	// The opener: a write, which rueidis does not retry, so it ends when
	// its handshake gives up.
	opened := make(chan struct{})
	go func() { defer close(opened); _, _ = st.PutMeta(context.Background(), "opener", []byte("v"), 0) }()
	// Its connection is through: its handshake waits for the frozen Redis.
	until("the caller without a deadline reopening the connection", func() bool { return p.Open() > 0 })
	for i := range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err := st.Ping(ctx)
		cancel()
		if !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("call %d: Ping(frozen, reconnecting) = %v; want ErrStoreUnavailable", i, err)
		}
		select {
		case <-opened:
			t.Fatalf("call %d with a 200 ms deadline returned once the reopening had given up: it waited for it", i)
		default:
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

// TestNew_DialsAsTheURLSays: the store notes each connection it opens
// (closeGuard.dialer), and must still open it as the URL says: a unix://
// URL dials its socket, not TCP; a rediss:// one speaks TLS.
func TestNew_DialsAsTheURLSays(t *testing.T) {
	for _, tt := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"unix", func(t *testing.T) string {
			sock := filepath.Join(t.TempDir(), "redis.sock")
			redisclustertest.StartServer(t, "--unixsocket", sock, "--unixsocketperm", "700")
			return "unix://" + sock
		}},
		{"tls", func(t *testing.T) string {
			dir := t.TempDir()
			cert, key := testenv.CertPEM(t, testenv.SelfSigned(t, 1, "127.0.0.1"))
			for name, b := range map[string][]byte{"cert.pem": cert, "key.pem": key} {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			port := strconv.Itoa(testenv.FreePort(t))
			redisclustertest.StartServer(t, "--tls-port", port, "--tls-auth-clients", "no",
				"--tls-cert-file", filepath.Join(dir, "cert.pem"), "--tls-key-file", filepath.Join(dir, "key.pem"))
			return "rediss://127.0.0.1:" + port + "/0?skip_verify=true"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url(t)
			st, err := redisstore.New(t.Context(), url, redisstore.Options{Prefix: randomPrefix()})
			if err != nil {
				t.Fatalf("redisstore.New(%s) = %v", url, err)
			}
			defer st.Close()
			if err := st.Ping(t.Context()); err != nil {
				t.Fatalf("Ping() = %v", err)
			}
		})
	}
}

// openWhenUp opens a store at url, trying again while the private
// redis-server behind it is still starting (up to 10 s); the store is
// closed when the test ends.
func openWhenUp(t *testing.T, url string) *redisstore.Store {
	t.Helper()
	for begin := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		st, err := redisstore.New(t.Context(), url, redisstore.Options{Prefix: randomPrefix()})
		if err == nil {
			t.Cleanup(func() { st.Close() })
			return st
		}
		if time.Since(begin) > 10*time.Second {
			t.Fatalf("private redis-server: %v", err)
		}
	}
}
