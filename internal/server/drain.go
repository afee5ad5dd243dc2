package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/httpapi"
)

// drain is the first step of a stop (server.shutdown_delay): the node
// keeps serving but answers /readyz with 503 and closes each connection
// after its answer, so that load balancers stop sending it requests and
// keep-alive clients reconnect elsewhere between requests. Closing the
// listeners at once instead refuses the requests a balancer still routes
// here, and closes idle keep-alive connections under requests already on
// the wire, which a proxy does not retry when they are POSTs (NGINX's
// proxy_next_upstream): a verify fails, or a refresh whose rotation
// committed loses its answer.
type drain struct {
	on atomic.Bool
}

// handler marks every answer given while draining Connection: close. On
// HTTP/2, net/http turns the header into a GOAWAY.
func (d *drain) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.on.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// ready is /readyz's check: not ready while draining, else next.
func (d *drain) ready(next func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if d.on.Load() {
			return httpapi.ErrShuttingDown
		}
		return next(ctx)
	}
}

// run drains for delay, or until again receives (a second signal) or a
// server fails, whose error it returns.
func (d *drain) run(delay time.Duration, again <-chan struct{}, errc <-chan error, log *slog.Logger) error {
	d.on.Store(true)
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-again:
		log.Info("shutdown delay cut short by a second signal")
	case err := <-errc:
		return err
	}
	return nil
}
