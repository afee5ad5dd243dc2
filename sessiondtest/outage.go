package sessiondtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
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

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	accepted int // connections accepted and forwarded, ever
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
		p.accepted++
		p.mu.Unlock()
		go func() {
			_, _ = io.Copy(up, c) // until the client closes c (or Down does)
			up.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, up)
			p.mu.Unlock()
		}()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Open is how many connections through the proxy are open: each counts
// from when the proxy accepts it (and has dialled the server) until the
// client or Down closes it.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Accepted is how many connections the proxy has accepted (and dialled
// the server for) since it started, closed ones included: a test waits
// for it to grow to know a client has connected anew, which Open cannot
// tell when an older connection closes meanwhile.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
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
	if l, ok := st.(sessiond.SubjectClientLister); ok {
		calls = append(calls, storeCall{"SubjectClients", func(ctx context.Context) error {
			_, err := l.SubjectClients(ctx, "alice", later)
			return err
		}})
	}
	if p, ok := st.(sessiond.RevocationPager); ok {
		calls = append(calls, storeCall{"PageRevocations", func(ctx context.Context) error {
			_, err := p.PageRevocations(ctx, sessiond.RevocationQuery{Since: t0, Limit: 10})
			return err
		}})
	}
	if p, ok := st.(sessiond.SubjectPager); ok {
		calls = append(calls,
			storeCall{"ListPage", func(ctx context.Context) error {
				_, err := p.ListPage(ctx, sessiond.PageQuery{Subject: "alice", Now: later, Limit: 10})
				return err
			}},
			storeCall{"ListSpan", func(ctx context.Context) error {
				_, err := p.ListSpan(ctx, "alice", s.CreatedAt, s.ExpiresAt, later)
				return err
			}})
	}
	if br, ok := st.(sessiond.SubjectBatchRevoker); ok {
		calls = append(calls, storeCall{"RevokeSubjectBatch", func(ctx context.Context) error {
			_, _, _, err := br.RevokeSubjectBatch(ctx, "alice", "", later, sessiond.ReasonAdmin, "", 10, nil)
			return err
		}})
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

// TestFeedWake checks that a revocation feed cut off by an outage catches
// up as soon as the store is seen answering again, not when its reconnect
// backoff happens to end: the window in which a node still accepts a
// session revoked elsewhere during the outage is one reconnect and one
// catch-up after the store returns (docs/operations.md, "Revocations made
// elsewhere during the outage reach this node when the store returns").
//
// open returns two nodes on the same fresh data: behind, which reaches its
// server through addr (a Proxy to target) and logs through log, and
// direct, which does not; both register their own cleanup. behind must
// log each reconnect delay of its feed as the attribute "retry_in" (a
// duration string, or anything whose String parses as one) and
// wait at least half of it before its next attempt, as the stores' jittered
// backoffs do. The outage lasts until behind logs a delay of at least
// backoff; then the server comes back, direct revokes a session, and one
// call of behind's is answered (Ping, as /readyz makes, or Get, as any
// request or background loop makes). The feed must resync, and a catch-up
// through behind find the revocation, before backoff/2 has passed since
// that log line: before the old backoff could have let it.
func TestFeedWake(t *testing.T, target string, backoff time.Duration, open func(t *testing.T, addr string, log *slog.Logger) (behind, direct sessiond.Store)) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		answered func(ctx context.Context, st sessiond.Store, s *sessiond.Session) error
	}{
		{"Ping", func(ctx context.Context, st sessiond.Store, _ *sessiond.Session) error { return st.Ping(ctx) }},
		{"Get", func(ctx context.Context, st sessiond.Store, s *sessiond.Session) error {
			_, err := st.Get(ctx, s.ID)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			delays := make(chan time.Duration, 64)
			p := NewProxy(t, target)
			behind, direct := open(t, p.Addr(), slog.New(retryLog{delays}))
			n, ok := behind.(sessiond.RevocationNotifier)
			if !ok {
				t.Fatalf("%T is no sessiond.RevocationNotifier", behind)
			}
			resynced := make(chan struct{}, 16)
			if err := n.SubscribeRevocations(t.Context(), func(sessiond.Revocation) {}, func() { resynced <- struct{}{} }); err != nil {
				t.Fatalf("SubscribeRevocations() = %v; want nil", err)
			}
			s := NewSession("alice", t0)
			if err := direct.Create(t.Context(), clone(s)); err != nil {
				t.Fatalf("Create() = %v; want nil", err)
			}

			p.Down()
			var loggedAt time.Time
			for wait := time.After(outageWait); loggedAt.IsZero(); {
				select {
				case d := <-delays:
					if d >= backoff {
						loggedAt = time.Now()
					}
				case <-wait:
					t.Fatalf("the feed did not log a reconnect delay of %v within %v of the outage", backoff, outageWait)
				}
			}
			// Whatever the feed does now, its backoff keeps it from
			// reconnecting before this.
			backoffEnds := loggedAt.Add(backoff / 2)

			p.Up(t)
			if _, err := direct.Revoke(t.Context(), s.ID, at(time.Minute), sessiond.ReasonAdmin); err != nil {
				t.Fatalf("Revoke() on the other node = %v; want nil", err)
			}
			// The first call through a pool whose connections the outage
			// cut may fail on one of them; the store answers the next.
			var err error
			for range 3 {
				if err = c.answered(t.Context(), behind, s); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("%s() after the server came back = %v; want nil", c.name, err)
			}
			select {
			case <-resynced:
			case <-time.After(outageWait):
				t.Fatalf("resync not called within %v of the server coming back", outageWait)
			}
			revs, err := behind.Revocations(t.Context(), t0)
			if err != nil {
				t.Fatalf("Revocations() after the resync = %v; want nil", err)
			}
			if !slices.ContainsFunc(revs, func(r sessiond.Revocation) bool { return r.SessionID == s.ID }) {
				t.Fatalf("the catch-up after the resync misses the session revoked during the outage: %+v", revs)
			}
			if late := time.Since(backoffEnds); late >= 0 {
				t.Errorf("the feed caught up %v after its backoff could have ended; want it woken by the answered %s, before", late.Round(time.Millisecond), c.name)
			}
		})
	}
}

// retryLog is a slog.Handler that passes on every "retry_in" a store logs
// (the delay before its feed's next reconnect attempt) and drops the rest.
type retryLog struct{ delays chan<- time.Duration }

func (retryLog) Enabled(context.Context, slog.Level) bool { return true }

func (h retryLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "retry_in" {
			return true
		}
		// Logged as a duration string ("6.4s"), as the server's log lines
		// give durations.
		if d, err := time.ParseDuration(a.Value.String()); err == nil {
			select {
			case h.delays <- d:
			default: // the test has what it needs
			}
		}
		return true
	})
	return nil
}

func (h retryLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h retryLog) WithGroup(string) slog.Handler      { return h }
