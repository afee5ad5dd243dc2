package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// background owns the server's long-running loops (webhook dispatcher,
// retention, key ring, TLS and admin listeners): they all run on one
// context, and stop cancels it and waits for every one to return, so
// nothing is mid-call on the store when it closes.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	g      errgroup.Group
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// Go runs loop until the background context ends. loop must return soon
// after its context is done.
func (b *background) Go(loop func(ctx context.Context)) {
	b.g.Go(func() error {
		loop(b.ctx)
		return nil
	})
}

// stop cancels every loop and waits for all of them.
func (b *background) stop() {
	b.cancel()
	_ = b.g.Wait() // loops report their own errors; none is returned
}

// ErrStoppedNow: a further SIGTERM or SIGINT arrived during the teardown,
// which was left unfinished (what it cut is logged).
var ErrStoppedNow = errors.New("stopped at once by a further signal, before the graceful stop finished")

// shutdown is the server's ordered teardown, in reverse order of
// construction: the HTTP servers stop taking requests and finish the
// in-flight ones, then the background loops stop and are joined, then the
// Manager closes (its own loops), and last the store closes, when nothing
// can use it any more.
//
// All of it ends within grace (server.shutdown_timeout), which is what
// SD-SERVER-008 and the shipped kill deadlines count after the delay: an
// orchestrator's SIGKILL would cut the same steps without a word.
type shutdown struct {
	log     *slog.Logger
	grace   time.Duration
	servers []*http.Server
	// handlers close what the servers' handlers hold (the console's own
	// session manager), once the servers have finished their requests;
	// each waits for what is still running at most until its ctx ends.
	handlers []func(ctx context.Context) error
	bg       *background
	mgr      *sessiond.Manager
	keys     *signing.Keys
	store    sessiond.Store
	// again receives a further SIGTERM or SIGINT: stop at once.
	again <-chan struct{}
	// unrecorded, if set, counts the webhook deliveries claimed and not yet
	// recorded (webhook.Dispatcher.Unrecorded): what an exit before the
	// teardown's end leaves hidden until its lease runs out.
	unrecorded func() int
}

// cut is what an exit before the teardown's end logs beside the step it
// left. Nothing else is worth the time it has not got: the process's exit
// closes the store's connections (PostgreSQL rolls back a transaction
// left open, Redis applies a command whole or not at all), and SQLite's
// commits are already in its -wal file, which the next start reads.
func (s *shutdown) cut(attrs ...any) []any {
	if s.unrecorded != nil {
		// Each is tried again once its lease runs out, by any node; one
		// whose attempt reached the receiver is sent twice.
		attrs = append(attrs, "webhook_deliveries_unrecorded", s.unrecorded())
	}
	return attrs
}

// tailReserve is the part of grace kept, after the requests in flight,
// for stopping the background loops and closing the store: requests that
// use all of grace would otherwise leave them none, and a webhook attempt
// in flight would go unrecorded even with a store that answers.
func tailReserve(grace time.Duration) time.Duration { return min(grace/4, 5*time.Second) }

// run performs the teardown; every step runs even if an earlier one
// failed. At grace it stops waiting for the step under way and returns
// (logged); at a further signal too, and then returns ErrStoppedNow.
func (s *shutdown) run() error {
	end := time.Now().Add(s.grace)
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(-tailReserve(s.grace)))
	defer cancel()
	var mu sync.Mutex
	step := ""
	at := func(name string) {
		mu.Lock()
		step = name
		mu.Unlock()
	}
	current := func() string {
		mu.Lock()
		defer mu.Unlock()
		return step
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.steps(ctx, at)
	}()
	// shutdown_timeout 0 cuts the requests in flight at once, as it always
	// did, and still waits for the loops and the store's close: there is
	// no bound to exit at.
	var timeout <-chan time.Time
	if s.grace > 0 {
		timer := time.NewTimer(time.Until(end))
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-done:
		return nil
	case <-timeout:
		// Past grace the orchestrator kills the process: exit first,
		// saying what did not finish.
		s.log.Error("shutdown timeout reached: exiting without waiting further", s.cut("waiting_for", current(),
			"shutdown_timeout", s.grace.String())...)
		return nil
	case <-s.again:
		s.log.Error("stopping at once at a further signal: the graceful stop was cut short", s.cut("cut", current())...)
		return ErrStoppedNow
	}
}

// steps is the teardown proper; at names each step as it begins. Requests
// in flight and the handlers' store calls get until ctx ends; the rest
// is not bounded here (run stops waiting for it).
func (s *shutdown) steps(ctx context.Context, at func(string)) {
	if len(s.servers) > 0 {
		at("requests in flight")
		for _, srv := range s.servers {
			if err := srv.Shutdown(ctx); err != nil {
				s.log.Warn("graceful shutdown cut short", "err", err)
			}
		}
	}
	// A handler whose store call never returns must not hold the
	// teardown: the store's Close, at the end, is what can free it.
	at("store calls the API left running")
	for _, closeHandler := range s.handlers {
		if err := closeHandler(ctx); err != nil {
			s.log.Error("close handlers", "err", err)
		}
	}
	at("background loops")
	s.bg.stop()
	if s.mgr != nil {
		at("manager")
		s.mgr.Close()
	}
	if s.keys != nil {
		at("signing keys")
		s.keys.Close()
	}
	at("store close")
	if err := s.store.Close(); err != nil {
		s.log.Error("close store", "err", err)
	}
}

// serve runs srv on ln (TLS when srv.TLSConfig is set) until Shutdown.
func serve(srv *http.Server, ln net.Listener) error {
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
