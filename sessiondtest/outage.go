package sessiondtest

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// Proxy forwards TCP connections to a server and can cut them all and
// later listen again on the same address: an outage (a partition, a
// failover) played against a real server.
type Proxy struct {
	target string
	addr   string // kept across Down and Up

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// NewProxy starts a Proxy to target on 127.0.0.1 and stops it when the
// test ends.
func NewProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, addr: "127.0.0.1:0", conns: make(map[net.Conn]struct{})}
	p.Up(t)
	t.Cleanup(p.Down)
	return p
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Up listens (again) on the proxy's address: the server is back.
func (p *Proxy) Up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr())
	if err != nil {
		t.Fatalf("proxy: listen on %s: %v", p.Addr(), err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
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
}

// Down closes the listener and every connection through it: the server
// is gone.
func (p *Proxy) Down() {
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

// outageWait bounds each call during an outage and the recovery after it.
// It guards against a hang; it measures nothing.
const outageWait = 30 * time.Second

// TestOutage checks a store against an outage of its server, played with a
// Proxy to target. open returns a store that reaches its server through
// addr and registers its own cleanup. While the server is away, every
// method (those of the optional interfaces the store implements included)
// fails with ErrStoreUnavailable, never ErrNotFound or success, and
// returns without the caller's deadline; nothing is decided. When the
// server is back the store recovers by itself: Ping answers and the data
// is as it was.
func TestOutage(t *testing.T, target string, open func(t *testing.T, addr string) sessiond.Store) {
	t.Parallel()
	p := NewProxy(t, target)
	st := open(t, p.Addr())
	f := &fixture{t: t, st: st, ctx: t.Context()}
	s := NewSession("alice", t0)
	tok := NewToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), tok)

	p.Down()
	for _, c := range everyCall(st, s, tok) {
		// No deadline: a call must fail, not wait for the server.
		done := make(chan error, 1)
		go func() { done <- c.call(context.WithoutCancel(f.ctx)) }()
		select {
		case err := <-done:
			if !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("%s with the server away = %v; want ErrStoreUnavailable", c.name, err)
			}
		case <-time.After(outageWait):
			t.Fatalf("%s with the server away and no deadline did not return within %v", c.name, outageWait)
		}
	}

	p.Up(t)
	deadline := time.Now().Add(outageWait)
	for err := st.Ping(f.ctx); err != nil; err = st.Ping(f.ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("Ping() %v after the server came back = %v; want nil", outageWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.wantSession(s) // not revoked, not touched: nothing was decided
	f.wantToken(tok)
}

type storeCall struct {
	name string
	call func(ctx context.Context) error
}

// everyCall returns a call of every method of st (those of the optional
// interfaces it implements included) with valid arguments, on a session s
// with refresh token tok: what TestOutage makes with the server away, and
// TestStore after Close.
func everyCall(st sessiond.Store, s *sessiond.Session, tok sessiond.Token) []storeCall {
	later := at(time.Minute)
	fresh := NewSession("alice", t0)
	calls := []storeCall{
		{"Ping", st.Ping},
		{"Create", func(ctx context.Context) error { return st.Create(ctx, clone(fresh)) }},
		{"Get", func(ctx context.Context) error { _, err := st.Get(ctx, s.ID); return err }},
		{"Lookup", func(ctx context.Context) error { _, _, err := st.Lookup(ctx, tok.Hash); return err }},
		{"Touch", func(ctx context.Context) error { return st.Touch(ctx, s.ID, later, later.Add(time.Hour)) }},
		{"SwapRefresh", func(ctx context.Context) error {
			return st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: tok.Hash, Next: NewToken(sessiond.KindRefresh, s.ID, later),
				Now: later, GraceSince: later, LastActiveAt: later, IdleExpiresAt: later.Add(time.Hour)})
		}},
		{"Revoke", func(ctx context.Context) error {
			_, err := st.Revoke(ctx, s.ID, later, sessiond.ReasonAdmin)
			return err
		}},
		{"RevokeSubject", func(ctx context.Context) error {
			_, err := st.RevokeSubject(ctx, "alice", "", later, sessiond.ReasonAdmin)
			return err
		}},
		{"List", func(ctx context.Context) error { _, err := st.List(ctx, "alice", later); return err }},
		{"Revocations", func(ctx context.Context) error { _, err := st.Revocations(ctx, t0); return err }},
		{"DeleteExpired", func(ctx context.Context) error { _, err := st.DeleteExpired(ctx, at(100*time.Hour), 10); return err }},
	}
	if l, ok := st.(sessiond.Limiter); ok {
		calls = append(calls, storeCall{"CreateLimited", func(ctx context.Context) error {
			_, err := l.CreateLimited(ctx, clone(fresh), 1, true)
			return err
		}})
	}
	if m, ok := st.(sessiond.MetaStore); ok {
		calls = append(calls,
			storeCall{"GetMeta", func(ctx context.Context) error { _, _, err := m.GetMeta(ctx, "keys"); return err }},
			storeCall{"PutMeta", func(ctx context.Context) error { _, err := m.PutMeta(ctx, "keys", []byte("{}"), 0); return err }})
	}
	if l, ok := st.(sessiond.EventLog); ok {
		calls = append(calls,
			storeCall{"AppendEvents", func(ctx context.Context) error {
				return l.AppendEvents(ctx, newEvent(sessiond.EventSessionCreated, "alice", s.ID, t0))
			}},
			storeCall{"QueryEvents", func(ctx context.Context) error { _, _, err := l.QueryEvents(ctx, sessiond.EventQuery{}); return err }},
			storeCall{"DeleteEventsBefore", func(ctx context.Context) error { _, err := l.DeleteEventsBefore(ctx, later, 10); return err }})
	}
	if o, ok := st.(sessiond.Outbox); ok {
		calls = append(calls,
			storeCall{"EnqueueDeliveries", func(ctx context.Context) error { return o.EnqueueDeliveries(ctx, newDelivery(t0)) }},
			storeCall{"ClaimDeliveries", func(ctx context.Context) error { _, err := o.ClaimDeliveries(ctx, later, 10, time.Minute); return err }},
			storeCall{"RetryDelivery", func(ctx context.Context) error { return o.RetryDelivery(ctx, "msg_gone", later) }},
			storeCall{"CountDeliveries", func(ctx context.Context) error {
				_, err := o.CountDeliveries(ctx, sessiond.DeliveryPending)
				return err
			}})
	}
	if r, ok := st.(sessiond.BulkRevoker); ok {
		calls = append(calls, storeCall{"RevokeMatching", func(ctx context.Context) error {
			_, _, err := r.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, later, sessiond.ReasonIncident)
			return err
		}})
	}
	if lc, ok := st.(sessiond.LiveCounter); ok {
		calls = append(calls, storeCall{"CountLive", func(ctx context.Context) error { _, err := lc.CountLive(ctx, later); return err }})
	}
	if n, ok := st.(sessiond.RevocationNotifier); ok {
		calls = append(calls, storeCall{"SubscribeRevocations", func(ctx context.Context) error {
			return n.SubscribeRevocations(ctx, func(sessiond.Revocation) {}, func() {})
		}})
	}
	if n, ok := st.(sessiond.MetaNotifier); ok {
		calls = append(calls,
			storeCall{"PublishMeta", func(ctx context.Context) error { return n.PublishMeta(ctx, "keys") }},
			storeCall{"SubscribeFeed", func(ctx context.Context) error { return n.SubscribeFeed(ctx, sessiond.Feed{}) }})
	}
	if c, ok := st.(sessiond.WindowCounter); ok {
		calls = append(calls, storeCall{"Incr", func(ctx context.Context) error {
			_, _, err := c.Incr(ctx, "k", later, time.Minute)
			return err
		}})
	}
	return calls
}
