package redisstore_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// proxy forwards TCP connections to Redis and can be stopped and started,
// to take the store's server away and give it back.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// stop closes the listener and every connection: Redis is gone.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// start listens again on the same address: Redis is back.
func (p *proxy) start(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestStore_Unavailable checks that an unreachable Redis is
// ErrStoreUnavailable (never ErrNotFound or success), that calls fail
// rather than hang, and that the store recovers by itself.
func TestStore_Unavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("New", func(t *testing.T) {
		t.Parallel()
		_, err := redisstore.New(ctx, "redis://127.0.0.1:1/0", redisstore.Options{})
		if !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("New(127.0.0.1:1) = %v; want ErrStoreUnavailable", err)
		}
	})
	t.Run("BadOptions", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			url  string
			opts redisstore.Options
		}{
			{"http://127.0.0.1:6379", redisstore.Options{}},
			{"redis://user:s3cret@127.0.0.1:6379/x", redisstore.Options{}},
			{"redis://127.0.0.1:6379/0", redisstore.Options{Prefix: "a{b}"}},
			{"redis://127.0.0.1:6379/0", redisstore.Options{ClientCache: -time.Second}},
		} {
			_, err := redisstore.New(ctx, c.url, c.opts)
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New(%q, %+v) = %v; want ErrInvalidArgument", c.url, c.opts, err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("New() error %q contains the password", err)
			}
		}
	})
	t.Run("OutageAndRecovery", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(redisURL(t))
		if err != nil {
			t.Fatalf("parse SESSIOND_TEST_REDIS_URL: %v", err)
		}
		target := u.Host
		if u.Port() == "" {
			target = net.JoinHostPort(u.Hostname(), "6379")
		}
		p := newProxy(t, target)
		u.Host = p.addr
		prefix := randomPrefix()
		st, err := redisstore.New(ctx, u.String(), redisstore.Options{Prefix: prefix, ClientCache: time.Minute})
		if err != nil {
			t.Fatalf("New(through proxy) = %v", err)
		}
		t.Cleanup(func() { st.Close(); wipe(t, redisURL(t), prefix) })
		t0 := now()
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindRefresh, s.ID, t0)
		if err := st.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}

		// A token another node created, looked up through the proxied store
		// so its session sits in the client-side cache.
		direct := newStore(t, redisstore.Options{Prefix: prefix})
		s2 := newSession("bob", t0)
		tok2 := newToken(sessiond.KindAccess, s2.ID, t0)
		if err := direct.Create(ctx, s2, tok2); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if _, _, err := st.Lookup(ctx, tok2.Hash); err != nil {
			t.Fatalf("Lookup() = %v", err)
		}
		if hit, err := redisstore.LookupCached(ctx, st, tok2.Hash); err != nil || !hit {
			t.Fatalf("LookupCached() = %t, %v; want true", hit, err)
		}

		p.stop()
		// Losing the connection flushes the client-side cache: with Redis
		// gone, a cached session is not served (fail closed) once rueidis
		// has seen the connection close.
		if !eventually(2*time.Second, func() bool {
			_, _, err := st.Lookup(ctx, tok2.Hash)
			return errors.Is(err, sessiond.ErrStoreUnavailable)
		}) {
			t.Error("cached Lookup() still answers 2s after Redis went away; want ErrStoreUnavailable")
		}
		calls := []struct {
			name string
			call func(context.Context) error
		}{
			{"Ping", st.Ping},
			{"Get", func(ctx context.Context) error { _, err := st.Get(ctx, s.ID); return err }},
			{"Lookup", func(ctx context.Context) error { _, _, err := st.Lookup(ctx, tok.Hash); return err }},
			{"Create", func(ctx context.Context) error { n := newSession("alice", t0); return st.Create(ctx, n) }},
			{"Touch", func(ctx context.Context) error { return st.Touch(ctx, s.ID, t0.Add(time.Minute), t0.Add(time.Hour)) }},
			{"Revoke", func(ctx context.Context) error { _, err := st.Revoke(ctx, s.ID, t0, sessiond.ReasonAdmin); return err }},
			{"List", func(ctx context.Context) error { _, err := st.List(ctx, "alice", t0); return err }},
			{"Revocations", func(ctx context.Context) error { _, err := st.Revocations(ctx, t0); return err }},
			{"DeleteExpired", func(ctx context.Context) error { _, err := st.DeleteExpired(ctx, t0, 10); return err }},
			{"RevokeMatching", func(ctx context.Context) error {
				_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t0, sessiond.ReasonIncident)
				return err
			}},
			{"CountLive", func(ctx context.Context) error { _, err := st.CountLive(ctx, t0); return err }},
			{"AppendEvents", func(ctx context.Context) error {
				return st.AppendEvents(ctx, sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionCreated})
			}},
			{"QueryEvents", func(ctx context.Context) error { _, _, err := st.QueryEvents(ctx, sessiond.EventQuery{}); return err }},
			{"ClaimDeliveries", func(ctx context.Context) error { _, err := st.ClaimDeliveries(ctx, t0, 10, time.Minute); return err }},
			{"SubscribeRevocations", func(ctx context.Context) error {
				return st.SubscribeRevocations(ctx, func(sessiond.Revocation) {}, func() {})
			}},
		}
		for _, c := range calls {
			// No deadline: a call must fail, not wait for Redis to return.
			done := make(chan error, 1)
			go func() { done <- c.call(context.Background()) }()
			select {
			case err := <-done:
				if !errors.Is(err, sessiond.ErrStoreUnavailable) {
					t.Errorf("%s() with Redis down = %v; want ErrStoreUnavailable", c.name, err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("%s() with Redis down and no deadline did not return within 15s", c.name)
			}
		}

		p.start(t)
		if !eventually(10*time.Second, func() bool { return st.Ping(ctx) == nil }) {
			t.Fatal("Ping() still failing 10s after Redis came back")
		}
		if got, err := st.Get(ctx, s.ID); err != nil || got.ID != s.ID {
			t.Errorf("Get() after recovery = %v, %v; want the session", got, err)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		t.Parallel()
		st, err := redisstore.New(ctx, redisURL(t), redisstore.Options{Prefix: randomPrefix()})
		if err != nil {
			t.Fatalf("New() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("second Close() = %v; want nil", err)
		}
		if _, err := st.Get(ctx, sessiond.NewSessionID()); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("Get() after Close = %v; want ErrStoreUnavailable", err)
		}
		if err := st.Ping(ctx); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("Ping() after Close = %v; want ErrStoreUnavailable", err)
		}
	})
}
