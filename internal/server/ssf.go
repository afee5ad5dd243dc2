package server

import (
	"context"
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
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// mountSSF returns the push endpoint of every ssf.receivers item, by path,
// for the API handler to serve (httpapi.Options.Receivers). The jti of each SET is remembered in the store
// (sessiond.ReplayGuard) until its iat window has passed, so a replay is
// refused on every node; received SETs go to the event log.
// Receivers with delivery poll get a poller each, run by bg. The
// transmitter's routes are the API's (httpapi.Options.SSF); here it
// subscribes to the store's notices of stream list changes.
func mountSSF(cfg config.Config, mgr *sessiond.Manager, store sessiond.Store, tx *ssfTransmitter,
	events sessiond.EventSink, clock sessiond.Clock, log *slog.Logger, getenv func(string) string, bg *background) (map[string]http.Handler, error) {
	if len(cfg.SSF.Receivers) == 0 && tx == nil {
		return nil, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if tx != nil {
		if err := tx.tx.Subscribe(bg.ctx); err != nil {
			return nil, err
		}
	}
	push := map[string]http.Handler{}
	var pollers []*ssf.Poller
	for i, rc := range cfg.SSF.Receivers {
		bearer, err := receiverBearer(i, rc)
		if err != nil {
			return nil, err
		}
		r, err := ssf.New(ssf.Options{Name: rc.Name, Issuer: rc.Issuer, Audience: rc.Audience, JWKSURL: rc.JWKSURL,
			Subject:    ssf.SubjectRule{Format: rc.SubjectFormat, Template: rc.SubjectTemplate, Issuers: rc.SubjectIssuers},
			PollMaxAge: rc.PollMaxAge.Std(),
			Revoker:    mgr, Replay: replayOrMemory(store), Events: events, BearerToken: bearer, Clock: clock, Logger: log})
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
		push[rc.Path] = r
		log.Info("shared signals receiver enabled", "name", rc.Name, "path", rc.Path, "issuer", rc.Issuer)
	}
	for _, p := range pollers {
		bg.Go(p.Run)
	}
	return push, nil
}

// receiverBearer is the bearer token the i-th receiver's push endpoint
// requires (bearer_token_file), "" when none is set.
func receiverBearer(i int, rc config.SSFReceiver) (string, error) {
	if rc.BearerTokenFile == "" {
		return "", nil
	}
	b, err := config.ReadSecretFile(rc.BearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("ssf.receivers.%d.bearer_token_file: %w", i, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// pollAuthorization is the Authorization header a poller sends:
// SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION, else poll_authorization_file.
func pollAuthorization(rc config.SSFReceiver, getenv func(string) string) (string, error) {
	if v := getenv(pollAuthorizationEnv(rc)); v != "" {
		return strings.TrimSpace(v), nil
	}
	if rc.PollAuthorizationFile == "" {
		return "", nil
	}
	b, err := config.ReadSecretFile(rc.PollAuthorizationFile)
	return strings.TrimSpace(string(b)), err
}

// pollAuthorizationEnv is the variable that gives a receiver's poll
// credential: SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION, the name upper-cased
// and every other character than A–Z and 0–9 an underscore.
func pollAuthorizationEnv(rc config.SSFReceiver) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, rc.Name)
	return "SESSIOND_SSF_" + name + "_POLL_AUTHORIZATION"
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
// event fanout feeds it) and bound to the signing keys once they exist.
type ssfTransmitter struct {
	tx *ssf.Transmitter
	// Set by bind while the dispatcher may already be running.
	keys atomic.Pointer[signing.Keys]
}

// buildTransmitter returns nil when ssf.transmitter is off. A push
// stream's authorization header is sealed with the signing KEK when one is
// configured, as the key ring is; a store with a feed carries notices of
// stream list changes to every node; streams created and deleted go to
// events.
func buildTransmitter(cfg config.Config, o Options, meta sessiond.MetaStore, outbox sessiond.Outbox, apiKeys *apikey.Keys,
	events sessiond.EventSink, clock sessiond.Clock, log *slog.Logger) (*ssfTransmitter, error) {
	if !cfg.SSF.Transmitter.Enabled {
		return nil, nil
	}
	if outbox == nil {
		return nil, fmt.Errorf("the ssf transmitter needs a store with an outbox: %w", sessiond.ErrUnsupported)
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	kek, old, err := SigningKEKs(cfg, getenv)
	if err != nil {
		return nil, err
	}
	var sealer ssf.Sealer
	if kek != nil || len(old) > 0 {
		sealer = newKEKSealer(kek, old)
	}
	notifier, _ := meta.(sessiond.MetaNotifier)
	t := &ssfTransmitter{}
	tx, err := ssf.NewTransmitter(ssf.TransmitterOptions{
		Issuer: cfg.SSF.Transmitter.Issuer, Meta: meta, Outbox: outbox, Signer: t, Sealer: sealer, Notifier: notifier,
		CacheFor: o.SSFStreamCache, AllowHTTP: cfg.Environment == config.EnvDevelopment, Events: events, Clock: clock, Logger: log,
		// Development pushes to receivers on the same machine, as it allows
		// http; elsewhere only when the operator opts out (SD-SSF-003).
		AllowPrivate: cfg.Environment == config.EnvDevelopment || cfg.SSF.Transmitter.AllowPrivateEndpoints,
		OwnerActive: func(ctx context.Context, owner string) (bool, error) {
			return apiKeys.Active(ctx, owner, apikey.ScopeSSF)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("ssf.transmitter: %w: %w", err, ErrInvalidConfig)
	}
	t.tx = tx
	return t, nil
}

// bind hands over the signing keys; called before serving.
func (t *ssfTransmitter) bind(keys *signing.Keys) {
	if t != nil {
		t.keys.Store(keys)
	}
}

// kekSealer seals with the signing KEK and opens with it or an old one.
// Given only old KEKs it seals as the signing ring does (signing.Options):
// with the old KEK that opened the last sealed secret it read, else not
// at all (ssf.Sealer: kept in clear), so that a secret once sealed is
// never written back in clear and nothing is sealed before every node can
// open it.
type kekSealer struct {
	kek  *signing.KEK
	old  []*signing.KEK
	seen atomic.Pointer[signing.KEK] // without kek: the old KEK last opened with
}

func newKEKSealer(kek *signing.KEK, old []*signing.KEK) *kekSealer {
	return &kekSealer{kek: kek, old: old}
}

func (k *kekSealer) Seal(name string, secret []byte) ([]byte, error) {
	kek := k.kek
	if kek == nil {
		if kek = k.seen.Load(); kek == nil {
			return nil, nil
		}
	}
	return kek.SealDocument(name, secret)
}

func (k *kekSealer) Open(name string, sealed []byte) ([]byte, error) {
	plain, id, err := signing.OpenDocument(name, sealed, append([]*signing.KEK{k.kek}, k.old...)...)
	if old := writeBackKEK(k.kek, k.old, id); err == nil && k.kek == nil && old != nil {
		k.seen.Store(old)
	}
	return plain, err
}

// SignJWS signs with the deployment's signing key ring.
func (t *ssfTransmitter) SignJWS(now time.Time, typ string, payload []byte) (string, error) {
	keys := t.keys.Load()
	if keys == nil {
		return "", fmt.Errorf("ssf: no signing keys: %w", sessiond.ErrUnsupported)
	}
	return keys.Ring().SignJWS(now, typ, payload)
}

// senders are the webhook dispatcher's extra senders.
func (t *ssfTransmitter) senders() []webhook.Sender {
	if t == nil {
		return nil
	}
	return []webhook.Sender{t.tx}
}

// routes is what serves the transmitter's API routes; nil when off.
func (t *ssfTransmitter) routes() httpapi.SSF {
	if t == nil {
		return nil
	}
	return t.tx
}

// sink is where the event fanout sends events; nil when off.
func (t *ssfTransmitter) sink() *ssf.Transmitter {
	if t == nil {
		return nil
	}
	return t.tx
}
