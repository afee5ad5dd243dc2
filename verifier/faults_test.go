package verifier_test

// The network and the server failing under the verifier: a TCP proxy
// between the verifier and the server freezes connections (the server
// vanishes without FIN or RST), drips bytes, or cuts a stream mid-event.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
)

// faultProxy forwards TCP connections to a server, until told otherwise.
type faultProxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*proxyConn
	drip   bool // new connections deliver the server's bytes one at a time
	accept int  // connections accepted
}

// proxyConn is one proxied connection. Frozen, it forwards nothing in
// either direction and closes nothing: a half-open connection.
type proxyConn struct {
	client, server net.Conn
	mu             sync.Mutex
	frozen         bool
	thaw           chan struct{}
}

func newFaultProxy(t testing.TB, serverURL string) *faultProxy {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln, target: u.Host}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.client.Close()
			c.server.Close()
			c.unfreeze()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				continue
			}
			c := &proxyConn{client: client, server: server, thaw: make(chan struct{})}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.accept++
			drip := p.drip
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); c.pump(server, client, false) }()
			go func() { defer wg.Done(); c.pump(client, server, drip) }()
		}
	}()
	return p
}

func (p *faultProxy) url() string { return "http://" + p.ln.Addr().String() }

// freezeAll turns every open connection half-open; new ones still forward.
func (p *faultProxy) freezeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.mu.Lock()
		c.frozen = true
		c.mu.Unlock()
	}
}

func (p *faultProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accept
}

func (c *proxyConn) unfreeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.frozen = false
		close(c.thaw)
	}
}

// pump copies from src to dst; frozen, it holds what it read and stops
// (neither end learns anything). drip writes one byte at a time.
func (c *proxyConn) pump(dst, src net.Conn, drip bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		c.mu.Lock()
		frozen, thaw := c.frozen, c.thaw
		c.mu.Unlock()
		if frozen {
			<-thaw // until the test ends
			return
		}
		if n > 0 {
			step := n
			if drip {
				step = 1
			}
			for i := 0; i < n; i += step {
				if _, werr := dst.Write(buf[i:min(i+step, n)]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

// The server vanishes mid-stream without FIN or RST: the verifier keeps
// the state it has (a revocation made meanwhile is not known to it), turns
// stale MaxStaleness after the last heartbeat whether or not it notices,
// drops the connection after IdleTimeout, and on a new one catches up from
// its cursor: the revocation made while it was cut off is applied and no
// snapshot is loaded.
func TestFaults_HalfOpenStream(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	p := newFaultProxy(t, s.srv.URL)
	sid, tok := s.token("hana")
	_, other := s.token("ivo")
	v, _ := s.newVerifier(func(o *verifier.Options) {
		o.URL = p.url()
		o.IdleTimeout = 300 * time.Millisecond // real time: the clock below is fake
	})
	eventually(t, "connected", func() bool { return v.Status().Connected })
	p.freezeAll()
	revokeLogout(t, s, sid)

	// Until MaxStaleness the verifier cannot know: the documented window.
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within MaxStaleness, cut off: Verify(revoked meanwhile) = %v; want it accepted (the documented window)", err)
	}
	s.clock.Advance(verifier.DefaultMaxStaleness + time.Second)
	if _, err := v.Verify(context.Background(), other); !errors.Is(err, verifier.ErrStale) {
		t.Errorf("MaxStaleness after the last heartbeat, cut off: Verify = %v; want ErrStale", err)
	}
	// New connections go through: the verifier must give up the frozen one.
	eventually(t, "the revocation made while cut off is applied after a reconnection", func() bool {
		_, err := v.Verify(context.Background(), tok)
		return errors.Is(err, sessiond.ErrRevoked)
	})
	// The catch-up's heartbeat, which makes the state current again, may
	// come in a later write than the revocation.
	eventually(t, "after catching up, a live session's token accepted (current again)", func() bool {
		_, err := v.Verify(context.Background(), other)
		return err == nil
	})
	if p.accepted() < 2 {
		t.Errorf("connections through the proxy = %d; want a reconnection", p.accepted())
	}
	if st := v.Status(); st.Snapshots != 1 {
		t.Errorf("Snapshots = %d; want 1 (the catch-up resumes with Last-Event-ID)", st.Snapshots)
	}
}

// Every byte of the stream arriving on its own (a slow, dripping path)
// splits lines, events and UTF-8 characters anywhere: the verifier
// applies the same events.
func TestFaults_DripSplitsEverywhere(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	p := newFaultProxy(t, s.srv.URL)
	p.mu.Lock()
	p.drip = true
	p.mu.Unlock()
	sid, tok := s.token("zoë☃") // a subject with two- and three-byte characters
	v, _ := s.newVerifier(func(o *verifier.Options) { o.URL = p.url() })
	eventually(t, "connected", func() bool { return v.Status().Connected })
	revokeLogout(t, s, sid)
	eventually(t, "revocation applied byte by byte", func() bool {
		_, err := v.Verify(context.Background(), tok)
		return errors.Is(err, sessiond.ErrRevoked)
	})
	if st := v.Status(); st.Stale {
		t.Errorf("Status after a dripped stream = %+v; want not stale", st)
	}
}

// A proxy that keeps an idle stream open with comments of its own while
// the node behind it is stuck: the comments are no word from sessiond, so
// they must not hold the verifier on that connection. It drops it after
// IdleTimeout, as it drops a silent one, and reconnects (to a healthy
// node, if there is one) instead of staying stale for as long as the
// proxy keeps talking.
func TestFaults_KeepAliveCommentsDoNotHoldADeadStream(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	var conns atomic.Int64
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != stream.StreamPath || conns.Add(1) > 1 {
			return false // later connections: the real stream
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, ": heartbeat\nid: %s\n\n", stream.CursorAt(s.clock.Now()))
		w.(http.Flusher).Flush()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return true
			case <-tick.C:
				fmt.Fprint(w, ": keep-alive\n\n") // the proxy's, not sessiond's
				w.(http.Flusher).Flush()
			}
		}
	})
	v, _ := s.newVerifier(func(o *verifier.Options) { o.IdleTimeout = 300 * time.Millisecond })
	eventually(t, "the verifier leaves a stream that brings only a proxy's comments and reconnects", func() bool {
		return conns.Load() >= 2
	})
	_ = v
}

// While the JWKS endpoint hangs (a half-open connection, a stuck node), a
// request with a kid the verifier does not know waits for the one fetch
// under way, or its own context, whichever ends first; it never queues
// behind that fetch to start another (each up to 10 s), which would let a
// burst of made-up kids hold every such request for minutes, a token of a
// newly rotated key among them. The Node verifier shares the fetch too.
func TestFaults_UnknownKidJoinsTheJWKSFetchUnderWay(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(func(o *verifier.Options) { o.MinRefetchInterval = time.Millisecond })
	if err := s.ring.Rotate(s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, fresh := s.token("kim")       // signed by a kid the verifier has not seen
	time.Sleep(2 * time.Millisecond) // past MinRefetchInterval since New's fetch

	arrived, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	var firstOver atomic.Bool // the first refetch has ended
	first.Store(true)
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/.well-known/jwks.json" {
			return false
		}
		if first.CompareAndSwap(true, false) {
			defer firstOver.Store(true)
			close(arrived)
		}
		select { // hangs, as a half-open connection does
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	defer close(release)
	go v.Verify(context.Background(), fresh) // starts the fetch
	<-arrived

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a client that has given up
	_, err := v.Verify(ctx, fresh)
	if firstOver.Load() {
		t.Fatalf("Verify of an unknown kid returned only after the JWKS fetch under way had ended: it queued behind it")
	}
	if !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("Verify of an unknown kid while the JWKS hangs = %v; want ErrInvalidToken", err)
	}
}

// A reset reloads the JWKS (keys may have been retired while events were
// lost). A token of a key that fetch will bring, arriving while it is
// under way, waits for it rather than being refused because a fetch
// started within MinRefetchInterval: the fetch under way is not only one
// an unknown kid started (the Node verifier waits for any, too).
func TestFaults_UnknownKidWaitsForTheReloadUnderWay(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	arrived, release := make(chan struct{}), make(chan struct{})
	var streams, jwks atomic.Int64
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == stream.StreamPath && streams.Add(1) == 1:
			// The first connection is reset: the verifier reloads.
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			stream.WriteEvent(w, stream.EventReset, stream.CursorAt(s.clock.Now()), stream.Reset{Reason: "cursor_too_old"})
			return true
		case r.URL.Path == "/.well-known/jwks.json" && jwks.Add(1) == 2:
			// The reload's fetch (New's was the first) hangs until
			// released, then brings the keys as they are by then.
			close(arrived)
			<-release
		}
		return false
	})
	// No refetch of its own within the test: only the reload fetches.
	v, _ := s.newVerifier(func(o *verifier.Options) { o.MinRefetchInterval = time.Hour })
	<-arrived
	if err := s.ring.Rotate(s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, fresh := s.token("lou") // signed by a kid only the reload's fetch brings
	go func() {
		// However soon this releases the fetch, a Verify that waits for
		// it succeeds; one that does not wait fails unless it reached
		// the key lookup only after the fetch ended.
		time.Sleep(300 * time.Millisecond)
		close(release)
	}()
	if _, err := v.Verify(context.Background(), fresh); err != nil {
		t.Errorf("a token of a key the reload's JWKS fetch under way brings: Verify = %v; want it verified once that fetch ends", err)
	}
}

// A reload's JWKS fetch that hangs for longer than MinRefetchInterval is
// joined too: a request with an unknown kid waits for it or for its own
// context, and does not queue behind it to start a fetch of its own.
func TestFaults_UnknownKidJoinsAHangingReload(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	arrived, release := make(chan struct{}), make(chan struct{})
	var streams, jwks atomic.Int64
	var over atomic.Bool // the reload's fetch has ended
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == stream.StreamPath && streams.Add(1) == 1:
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			stream.WriteEvent(w, stream.EventReset, stream.CursorAt(s.clock.Now()), stream.Reset{Reason: "cursor_too_old"})
			return true
		case r.URL.Path == "/.well-known/jwks.json" && jwks.Add(1) == 2:
			defer over.Store(true)
			close(arrived)
			<-release
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	v, _ := s.newVerifier(func(o *verifier.Options) { o.MinRefetchInterval = time.Millisecond })
	<-arrived
	// Ends the hanging fetch should the Verify below queue behind it.
	stop := time.AfterFunc(5*time.Second, func() { close(release) })
	defer func() {
		if stop.Stop() {
			close(release)
		}
	}()
	if err := s.ring.Rotate(s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, fresh := s.token("mo")
	time.Sleep(2 * time.Millisecond) // past MinRefetchInterval since the reload's fetch began
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a client that has given up
	_, err := v.Verify(ctx, fresh)
	if over.Load() {
		t.Fatal("Verify of an unknown kid returned only after the reload's JWKS fetch had ended: it queued behind it")
	}
	if !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("Verify of an unknown kid while the reload's fetch hangs = %v; want ErrInvalidToken", err)
	}
}
