package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// buildConsole builds the operator console when console.enabled is set
// (nil handler otherwise) and returns it with the function that closes it.
func buildConsole(ctx context.Context, cfg config.Config, mgr *sessiond.Manager, keys *apikey.Keys, signer *signing.Keys, events *fanout, incident func(context.Context, httpapi.IncidentRequest) (int, error), log *slog.Logger) (http.Handler, func(), error) {
	if !cfg.Console.Enabled {
		return nil, func() {}, nil
	}
	o := console.Options{Manager: mgr, Keys: keys, Events: events.log, Incident: incident,
		Record: func(ctx context.Context, e sessiond.Event) { events.emit(ctx, e) },
		Idle:   cfg.Console.IdleTimeout.Std(), Logger: log}
	if signer != nil {
		o.Signing = signer
	}
	c, err := console.New(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

// withConsole serves the console at /console in front of the API handler
// (when there is no admin listener to put it on).
func withConsole(api, con http.Handler) http.Handler {
	if con == nil {
		return api
	}
	mux := http.NewServeMux()
	mountConsole(mux, con)
	mux.Handle("/", api)
	return mux
}

func mountConsole(mux *http.ServeMux, con http.Handler) {
	if con == nil {
		return
	}
	mux.Handle(console.Prefix, con)
	mux.Handle(console.Prefix+"/", con)
}
