package pgstore_test

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
	"github.com/sessiond/sessiond/pgstore"
)

func TestNew_Unreachable(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback: nothing listens, the connection is refused.
	start := time.Now()
	st, err := pgstore.New(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable", pgstore.Options{})
	if err == nil {
		st.Close()
	}
	if !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("New(closed port) = %v; want ErrStoreUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New(closed port) took %v; want it to fail fast", d)
	}
}

func TestNew_BadDSN(t *testing.T) {
	t.Parallel()
	_, err := pgstore.New(t.Context(), "postgres://u:secret@[bad", pgstore.Options{})
	if !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("New(bad DSN) = %v; want ErrInvalidArgument", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Errorf("New(bad DSN) error %q shows the password", err)
	}
}

// proxy forwards TCP connections to a PostgreSQL server and can be cut
// and restored, to play an outage.
type proxy struct {
	t      *testing.T
	addr   string // the address it listens on, kept across restarts
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, addr: "127.0.0.1:0"}
	p.up()
	t.Cleanup(p.down)
	return p
}

// up (re)opens the listener on the proxy's address.
func (p *proxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// down closes the listener and cuts every connection through it.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestStore_Outage cuts the network between a running Store and the
// server: calls fail with ErrStoreUnavailable (fail closed, nothing
// decided), and the Store recovers by itself when the server is back.
func TestStore_Outage(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Skipf("SESSIOND_TEST_POSTGRES_URL is not a URL (%v); the outage test needs one", err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	st, _ := newStoreDSN(t, u.String())

	s := newSession("alice", t0)
	tok := newToken(sessiond.KindAccess, s.ID, t0)
	if err := st.Create(t.Context(), s, tok); err != nil {
		t.Fatalf("Create() = %v; want nil", err)
	}
	f := subscribe(t, t.Context(), st)

	p.down()
	for name, call := range map[string]func(ctx context.Context) error{
		"Ping":   st.Ping,
		"Get":    func(ctx context.Context) error { _, err := st.Get(ctx, s.ID); return err },
		"Lookup": func(ctx context.Context) error { _, _, err := st.Lookup(ctx, tok.Hash); return err },
		"Touch":  func(ctx context.Context) error { return st.Touch(ctx, s.ID, t0, t0.Add(time.Hour)) },
		"Revoke": func(ctx context.Context) error {
			_, err := st.Revoke(ctx, s.ID, t0.Add(time.Minute), sessiond.ReasonAdmin)
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		err := call(ctx)
		cancel()
		if !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("%s during an outage = %v; want ErrStoreUnavailable", name, err)
		}
	}
	// A deadline that runs out against an unreachable server is
	// unavailability too.
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	_, err = st.Get(ctx, s.ID)
	cancel()
	if !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("Get(1ms deadline) during an outage = %v; want ErrStoreUnavailable", err)
	}

	p.up()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := st.Ping(t.Context())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping() 10s after the outage ended = %v; want nil", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := st.Get(t.Context(), s.ID); err != nil || got.Revoked() {
		t.Errorf("Get() after the outage = %v, %v; want the session, not revoked (nothing was decided)", got, err)
	}
	// The listener lost its connection too: it reconnects and resyncs.
	select {
	case <-f.resync:
	case <-time.After(15 * time.Second):
		t.Fatal("resync not called within 15s of the outage ending")
	}
	if _, err := st.Revoke(t.Context(), s.ID, t0.Add(time.Minute), sessiond.ReasonAdmin); err != nil {
		t.Fatalf("Revoke() after the outage = %v; want nil", err)
	}
	f.expect(t, sessiond.Revocation{SessionID: s.ID, Subject: "alice", RevokedAt: t0.Add(time.Minute), ExpiresAt: s.ExpiresAt, Reason: sessiond.ReasonAdmin})
}

func TestStore_Closed(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	if _, err := st.Get(t.Context(), sessiond.NewSessionID()); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("Get() after Close = %v; want ErrStoreUnavailable", err)
	}
	if err := st.Ping(t.Context()); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("Ping() after Close = %v; want ErrStoreUnavailable", err)
	}
}

func TestStore_OpsClosed(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	st.Close()
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"AppendEvents": func() error { return st.AppendEvents(ctx, sessiond.Event{ID: "evt_1"}) },
		"QueryEvents":  func() error { _, _, err := st.QueryEvents(ctx, sessiond.EventQuery{}); return err },
		"DeleteEventsBefore": func() error {
			_, err := st.DeleteEventsBefore(ctx, t0, 1)
			return err
		},
		"EnqueueDeliveries": func() error { return st.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "msg_1"}) },
		"ClaimDeliveries": func() error {
			_, err := st.ClaimDeliveries(ctx, t0, 1, time.Minute)
			return err
		},
		"FinishDelivery": func() error {
			return st.FinishDelivery(ctx, "msg_1", sessiond.DeliveryDead, 1, t0, "", t0)
		},
		"ListDeliveries": func() error { _, err := st.ListDeliveries(ctx, sessiond.DeliveryDead, 1); return err },
		"CountDeliveries": func() error {
			_, err := st.CountDeliveries(ctx, sessiond.DeliveryPending)
			return err
		},
		"DeleteDeliveriesBefore": func() error {
			_, err := st.DeleteDeliveriesBefore(ctx, t0, 1)
			return err
		},
		"RevokeMatching": func() error {
			_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t0, sessiond.ReasonIncident)
			return err
		},
		"CountLive": func() error { _, err := st.CountLive(ctx, t0); return err },
	} {
		if err := call(); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("%s after Close = %v; want ErrStoreUnavailable", name, err)
		}
	}
}
