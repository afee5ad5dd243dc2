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
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/webhook"
)

// consoleParts are what the console shows and acts on, from Run.
type consoleParts struct {
	mgr       *sessiond.Manager
	keys      *apikey.Keys
	signer    *signing.Keys
	events    *fanout
	incident  func(context.Context, httpapi.IncidentRequest) (int, error)
	outbox    sessiond.Outbox
	endpoints []webhook.Endpoint
	live      *liveCount   // nil when the store counts no live sessions
	depth     *outboxDepth // nil when the store keeps no outbox
	clock     sessiond.Clock
}

// buildConsole builds the operator console when console.enabled is set
// (nil handler otherwise) and returns it with the function that ends its
// live tails, for RegisterOnShutdown of every server that serves it (a
// graceful stop would otherwise wait for an events page left open), and
// the function that closes it.
func buildConsole(ctx context.Context, o Options, p consoleParts, log *slog.Logger) (h http.Handler, endTails func(), closeConsole func(context.Context) error, err error) {
	cfg := o.Config
	if !cfg.Console.Enabled {
		return nil, func() {}, func(context.Context) error { return nil }, nil
	}
	co := console.Options{Manager: p.mgr, Keys: p.keys, Events: p.events.log, Incident: p.incident,
		// The console logs a lost event and undoes a sign-in that has none.
		Record: p.events.emitChecked,
		Idle:   cfg.Console.IdleTimeout.Std(), Logger: log, Clock: p.clock,
		LogIPPrefixes:   cfg.Events.IPPrefixes(),
		RequestDeadline: httpapi.RequestDeadline(cfg.Server.WriteTimeout.Std()),
		Outbox:          p.outbox,
		// Its key changes are written with their events, as the API's are.
		KeyEvents: changeRecorder{p.events},
		Findings:  config.Validate(cfg, o.Doc, cfg.Environment),
		// Sign-in attempts are API-key authentications from one address:
		// the same limit as the API's failed authentications.
		SignInLimit: ratelimit.New(ratelimit.Options{Rate: cfg.RateLimit.AuthFailures.PerSecond(),
			Burst: cfg.RateLimit.AuthFailures.Burst, Clock: p.clock}),
	}
	if p.signer != nil {
		co.Signing = p.signer
	}
	// The overview and the webhooks page share the metrics' counts: a
	// console left refreshing must not add a scan of the sessions table
	// or the outbox per view.
	if p.live != nil {
		co.Live = func(ctx context.Context) (int, console.Counted, error) {
			v, err := p.live.view(ctx)
			n := 0
			for _, c := range v.counts {
				n += c
			}
			return n, console.Counted{At: v.at, FailedAt: v.failedAt}, err
		}
	}
	if p.depth != nil {
		co.OutboxDepth = func(ctx context.Context) (int, int, console.Counted, error) {
			v, err := p.depth.view(ctx)
			return v.counts[sessiond.DeliveryPending], v.counts[sessiond.DeliveryDead], console.Counted{At: v.at, FailedAt: v.failedAt}, err
		}
	}
	for _, ep := range p.endpoints {
		e := console.Endpoint{Name: ep.Name, URL: ep.URL, MaxAttempts: ep.MaxAttempts}
		if e.MaxAttempts == 0 {
			e.MaxAttempts = webhook.DefaultMaxAttempts
		}
		for _, t := range ep.Events {
			e.Events = append(e.Events, string(t))
		}
		co.Webhooks = append(co.Webhooks, e)
	}
	c, err := console.New(ctx, co)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, c.EndTails, c.Shutdown, nil
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
	return canonical(mux, api)
}

func mountConsole(mux *http.ServeMux, con http.Handler) {
	if con == nil {
		return
	}
	mux.Handle(console.Prefix, con)
	mux.Handle(console.Prefix+"/", con)
}
