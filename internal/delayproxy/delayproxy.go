// Package delayproxy is a TCP proxy that adds a round-trip time between
// sessiond and its store, as a PostgreSQL or Redis in another zone has,
// and counts the sequential round trips crossing it. Tests use it to pin
// how many round trips an operation costs; docs/bench/delayproxy.go runs
// it in front of a store for benchmarks (docs/PERFORMANCE.md, "A store
// across the network"). It never touches the network interface (tc/netem
// on lo would slow every process on the host).
package delayproxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are a Proxy's counters since it started or was last Reset.
type Stats struct {
	// Conns counts the connections accepted.
	Conns int64 `json:"conns"`
	// Turnarounds counts the chunks from a client that follow a chunk
	// from the server on their connection (or open it): with one
	// sequential caller, the operation's sequential round trips. Pipelined
	// commands sent together count once; a reply read in pieces does not
	// add any.
	Turnarounds int64 `json:"turnarounds"`
	// ClientChunks and ServerChunks count the reads in each direction.
	ClientChunks int64 `json:"c2s_chunks"`
	ServerChunks int64 `json:"s2c_chunks"`
	// ClientBytes and ServerBytes count the bytes in each direction.
	ClientBytes int64 `json:"c2s_bytes"`
	ServerBytes int64 `json:"s2c_bytes"`
}

// Proxy forwards the connections it accepts to one target. Each direction
// of each connection delays every chunk by half the round trip through a
// FIFO (a reader and a writer goroutine), so the delay adds latency without
// serialising throughput. It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	oneWay atomic.Int64                  // nanoseconds each chunk waits
	trace  func(remote string, b []byte) // Options.Trace
	tap    func(remote string, b []byte) // Options.Tap

	conns, turnarounds, c2s, s2c, c2sBytes, s2cBytes atomic.Int64

	// dialCtx ends at Close: a dial to an upstream that does not answer
	// (SYNs dropped) would otherwise hold Close for the OS's connect
	// timeout, about two minutes on Linux.
	dialCtx    context.Context
	cancelDial context.CancelFunc

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	// thaw is closed when the proxy stops being frozen; nil while it is
	// not (Freeze). closing is closed by Close: it ends every wait.
	thaw    chan struct{}
	closing chan struct{}
}

// Options configures Start.
type Options struct {
	// RTT is the round-trip time added (half each way); zero adds none.
	RTT time.Duration
	// Trace, if set, is called with the client's first chunk of every
	// turnaround; it must be safe for concurrent use and must not keep b.
	Trace func(remote string, b []byte)
	// Tap, if set, is called with every chunk read from a client, in the
	// order read on its connection: what reached the store, whatever the
	// turnarounds (a client that pipelines its callers' commands on one
	// connection sends many in one). It must be safe for concurrent use
	// and must not keep b.
	Tap func(remote string, b []byte)
}

// Start listens on addr (host:port; port 0 picks one) and forwards every
// connection to target. Close it when done.
func Start(addr, target string, o Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, trace: o.Trace, tap: o.Tap, open: map[net.Conn]struct{}{}, closing: make(chan struct{})}
	p.dialCtx, p.cancelDial = context.WithCancel(context.Background())
	p.SetRTT(o.RTT)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetRTT changes the round-trip time added to chunks read from now on.
func (p *Proxy) SetRTT(d time.Duration) { p.oneWay.Store(int64(max(d, 0) / 2)) }

// RTT is the round-trip time added.
func (p *Proxy) RTT() time.Duration { return time.Duration(2 * p.oneWay.Load()) }

// Freeze stops forwarding: from now on every chunk read, in either
// direction, waits until Thaw, as with a store that stopped answering
// (a process stopped, a network partition) while its connections stay
// open. Close ends the wait. A test can freeze a store it shares with
// others this way, which it must not stop.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thaw == nil {
		p.thaw = make(chan struct{})
	}
}

// Thaw forwards again what Freeze held, in order.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thaw != nil {
		close(p.thaw)
		p.thaw = nil
	}
}

// held returns the channel to wait on before writing a chunk, nil when
// the proxy is not frozen.
func (p *Proxy) held() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.thaw
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Conns: p.conns.Load(), Turnarounds: p.turnarounds.Load(),
		ClientChunks: p.c2s.Load(), ServerChunks: p.s2c.Load(),
		ClientBytes: p.c2sBytes.Load(), ServerBytes: p.s2cBytes.Load()}
}

// Reset sets the counters to zero.
func (p *Proxy) Reset() {
	for _, c := range []*atomic.Int64{&p.conns, &p.turnarounds, &p.c2s, &p.s2c, &p.c2sBytes, &p.s2cBytes} {
		c.Store(0)
	}
}

// Close stops listening, closes every connection, ends the dials under
// way and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.cancelDial()
	p.mu.Lock()
	if !p.closed {
		close(p.closing)
	}
	p.closed = true
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track registers c for Close; false once the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors and the like: wait a moment rather
			// than spin a core, as net/http's Serve does.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	var d net.Dialer
	s, err := d.DialContext(p.dialCtx, "tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(s) {
		return
	}
	defer p.untrack(s)
	p.conns.Add(1)
	// last is the direction of the last chunk read: 0 none, 1 client, 2 server.
	var last atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pipe(c, s, &last, true)
		s.Close()
		c.Close()
	}()
	p.pipe(s, c, &last, false)
	s.Close()
	c.Close()
	wg.Wait()
}

type chunk struct {
	due time.Time
	b   []byte
}

// pipe copies src to dst, each chunk written one way's delay after it was
// read: a reader goroutine and this one joined by a FIFO.
func (p *Proxy) pipe(src, dst net.Conn, last *atomic.Int32, fromClient bool) {
	q := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				p.count(src, b[:n], last, fromClient)
				select {
				case q <- chunk{time.Now().Add(time.Duration(p.oneWay.Load())), b[:n]}:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer close(done)
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if thaw := p.held(); thaw != nil {
			select {
			case <-thaw:
			case <-p.closing: // dst is closed: the write below fails
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			src.Close() // ends the reader
			for range q {
			}
			return
		}
	}
}

func (p *Proxy) count(src net.Conn, b []byte, last *atomic.Int32, fromClient bool) {
	if !fromClient {
		p.s2c.Add(1)
		p.s2cBytes.Add(int64(len(b)))
		last.Store(2)
		return
	}
	p.c2s.Add(1)
	p.c2sBytes.Add(int64(len(b)))
	if p.tap != nil {
		p.tap(src.RemoteAddr().String(), b)
	}
	if last.Swap(1) != 1 {
		p.turnarounds.Add(1)
		if p.trace != nil {
			p.trace(src.RemoteAddr().String(), b)
		}
	}
}
