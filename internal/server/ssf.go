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
// Receivers with delivery poll get a poller each, run by bg.
func mountSSF(cfg config.Config, api http.Handler, mgr *sessiond.Manager, store sessiond.Store,
	events sessiond.EventSink, clock sessiond.Clock, log *slog.Logger, getenv func(string) string, bg *background) (http.Handler, error) {
	if len(cfg.SSF.Receivers) == 0 {
		return api, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	routes := ssfRoutes{api: api, push: map[string]http.Handler{}}
	var pollers []*ssf.Poller
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
		if rc.Delivery == config.SSFDeliveryPoll {
			auth, err := pollAuthorization(rc, getenv)
			if err != nil {
				return nil, fmt.Errorf("ssf.receivers.%d.poll_authorization_file: %w", i, err)
			}
			p, err := r.NewPoller(ssf.PollOptions{URL: rc.PollURL, Authorization: auth, Interval: rc.PollInterval.Std()})
			if err != nil {
				return nil, fmt.Errorf("ssf.receivers.%d: %w: %w", i, err, ErrInvalidConfig)
			}
			pollers = append(pollers, p)
			log.Info("shared signals receiver polling", "name", rc.Name, "issuer", rc.Issuer)
			continue
		}
		routes.push[rc.Path] = r
		log.Info("shared signals receiver enabled", "name", rc.Name, "path", rc.Path, "issuer", rc.Issuer)
	}
	for _, p := range pollers {
		bg.Go(p.Run)
	}
	return routes, nil
}

// pollAuthorization is the Authorization header a poller sends:
// SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION, else poll_authorization_file.
func pollAuthorization(rc config.SSFReceiver, getenv func(string) string) (string, error) {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, rc.Name)
	if v := getenv("SESSIOND_SSF_" + name + "_POLL_AUTHORIZATION"); v != "" {
		return strings.TrimSpace(v), nil
	}
	if rc.PollAuthorizationFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(rc.PollAuthorizationFile)
	return strings.TrimSpace(string(b)), err
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
