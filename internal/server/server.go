// Package server runs `sessiond serve`: it validates the configuration,
// opens the store, shares signing and API keys through it, builds the
// Manager and serves the HTTP API until its context ends, then shuts down
// gracefully.
package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sdk"
	"github.com/sessiond/sessiond/webhook"
)

// ErrInvalidConfig: the configuration has error-level findings.
var ErrInvalidConfig = errors.New("configuration has errors")

// ErrStoreSettings: the store refused the settings it was opened with (a
// DSN that does not parse or names another driver's scheme, a namespace it
// cannot use) before it reached the server. Only a change of
// configuration fixes that, unlike a store that does not answer.
var ErrStoreSettings = errors.New("check store.driver, store.dsn (SESSIOND_STORE_DSN) and store.namespace")

// APIKeyFile is the file, in the data directory, that receives the API key
// generated on first start (the validator checks its mode: SD-SECRET-001).
const APIKeyFile = config.APIKeyFile

// Options configure Run.
type Options struct {
	Config config.Config
	// Doc locates findings in the config file; nil when there is none.
	Doc *config.Document
	// APIKey (SESSIOND_API_KEY) is accepted in addition to stored keys.
	APIKey sessiond.Secret
	// HMACSecret is the HS256 secret (jwt.hs256_secret_file or
	// SESSIOND_JWT_HS256_SECRET), when that algorithm is chosen.
	HMACSecret []byte
	// InsecureDev lets a loopback-only server start despite error findings.
	InsecureDev bool
	Logger      *slog.Logger
	// LogLinesLost, if set, counts the log lines Logger lost
	// (LogOutput.Dropped), reported as sessiond_log_lines_lost_total.
	LogLinesLost func() uint64
	Version      string
	// Listening, if set, is called with the bound address once the server
	// accepts connections.
	Listening func(addr string)
	// Findings, if set, receives the validator's findings before start.
	Findings func([]config.Finding)
	// AdminListening, if set, is called with the admin listener's bound
	// address (server.admin_listen) once it accepts connections.
	AdminListening func(addr string)
	// Getenv reads SESSIOND_KEK, and the PG* variables and HOME that
	// name the files pgx reads (warnEnvSecretFiles); nil means os.Getenv.
	Getenv func(string) string
	// Clock is the time source of the server's own loops (event retention,
	// live counts); nil means the system clock.
	Clock sessiond.Clock
	// GCHeadroom lets the heap grow by GCHeadroomBytes between garbage
	// collections (gcheadroom.go). It tunes the process's garbage
	// collector, so only `sessiond serve` sets it, and only without GOGC.
	GCHeadroom bool
	// WatermarkPoll is how often the Manager reads incident watermarks
	// raised on other nodes, as the fallback of the store's feed; 0 means
	// the Manager's default (sessiond.Options.WatermarkPoll).
	WatermarkPoll time.Duration
	// SSFStreamCache is how long a node reuses the Shared Signals stream
	// list, as the fallback of the store's feed; 0 means ssf's default.
	SSFStreamCache time.Duration
	// MaxConns bounds the connections the API listener holds at once
	// (connlimit.go); 0 means from the process's open-file limit, less
	// the admin listener's share.
	MaxConns int
	// AdminMaxConns bounds the connections the admin listener
	// (server.admin_listen) holds at once; 0 means adminMaxConns, within
	// the same budget.
	AdminMaxConns int
	// DriftInterval is how often the node records its settings in the
	// store and compares them with the other nodes' (configdrift.go); 0
	// means DefaultDriftInterval.
	DriftInterval time.Duration
	// Again receives once for every SIGTERM or SIGINT after the one that
	// ended ctx: during the shutdown delay it ends the delay; during the
	// teardown that follows it stops at once (Run returns ErrStoppedNow).
	// nil: the delay runs its course and the teardown its own.
	Again <-chan struct{}
	// TakeAgain, if set, is called once Run reads Again: when the store
	// is open and its ordered teardown set up. Before, while the store
	// opens (a migration waiting for a lock or an index build, its
	// cancel request after the first signal), nothing reads Again: a
	// caller that routes a further signal to Again only from then on
	// stops at once at one that comes during the open.
	TakeAgain func()
}

// Run serves until ctx ends (SIGTERM, SIGINT), then keeps serving, not
// ready, for server.shutdown_delay (or until o.Again receives), then lets
// in-flight requests finish, stops its loops and closes the store, all
// within server.shutdown_timeout.
func Run(ctx context.Context, o Options) (err error) {
	cfg := o.Config
	log := o.Logger
	clock := o.Clock
	if clock == nil {
		clock = sessiond.SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkConfig(o, log); err != nil {
		return err
	}
	// Every file the configuration names, before anything is created.
	if errs := CheckStart(cfg, o.APIKey, o.Getenv); len(errs) > 0 {
		return &StartError{Problems: errs}
	}
	warnTypedEnvSecrets(cfg, o.Getenv, log)
	warnEnvSecretFiles(cfg, o.Getenv, log)

	// SQLite serves one process: a second serve on its file is refused
	// (sqlitelock.go), before it opens the store, which would migrate the
	// schema under the running one; on a new data directory, once the
	// store has made it. Released after the teardown (deferred first, run
	// last) has closed the store.
	release, locked, err := lockStore(cfg)
	if err != nil {
		return err
	}
	if locked {
		defer release()
	}
	store, err := OpenStore(ctx, cfg, log, OpenMode{NoMigrate: cfg.Store.Migrate == config.MigrateManual})
	if errors.Is(err, sessiond.ErrSchemaOutdated) {
		return fmt.Errorf("open store: %w: store.migrate is manual; run `sessiond migrate` with this build first (with --create for a new store)", err)
	}
	if errors.Is(err, sessiond.ErrInvalidArgument) {
		return fmt.Errorf("open store: %w: %w", err, ErrStoreSettings)
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	if !locked {
		if release, locked, err = lockStore(cfg); err != nil || !locked {
			store.Close()
			if err == nil {
				err = fmt.Errorf("lock the SQLite file: %s: no directory after the store opened", filepath.Dir(sqliteDB(cfg)))
			}
			return err
		}
		defer release()
	}
	warnStoreSettings(ctx, store, log)
	// One ordered teardown for every way out of Run: see shutdown.go.
	bgLoops := newBackground()
	down := &shutdown{log: log, grace: cfg.Server.ShutdownTimeout.Std(), bg: bgLoops, store: store, again: o.Again}
	defer func() {
		if derr := down.run(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if o.TakeAgain != nil {
		o.TakeAgain()
	}
	meta, ok := store.(sessiond.MetaStore)
	if !ok {
		return fmt.Errorf("store %s cannot share keys between nodes: %w", cfg.Store.Driver, sessiond.ErrUnsupported)
	}

	bg := bgLoops.ctx

	// Operations: metrics, the durable event log, webhooks, anomalies.
	// The counts read from the store for /metrics are each one count per
	// node, shared by every scrape (and the console's overview), which
	// reports its own failures (sharedcount.go).
	mopts := metrics.Options{Logger: log, LogLinesLost: o.LogLinesLost}
	var live *liveCount
	if lc, ok := store.(sessiond.LiveCounter); ok {
		live = newLiveCount(lc, clock, bgLoops)
		mopts.ActiveSessions = reported(live.get)
	}
	outbox, _ := store.(sessiond.Outbox)
	var depth *outboxDepth
	if outbox != nil {
		depth = newOutboxDepth(outbox, clock, bgLoops)
		mopts.OutboxDepth = reported(depth.get)
	}
	if rs, ok := store.(*redisstore.Store); ok {
		mopts.UnackedRevocations = rs.UnackedRevocations
		mopts.OutOfMemoryRefusals = rs.OutOfMemoryRefusals
	}
	endpoints, err := buildWebhooks(cfg)
	if err != nil {
		return err
	}
	for _, ep := range endpoints {
		mopts.WebhookEndpoints = append(mopts.WebhookEndpoints, ep.Name)
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	kek, oldKEKs, _ := signingKEKs(cfg, getenv) // CheckStart refused them if unreadable
	drift := newConfigDrift(meta, driftSettings(cfg, kek, oldKEKs, endpoints), o.Version, o.DriftInterval, clock, log)
	mopts.ConfigDrift = drift.Differing
	apiKeys := apikey.New(meta, nil, time.Second)
	// Its detached reloads end before the store closes (shutdown.go).
	down.handlers = append(down.handlers, apiKeys.Shutdown)
	// A store that hangs must not hold an API request (a hybrid verify
	// among them) for its whole deadline to re-read the key set: the last
	// set read answers meanwhile (docs/operations.md, "When the store is
	// unavailable").
	apiKeys.BoundReloadWait(250 * time.Millisecond)
	// Loaded before the metrics, which report the served certificate's
	// validity.
	apiTLS, certs, err := tlsConfig(cfg, log)
	if err != nil {
		return err
	}
	if certs != nil {
		mopts.TLSCertificate = certs.Validity
	}
	met, err := metrics.New(mopts)
	if err != nil {
		return err
	}
	events := &fanout{metrics: met, slog: log, clock: clock, ip: cfg.Events.IPPrefixes(), stopping: bgLoops.ctx}
	if live != nil {
		live.failed = events.countFailed("count_sessions")
	}
	if depth != nil {
		depth.failed = events.countFailed("count_deliveries")
	}
	events.log, _ = store.(sessiond.EventLog)
	// The event log and the outbox are this store: when it writes a
	// change's events in the change's transaction, hand them over.
	if w, ok := store.(sessiond.ChangeEventWriter); ok && events.log != nil {
		events.atomic = w.WritesChangeEvents()
	}
	// The transmitter records its stream changes through the fanout, and
	// the fanout hands it every event for its SETs.
	ssfTx, err := buildTransmitter(cfg, o, meta, outbox, apiKeys, events, clock, log)
	if err != nil {
		return err
	}
	events.ssf = ssfTx.sink()
	if len(endpoints) > 0 || ssfTx != nil {
		if outbox == nil {
			return fmt.Errorf("webhooks need a store with an outbox: %w", sessiond.ErrUnsupported)
		}
		events.outbox = outbox
		events.webhooks, err = webhook.New(webhook.Options{Outbox: outbox, Endpoints: endpoints, Logger: log,
			Observer: met.WebhookObserver(), Senders: ssfTx.senders()})
		if err != nil {
			return err
		}
		bgLoops.Go(events.webhooks.Run)
		down.unrecorded = events.webhooks.Unrecorded
	}
	checker, err := buildAnomaly(cfg)
	if err != nil {
		return err
	}
	extra := func(mo *sessiond.Options) {
		mo.Events = events
		mo.Anomalies = checker
		mo.VerifyObserver = func(err error, d time.Duration) { met.ObserveVerify(metrics.VerifyOutcome(err), d) }
		mo.DeviceProofRefusedObserver = met.ObserveDeviceProofRefused
		mo.StoreErrorObserver = events.storeError
	}
	bgLoops.Go(func(ctx context.Context) { retain(ctx, cfg, clock, events.log, outbox, log) })
	if o.GCHeadroom {
		bgLoops.Go(gcHeadroom)
	}

	onRotate := func(kid string) {
		events.emit(bg, sessiond.Event{Type: EventKeysRotated, Details: map[string]any{"kid": kid, "by": "schedule"}})
	}
	mgr, keys, err := buildManager(ctx, cfg, o, store, meta, log, extra, onRotate, events)
	if err != nil {
		return err
	}
	down.mgr, down.keys = mgr, keys
	if err := resealKEKDocuments(ctx, cfg, o.Getenv, meta, log); err != nil {
		return err
	}
	if err := met.InProcess(mgr.Stats); err != nil {
		return err
	}
	if keys != nil {
		bgLoops.Go(keys.Run)
	}
	// A node started with other settings than the running ones says so
	// before it serves; the others notice at their next check. SQLite
	// and memory serve one process: nothing to compare, nothing to write.
	if cfg.Store.Driver != "sqlite" && cfg.Store.Driver != "memory" {
		drift.tick(ctx)
		bgLoops.Go(drift.run)
	}
	// sessiond.New subscribed the Manager to the store's revocation feed
	// (hybrid on PostgreSQL or Redis); mgr.Close ends it.

	if err := bootstrapAPIKey(ctx, cfg, o.APIKey, apiKeys, log); err != nil {
		return err
	}
	// The DPoP and DBSC secrets, registered as they are made, are put
	// back with the key set when the store loses its data.
	secrets := &sharedSecrets{}
	apiKeys.OnReset(apiKeysReset(cfg, o.APIKey, apiKeys, keys, secrets, events, log)) // storereset.go
	ssfTx.bind(keys)

	stopping := &drain{} // shutdown_delay: not ready, still serving (drain.go)
	budget := connBudget(openFileLimit(), store, log)
	nconns, adminConns := splitConns(budget, o.MaxConns, o.AdminMaxConns, cfg.Server.AdminListen != "")
	hopts := httpapi.Options{
		Manager:              mgr,
		Authenticate:         apiKeys.Authenticate,
		Ready:                stopping.ready(readiness(store, apiKeys, keys)),
		Logger:               log,
		LogRequest:           requestFilter(cfg.Log),
		LogIPPrefixes:        cfg.Events.IPPrefixes(),
		MaxBodyBytes:         cfg.Server.MaxBodyBytes,
		Version:              o.Version,
		Events:               events.log,
		Incident:             incident(mgr, keys, events),
		Outbox:               outbox,
		Metrics:              met.Handler(),
		SDK:                  sdk.Handler(),
		AuthFailed:           authFailedHook(events),
		RateLimits:           rateLimits(cfg.RateLimit, nconns, log),
		RefreshWithoutClient: met.RefreshWithoutClient,
		APIKeys:              apiKeys,
		APIKeyChanged:        apiKeyChangedHook(events),
		APIKeyRecorder:       apiKeyRecorder{events},
		SSF:                  ssfTx.routes(),
		StoreErrorObserver:   events.storeError,
		WriteTimeout:         cfg.Server.WriteTimeout.Std(),
	}
	if keys != nil {
		hopts.JWKS = servedJWKS(keys) // kek.go
		// A verifier's cached copy must know a new key before it signs:
		// under a key_publish_period of 5m02s, a shorter cache.
		hopts.JWKSMaxAge = min(httpapi.JWKSMaxAge, keys.Lead())
	}
	if hopts.DPoP, err = dpopVerifier(ctx, cfg, store, meta, o.Getenv, clock, secrets, log); err != nil {
		return err
	}
	if cfg.Server.AdminListen != "" {
		hopts.Metrics = nil // served on the admin listener only
	}
	if err := addGateway(cfg, mgr, store, meta, o.Getenv, secrets, log, &hopts); err != nil {
		return err
	}
	endStreams, err := attachRevocationStream(bg, &hopts, cfg, store, mgr, keys, events)
	if err != nil {
		return err
	}
	if hopts.Receivers, err = mountSSF(cfg, mgr, store, ssfTx, events, clock, log, o.Getenv, bgLoops); err != nil {
		return err
	}
	handler, err := httpapi.New(hopts)
	if err != nil {
		return err
	}
	con, endConsoleTails, closeConsole, err := buildConsole(ctx, o, consoleParts{mgr: mgr, keys: apiKeys, signer: keys, events: events, // served at /console
		incident: hopts.Incident, outbox: outbox, endpoints: endpoints, live: live, depth: depth, clock: clock}, log)
	if err != nil {
		return err
	}
	// Closed once the servers have finished their requests, console ones
	// included (a deferred close here would run before the teardown).
	down.handlers = append(down.handlers, closeConsole)
	apiHandler := handler
	if cfg.Server.AdminListen == "" {
		apiHandler = withConsole(handler, con)
	}
	srv := &http.Server{
		Handler:           stopping.handler(apiHandler),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.Std(),
		ReadTimeout:       cfg.Server.ReadTimeout.Std(),
		WriteTimeout:      cfg.Server.WriteTimeout.Std(),
		IdleTimeout:       cfg.Server.IdleTimeout.Std(),
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          httpErrorLog(log.Handler()),
		BaseContext:       func(net.Listener) context.Context { return bg },
	}
	srv.RegisterOnShutdown(endStreams)
	srv.RegisterOnShutdown(endConsoleTails) // the console's live tails, as endStreams the API's streams
	srv.TLSConfig = apiTLS
	if srv.TLSConfig != nil {
		srv.Handler = withHSTS(srv.Handler)
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// ProgressListener: a write to a slow client waits for it to take in
	// about what is written, so that the snapshot's per-write deadline
	// measures its progress.
	ln = limitConns(httpapi.ProgressListener(ln), nconns, "api", log)
	addr := ln.Addr().String()
	log.Info("sessiond serving", "addr", addr, "strategy", string(cfg.Strategy), "preset", cfg.Preset,
		"store", cfg.Store.Driver, "version", o.Version)
	if o.Listening != nil {
		o.Listening(addr)
	}
	down.servers = append(down.servers, srv)
	errc := make(chan error, 2)
	go func() { errc <- serve(srv, ln) }() // Shutdown makes it return
	if cfg.Server.AdminListen != "" {
		asrv, aln, err := adminServer(cfg, handler, met.Handler(), con, adminConns, log)
		if err != nil {
			return err
		}
		asrv.RegisterOnShutdown(endConsoleTails)
		asrv.Handler = stopping.handler(asrv.Handler)
		down.servers = append(down.servers, asrv)
		go func() { errc <- serve(asrv, aln) }()
		log.Info("sessiond admin routes serving", "addr", aln.Addr().String())
		if o.AdminListening != nil {
			o.AdminListening(aln.Addr().String())
		}
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Still serving, not ready, for shutdown_delay; then the teardown
	// closes the listeners and lets requests in flight finish.
	log.Info("shutting down", "grace", cfg.Server.ShutdownTimeout.String(), "delay", cfg.Server.ShutdownDelay.String())
	if cfg.Server.ShutdownDelay.Std() > 0 {
		// A developer pressing Ctrl-C sees why nothing stopped yet.
		log.Info("not ready, still serving for server.shutdown_delay; a second SIGTERM or Ctrl-C ends the delay, a third stops at once", "delay", cfg.Server.ShutdownDelay.String())
	}
	if err := stopping.run(cfg.Server.ShutdownDelay.Std(), o.Again, errc, log); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// checkConfig runs the validator: errors stop the server unless it is an
// explicit insecure development run on loopback; every finding is logged.
func checkConfig(o Options, log *slog.Logger) error {
	cfg := o.Config
	findings := config.Validate(cfg, o.Doc, cfg.Environment)
	if o.Findings != nil {
		o.Findings(findings)
	}
	nerr, _, _ := config.Count(findings)
	// Insecure development is loopback only, the admin listener (console,
	// /metrics) included.
	dev := o.InsecureDev && loopback(cfg.Server.Listen) && (cfg.Server.AdminListen == "" || loopback(cfg.Server.AdminListen))
	for _, f := range findings {
		level := slog.LevelInfo
		switch {
		case f.Severity == config.SeverityError:
			level = slog.LevelError
		case f.Severity == config.SeverityWarning:
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "config finding", "rule", f.RuleID, "severity", string(f.Severity),
			"path", f.Path, "message", f.Message, "fix", f.Fix)
	}
	if nerr == 0 {
		return nil
	}
	if !dev {
		if o.InsecureDev {
			return fmt.Errorf("%w: --insecure-dev only applies when server.listen and server.admin_listen are loopback addresses", ErrInvalidConfig)
		}
		return fmt.Errorf("%w (%d)", ErrInvalidConfig, nerr)
	}
	log.Error("INSECURE DEVELOPMENT MODE: starting despite configuration errors; never run this in production",
		"errors", nerr, "listen", cfg.Server.Listen)
	return nil
}

func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// managerOptions maps the configuration onto the Manager's options, all
// but the signer and the hooks the server adds.
func managerOptions(cfg config.Config, life sessiond.Lifetimes, store sessiond.Store, poll time.Duration, log *slog.Logger) sessiond.Options {
	mopts := sessiond.Options{
		Strategy:         cfg.Strategy,
		Store:            store,
		Opaque:           opaquetoken.Codec{},
		Lifetimes:        life,
		TouchInterval:    cfg.Lifetime.TouchInterval.Std(),
		ReuseInterval:    cfg.Lifetime.ReuseInterval.Std(),
		NoRotation:       !cfg.Refresh.Rotation,
		NoReuseDetection: !cfg.Refresh.ReuseDetection,
		VerifyCacheSize:  cfg.VerifyCacheSize,
		RefreshCacheSize: cfg.Refresh.CacheSize,
		MaxSessions:      cfg.Limits.MaxSessions,
		LimitPolicy:      sessiond.LimitPolicy(cfg.Limits.Policy),
		WatermarkPoll:    poll,
		RefreshFailures: sessiond.FailureLimit{Max: cfg.RateLimit.RefreshFailures.Requests,
			Window: cfg.RateLimit.RefreshFailures.Per.Std()},
		EventIPPrefixes: cfg.Events.IPPrefixes(),
		Logger:          log,
	}
	if mopts.ReuseInterval == 0 {
		mopts.ReuseInterval = -1 // an explicit 0s in the config means no grace
	}
	if mopts.TouchInterval == 0 {
		mopts.TouchInterval = -1 // 0s in the config: every verify writes activity back
	}
	if mopts.VerifyCacheSize == 0 {
		mopts.VerifyCacheSize = -1
	}
	if mopts.RefreshCacheSize == 0 {
		mopts.RefreshCacheSize = -1 // as verify_cache_size: 0 in the config means off
	}
	return mopts
}

func buildManager(ctx context.Context, cfg config.Config, o Options, store sessiond.Store, meta sessiond.MetaStore, log *slog.Logger, extra func(*sessiond.Options), onRotate func(kid string), events *fanout) (*sessiond.Manager, *signing.Keys, error) {
	life, err := cfg.Lifetimes()
	if err != nil {
		return nil, nil, err
	}
	mopts := managerOptions(cfg, life, store, o.WatermarkPoll, log)
	var keys *signing.Keys
	var mgr *sessiond.Manager
	// The ssf transmitter signs SETs with the ring in every strategy.
	if cfg.Strategy != sessiond.StrategyDatabase || cfg.SSF.Transmitter.Enabled {
		getenv := o.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		// Read before the key ring is made: a store with no ring yet is a
		// new deployment.
		issuer, audience, dep, err := issuerAudience(ctx, cfg, meta, log)
		if err != nil {
			return nil, nil, err
		}
		kek, oldKEKs, err := SigningKEKs(cfg, getenv)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case kek == nil && len(oldKEKs) > 0:
			// Step 1 of introducing a KEK (docs/operations.md).
			log.Warn("only signing.old_kek_files, no signing.kek_file or SESSIOND_KEK: a signing key ring in clear stays in clear (one sealed with an old KEK stays sealed with it); once every node has the KEK, set it as signing.kek_file to seal the ring")
		case kek == nil:
			log.Warn("signing keys are stored in clear: set signing.kek_file or SESSIOND_KEK to seal them")
		}
		keys, err = signing.Open(ctx, meta, signing.Options{
			KEK:              kek,
			OldKEKs:          oldKEKs,
			PublishFor:       cfg.JWT.KeyPublishPeriod.Std(),
			Algorithm:        jwttoken.Algorithm(cfg.JWT.Algorithm),
			HMACSecret:       o.HMACSecret,
			MaxTokenLifetime: life.Signed(cfg.Strategy),
			RotateEvery:      cfg.JWT.KeyRotationInterval.Std(),
			Logger:           log,
			OnRotate:         onRotate,
			OnReset:          signingReset(meta, dep, events, log),
			OnChange: func(removed bool) {
				if removed && mgr != nil {
					mgr.PurgeVerifyCache()
				}
			},
		})
		if err != nil {
			return nil, nil, err
		}
		codec, err := jwttoken.New(keys.Ring(), jwttoken.Options{Issuer: issuer, Audience: audience,
			Leeway: cfg.JWT.Leeway.Std()})
		if err != nil {
			return nil, nil, err
		}
		if cfg.Strategy != sessiond.StrategyDatabase {
			mopts.Signed = codec
		}
	}
	extra(&mopts)
	mgr, err = sessiond.New(ctx, mopts)
	if err != nil {
		return nil, nil, err
	}
	return mgr, keys, nil
}

// bootstrapAPIKey makes sure at least one API key works: SESSIOND_API_KEY
// if set, otherwise a generated key written to <data>/api-key (mode 0600)
// on first start, by one node of those starting together on an empty
// store. The key itself is never logged.
func bootstrapAPIKey(ctx context.Context, cfg config.Config, env sessiond.Secret, keys *apikey.Keys, log *slog.Logger) error {
	var before []apikey.Key
	if env != "" {
		// To tell a key new to the store: one node given a mistyped or an
		// old SESSIOND_API_KEY adds a second admin key that every node
		// then accepts.
		before, _ = keys.List(ctx)
	}
	res, err := seedAPIKey(ctx, cfg, env, keys)
	logPendingKeys(log, res)
	if added, others := newEnvKey(ctx, keys, env, before); added != nil {
		log.Warn("SESSIOND_API_KEY is a key the store did not hold: added as a new admin key beside the other live keys, and every node accepts it; if another node runs with another SESSIOND_API_KEY (a mistyped or an old value), revoke the one not meant (sessiond apikey revoke <id>)",
			"id", added.ID, "other_live_keys", others)
	}
	switch {
	case err != nil:
		return err
	case env != "" && config.GuessableKey([]byte(env)):
		// Kept as an unsalted SHA-256, which only a random key makes safe:
		// a copy of the store would give this one to offline guessing.
		log.Warn("API key from SESSIOND_API_KEY accepted, but it looks like a word, a short phrase or a repeated pattern rather than random bytes: it is stored as an unsalted SHA-256, so a copy of the store lets it be guessed offline, with the admin scope; replace it with 32 or more random bytes (openssl rand -base64 32) and revoke it")
	case env != "":
		log.Info("API key from SESSIOND_API_KEY accepted")
	case res.file != "":
		log.Warn("generated the first API key; backends send it as Authorization: Bearer <key>", "file", res.file)
	case res.other != nil && res.other.Name != generatedKeyName:
		// Not a generated key: a node given SESSIOND_API_KEY ("env"), or
		// an operator's `sessiond apikey create`, added it meanwhile. No
		// node wrote it to a key file.
		log.Warn("a live API key was added to the store while this node started (by a node given SESSIOND_API_KEY, or an operator): this node made no key and wrote no key file; "+
			"use that key, or make one with `sessiond apikey create --scope admin`",
			"id", res.other.ID, "name", res.other.Name)
	case res.other != nil:
		// Nodes started together on an empty store: one generated the key.
		log.Warn("another node generated the first API key while this one started: this node wrote no key file; "+
			"read that node's <data>/api-key (it logged `generated the first API key`), or make a key with `sessiond apikey create --scope admin`",
			"id", res.other.ID, "name", res.other.Name)
	}
	return nil
}

// logPendingKeys says what seedAPIKey did with pending key files
// (adoptPendingKeys), by file name: never a key.
func logPendingKeys(log *slog.Logger, res seeded) {
	if res.adopted != "" {
		log.Warn("an earlier start was stopped after the store took its generated API key and before its key file was moved into place: moved it there now",
			"file", res.adopted)
	}
	for _, l := range res.left {
		log.Warn("pending API key file left in place: "+l.why, "file", l.file)
	}
}

// newEnvKey is env's key when keys holds it live and before (the keys
// before SESSIOND_API_KEY was ensured) did not, and how many live keys
// before held; nil when there were none (a first start) or env was held.
// The key is found by env's hash, not as whatever key is new: another node
// or an operator may add one while this node starts.
func newEnvKey(ctx context.Context, keys *apikey.Keys, env sessiond.Secret, before []apikey.Key) (*apikey.Key, int) {
	if env == "" {
		return nil, 0
	}
	sum := sessiond.HashToken(env)
	h := hex.EncodeToString(sum[:])
	others := 0
	for _, k := range before {
		if k.Hash == h {
			return nil, 0
		}
		if k.RevokedAt.IsZero() {
			others++
		}
	}
	if others == 0 {
		return nil, 0
	}
	after, err := keys.List(ctx)
	if err != nil {
		return nil, 0
	}
	for _, k := range after {
		if k.Hash == h && k.RevokedAt.IsZero() {
			return &k, others
		}
	}
	return nil, 0
}

// retain enforces events.retention: every retentionEvery it deletes older
// events, and finished webhook deliveries, in bounded batches.
func retain(ctx context.Context, cfg config.Config, clock sessiond.Clock, log sessiond.EventLog, outbox sessiond.Outbox, l *slog.Logger) {
	keep := cfg.Events.Retention.Std()
	if keep <= 0 {
		return
	}
	t := time.NewTicker(retentionEvery(keep))
	defer t.Stop()
	for {
		cut := clock.Now().Add(-keep)
		if log != nil {
			deleteInBatches(ctx, l, "event retention", log.DeleteEventsBefore, cut)
		}
		if outbox != nil {
			deleteInBatches(ctx, l, "webhook outbox retention", outbox.DeleteDeliveriesBefore, cut)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retentionEvery is how often retain runs for a retention of keep: hourly,
// or a tenth of a shorter retention, at least a minute apart, so that
// nothing is kept much past keep (an hourly pass kept a one-hour
// retention's events for up to two hours: twice the Redis memory sized for
// them). A pass that finds nothing is one indexed query.
func retentionEvery(keep time.Duration) time.Duration {
	return min(time.Hour, max(time.Minute, keep/10))
}

// deleteInBatches calls del for what is older than cut, 1000 at a time,
// until a batch comes back short or del fails (logged as what).
func deleteInBatches(ctx context.Context, l *slog.Logger, what string, del func(ctx context.Context, before time.Time, limit int) (int, error), cut time.Time) {
	for {
		n, err := del(ctx, cut, 1000)
		if err != nil {
			l.Warn(what, "err", err)
		}
		if err != nil || n < 1000 {
			return
		}
	}
}
