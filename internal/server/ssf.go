package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/ssf"
)

// mountSSF puts the push endpoint of every ssf.receivers item in front of
// the API handler. The jti of each SET is remembered in the store
// (sessiond.ReplayGuard) until its iat window has passed, so a replay is
// refused on every node; received SETs go to the event log.
func mountSSF(cfg config.Config, api http.Handler, mgr *sessiond.Manager, store sessiond.Store,
	events sessiond.EventSink, clock sessiond.Clock, log *slog.Logger) (http.Handler, error) {
	if len(cfg.SSF.Receivers) == 0 {
		return api, nil
	}
	routes := ssfRoutes{api: api, push: map[string]http.Handler{}}
	for i, rc := range cfg.SSF.Receivers {
		var bearer string
		if rc.BearerTokenFile != "" {
			b, err := os.ReadFile(rc.BearerTokenFile)
			if err != nil {
				return nil, fmt.Errorf("ssf.receivers.%d.bearer_token_file: %w", i, err)
			}
			bearer = strings.TrimSpace(string(b))
		}
		r, err := ssf.New(ssf.Options{Name: rc.Name, Issuer: rc.Issuer, Audience: rc.Audience, JWKSURL: rc.JWKSURL,
			Subject: ssf.SubjectRule{Format: rc.SubjectFormat, Template: rc.SubjectTemplate},
			Revoker: mgr, Replay: replayGuard(store), Events: events, BearerToken: bearer, Clock: clock, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("ssf.receivers.%d: %w: %w", i, err, ErrInvalidConfig)
		}
		routes.push[rc.Path] = r
		log.Info("shared signals receiver enabled", "name", rc.Name, "path", rc.Path, "issuer", rc.Issuer)
	}
	return routes, nil
}

// ssfRoutes sends an exact push path to its receiver and everything else,
// untouched, to the API.
type ssfRoutes struct {
	api  http.Handler
	push map[string]http.Handler
}

func (s ssfRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := s.push[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	s.api.ServeHTTP(w, r)
}

// replayGuard is the store's shared one-time keys, or this node's memory
// for a store without them (none that sessiond ships).
func replayGuard(store sessiond.Store) sessiond.ReplayGuard {
	if g, ok := store.(sessiond.ReplayGuard); ok {
		return g
	}
	return &sessiond.ReplayMemory{}
}
