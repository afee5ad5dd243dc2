// Package servertest runs the real server (internal/server.Run) inside a
// test, on a free loopback port, as net/http/httptest runs a handler.
//
// Only tests import it.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// Config returns a development configuration on the memory store, with
// its data directory in a temporary directory of tb, listening on a free
// loopback port.
func Config(tb testing.TB) config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.Store.Driver = "memory"
	cfg.Environment = config.EnvDevelopment
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.DataDir = tb.TempDir()
	cfg.Server.ShutdownDelay = 0 // no load balancer to wait for: stop at once
	return cfg
}

// GatewayConfig is Config with the browser gateway on, as a test reaches it
// over plain HTTP loopback: cookie.secure off (development allows it),
// cookies named sid and rt, the login page at /login.
func GatewayConfig(tb testing.TB) config.Config {
	tb.Helper()
	cfg := Config(tb)
	cfg.Cookie.Secure = false
	cfg.Cookie.Name, cfg.Cookie.RefreshName = "sid", "rt"
	cfg.Gateway.Enabled = true
	cfg.Gateway.LoginURL = "/login"
	return cfg
}

// Run runs server.Run with o until the test ends and returns the server's
// base URL (http://host:port). It fails tb if the server does not start. A
// nil o.Logger writes the JSON log, as in production, to io.Discard.
func Run(tb testing.TB, o server.Options) string {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	return "http://" + testenv.Serve(tb, func(ctx context.Context, listening func(string)) error {
		o.Listening = listening
		return server.Run(ctx, o)
	})
}
