package server

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Each connection the server holds costs a file descriptor and about 20 KB
// (its goroutine and buffers), and a client can hold one idle for
// server.idle_timeout with one request. Without a bound, a client opening
// connections exhausts the process's descriptors first: the store's
// connections, the webhooks' and the data files then fail for every user.
// The API listener so holds at most as many connections as the descriptor
// limit allows, less a reserve for everything else; over it, new
// connections wait in the kernel's accept queue until one closes. The
// admin listener (server.admin_listen) is bounded too, with a small share
// of the same budget: it is as reachable by a client that holds
// connections open, and serves only scrapers, probes and operators.

// defaultMaxConns bounds connections where the descriptor limit cannot be
// read.
const defaultMaxConns = 16384

// maxConns is the connection bound for a descriptor limit of fds (0:
// unknown) and a store holding up to held descriptors of its own (its
// pool and listeners): fds less an eighth of it, and at least 256, kept
// for the rest of the process (half of fds when that is tiny), less held.
// The store's pool comes out of the connections' share, not the reserve:
// a pool larger than the reserve would otherwise leave a node full of idle
// clients unable to reach its store, and out of descriptors (EMFILE) for
// everything else.
func maxConns(fds uint64, held int) int {
	n := defaultMaxConns
	if fds > 0 {
		n = int(min(fds, 1<<21))
		reserve := max(n/8, 256)
		if n < 2*reserve {
			n = max(n/2, 1)
		} else {
			n = min(n-reserve, 1<<20)
		}
	}
	return max(n-held, 1)
}

// adminMaxConns bounds the admin listener's connections: a few Prometheus
// scrapers, health probes and console users need far fewer, and the API
// listener keeps the rest of the budget.
const adminMaxConns = 64

// splitConns divides the budget of connections (maxConns) between the
// API listener and, when there is one, the admin listener: the admin one
// gets adminMaxConns (an eighth of a tiny budget), the API one the rest.
// An api or adm over 0 (Options.MaxConns, Options.AdminMaxConns) is taken
// as given.
func splitConns(budget, api, adm int, admin bool) (int, int) {
	if !admin {
		adm = 0
	} else if adm <= 0 {
		adm = min(adminMaxConns, max(budget/8, 1))
	}
	if api <= 0 {
		api = max(budget-adm, 1)
	}
	return api, adm
}

// limitListener accepts at most cap(sem) connections at once: Accept waits
// for one of them to close before it accepts another.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{} // closed by Close: a waiting Accept returns
	once sync.Once
	name string // "api" or "admin", in the warning
	log  *slog.Logger
	// warned is when the last warning that the bound was reached was
	// logged (at most one a minute); only the one goroutine calling Accept
	// touches it.
	warned time.Time
}

func limitConns(ln net.Listener, n int, name string, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{}), name: name, log: log}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	default:
		if now := time.Now(); now.Sub(l.warned) >= time.Minute {
			l.warned = now
			l.log.Warn("connection limit reached; new connections wait until one closes", "listener", l.name, "limit", cap(l.sem))
		}
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection when it can: net/http does so
// before closing one with unread request data (a 413, a 400), so that the
// client reads the answer rather than a reset. It finds the method by type
// assertion, which the embedded net.Conn would hide.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps the connection's own (sendfile on TCP), which net/http
// also finds by type assertion.
func (c *limitConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
