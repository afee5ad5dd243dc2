package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
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

// shutdown is the server's ordered teardown, in reverse order of
// construction: the HTTP servers stop taking requests and finish the
// in-flight ones, then the background loops stop and are joined, then the
// Manager closes (its own loops), and last the store closes, when nothing
// can use it any more.
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
}

// run performs the teardown; every step runs even if an earlier one failed.
func (s *shutdown) run() {
	if len(s.servers) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), s.grace)
		for _, srv := range s.servers {
			if err := srv.Shutdown(ctx); err != nil {
				s.log.Warn("graceful shutdown cut short", "err", err)
			}
		}
		cancel()
	}
	// A handler whose store call never returns must not hold the
	// teardown: the store's Close, at the end, is what can free it. One
	// grace for them all, so that the teardown stays within two graces
	// (an orchestrator's kill deadline is often 30 s).
	hctx, hcancel := context.WithTimeout(context.Background(), s.grace)
	for _, closeHandler := range s.handlers {
		if err := closeHandler(hctx); err != nil {
			s.log.Error("close handlers", "err", err)
		}
	}
	hcancel()
	s.bg.stop()
	if s.mgr != nil {
		s.mgr.Close()
	}
	if s.keys != nil {
		s.keys.Close()
	}
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
