package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// mountSSF puts the push endpoint of every ssf.receivers item in front of
// the API handler. The jti of each SET is remembered in the store
// (sessiond.ReplayGuard) until its iat window has passed, so a replay is
// refused on every node; received SETs go to the event log.
// Receivers with delivery poll get a poller each, run by bg.
// The transmitter's routes, when it is on, come before the API too.
func mountSSF(cfg config.Config, api http.Handler, mgr *sessiond.Manager, store sessiond.Store, tx *ssfTransmitter,
	events sessiond.EventSink, clock sessiond.Clock, log *slog.Logger, getenv func(string) string, bg *background) (http.Handler, error) {
	if len(cfg.SSF.Receivers) == 0 && tx == nil {
		return api, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	routes := ssfRoutes{api: api, push: map[string]http.Handler{}, tx: tx.sink()}
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
			Revoker: mgr, Replay: replayOrMemory(store), Events: events, BearerToken: bearer, Clock: clock, Logger: log})
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

// ssfRoutes sends an exact push path to its receiver, the transmitter's
// paths to it, and everything else, untouched, to the API.
type ssfRoutes struct {
	api  http.Handler
	push map[string]http.Handler
	tx   *ssf.Transmitter // nil when off
}

func (s ssfRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := s.push[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if s.tx != nil && s.tx.Handles(r.URL.Path) {
		s.tx.ServeHTTP(w, r)
		return
	}
	s.api.ServeHTTP(w, r)
}

// replayOrMemory is the store's shared one-time keys, or this node's memory
// for a store without them (none that sessiond ships).
func replayOrMemory(store sessiond.Store) sessiond.ReplayGuard {
	if g := replayGuard(store); g != nil {
		return g
	}
	return &sessiond.ReplayMemory{}
}

// ssfTransmitter is sessiond as a Shared Signals transmitter. It is made
// before the Manager (the webhook dispatcher carries its SETs and the
// event fanout feeds it) and bound to the signing keys and API keys once
// they exist.
type ssfTransmitter struct {
	tx *ssf.Transmitter
	// Set by bind while the dispatcher may already be running.
	keys    atomic.Pointer[signing.Keys]
	apiKeys atomic.Pointer[apikey.Keys]
}

// buildTransmitter returns nil when ssf.transmitter is off.
func buildTransmitter(cfg config.Config, meta sessiond.MetaStore, outbox sessiond.Outbox, clock sessiond.Clock, log *slog.Logger) (*ssfTransmitter, error) {
	if !cfg.SSF.Transmitter.Enabled {
		return nil, nil
	}
	if outbox == nil {
		return nil, fmt.Errorf("the ssf transmitter needs a store with an outbox: %w", sessiond.ErrUnsupported)
	}
	t := &ssfTransmitter{}
	tx, err := ssf.NewTransmitter(ssf.TransmitterOptions{
		Issuer: cfg.SSF.Transmitter.Issuer, Meta: meta, Outbox: outbox, Signer: t, Authenticate: t.authenticate,
		AllowHTTP: cfg.Environment == config.EnvDevelopment, Clock: clock, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("ssf.transmitter: %w: %w", err, ErrInvalidConfig)
	}
	t.tx = tx
	return t, nil
}

// bind hands over the signing and API keys; called before serving.
func (t *ssfTransmitter) bind(keys *signing.Keys, apiKeys *apikey.Keys) {
	if t != nil {
		t.keys.Store(keys)
		t.apiKeys.Store(apiKeys)
	}
}

// SignJWS signs with the deployment's signing key ring.
func (t *ssfTransmitter) SignJWS(now time.Time, typ string, payload []byte) (string, error) {
	keys := t.keys.Load()
	if keys == nil {
		return "", fmt.Errorf("ssf: no signing keys: %w", sessiond.ErrUnsupported)
	}
	return keys.Ring().SignJWS(now, typ, payload)
}

func (t *ssfTransmitter) authenticate(ctx context.Context, bearer string) (string, bool, error) {
	apiKeys := t.apiKeys.Load()
	if apiKeys == nil {
		return "", false, ssf.ErrUnauthorized
	}
	k, err := apiKeys.Authenticate(ctx, sessiond.Secret(bearer))
	switch {
	case errors.Is(err, apikey.ErrUnauthorized):
		return "", false, ssf.ErrUnauthorized
	case err != nil:
		return "", false, err
	case !k.Allows(apikey.ScopeSSF):
		return "", false, ssf.ErrForbidden
	}
	return k.ID, k.Allows(apikey.ScopeAdmin), nil
}

// senders are the webhook dispatcher's extra senders.
func (t *ssfTransmitter) senders() []webhook.Sender {
	if t == nil {
		return nil
	}
	return []webhook.Sender{t.tx}
}

// sink is where the event fanout sends events; nil when off.
func (t *ssfTransmitter) sink() *ssf.Transmitter {
	if t == nil {
		return nil
	}
	return t.tx
}
