// Package console is the operator console that `sessiond serve` serves at
// /console: server-rendered html/template pages, progressively enhanced by
// htmx (vendored into static/, no CDN), under a strict Content-Security-
// Policy. Operators sign in with an admin-scoped API key, which is
// exchanged for a console session that sessiond itself manages through
// httpsession: a __Host- cookie, HttpOnly, Secure, SameSite=Strict, with
// an idle timeout and cross-origin request refusal. See docs/console.md.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/medama-io/go-useragent"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// Prefix is the URL path the console is served under.
const Prefix = "/console"

// CookieName is the console session's cookie. The __Host- prefix makes the
// browser insist on Secure, Path=/ and no Domain.
const CookieName = "__Host-sessiond-console"

// Default lifetimes of a console session.
const (
	DefaultIdle     = 15 * time.Minute
	DefaultAbsolute = 8 * time.Hour
)

// DefaultRecentAuth is how long after sign-in a console session may still
// mint, revoke or rotate keys and run the kill switch: a console cookie
// taken later (an infostealer, a desk left signed in) must not turn into
// a lasting admin API key or a mass revocation without the key again
// (OWASP ASVS 7.5.1).
const DefaultRecentAuth = 15 * time.Minute

// maxFormBytes bounds every console form body but the kill switch's.
const maxFormBytes = 16 << 10

// maxIncidentFormBytes bounds the kill switch form's body: room for
// maxIncidentSubjects subjects of the API's longest (256 bytes) with every
// byte percent-encoded (%XX, as a browser sends a non-ASCII byte or an @)
// and a CRLF (%0D%0A) each, plus maxFormBytes for the other fields:
// 790,384 bytes. Only a recently signed-in operator's body is read.
const maxIncidentFormBytes = maxIncidentSubjects*(3*maxSubject+len("%0D%0A")) + maxFormBytes

// contentSecurityPolicy allows only the console's own scripts and styles:
// no inline script or style, no eval, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed static templates
var assets embed.FS

// Options configure the console. Manager and Keys are required.
type Options struct {
	// Manager holds the sessions the console shows and revokes.
	Manager *sessiond.Manager
	// Keys authenticates the API key given at sign-in (it must carry the
	// admin scope) and is asked again on every request, so revoking the key
	// or narrowing its scopes ends its console sessions.
	Keys *apikey.Keys
	// Events, if set, is the durable event log (anomalies per session).
	Events sessiond.EventLog
	// Idle and Absolute timeouts of a console session; zero means
	// DefaultIdle and DefaultAbsolute.
	Idle, Absolute time.Duration
	// RecentAuth is how recent the sign-in of a console session must be
	// for the sensitive actions (API keys created or revoked, signing keys
	// rotated, the kill switch); zero means DefaultRecentAuth.
	RecentAuth time.Duration
	// Incident, if set, is the kill switch behind POST /v1/revocations: it
	// revokes what the request says and returns how many sessions.
	Incident func(context.Context, httpapi.IncidentRequest) (int, error)
	// Signing, if set, are the signing keys (jwt and hybrid strategies).
	Signing SigningKeys
	// Record, if set, records the console's own actions (signed in or
	// out, API key created or revoked, signing keys rotated) in the event
	// log and webhooks. It returns an error when the event was not stored:
	// a sign-in whose event is lost is undone (ASVS 16.3.1), the other
	// actions are done already and only log it.
	Record func(context.Context, sessiond.Event) error
	// KeyEvents, if set, writes the events of the console's API key
	// changes (created, revoked) in the key set's own write, when the
	// store can (sessiond.MetaChangeRecorder): a store that fails (a full
	// disk) then keeps neither the change nor its event. Otherwise, and
	// without it, they go to Record after the change.
	KeyEvents EventRecorder
	// TailPoll is how often the live tail reads the event log; zero means
	// DefaultTailPoll.
	TailPoll time.Duration
	// RequestDeadline bounds the store calls of a console request: a store
	// that hangs then gives the page's 503 instead of no answer until the
	// server's write timeout cuts the connection; a store call that
	// outlives it (one that does not watch its context) is not waited for
	// past answerGrace: the console answers 503 itself. The live tail's
	// stream is held open by design: each of its polls is bounded instead,
	// and one cut says the store is unavailable and tries again. The kill
	// switch runs detached (httpapi.IncidentContext). Zero: no bound.
	// serve sets the API's (httpapi.RequestDeadline of server.write_timeout).
	RequestDeadline time.Duration
	// Outbox, if set, is the webhook outbox: the webhooks page and its
	// retry action, and, without OutboxDepth, the overview's and the
	// webhooks page's backlog and dead counts, counted at every view.
	Outbox sessiond.Outbox
	// OutboxDepth, if set, counts the outbox's pending and dead
	// deliveries for the overview and the webhooks page, with how fresh
	// the count is: serve shares the metrics' count, so that views do not
	// each scan the outbox. Its error means there is no count to show
	// (Counted.FailedAt says when counting failed, if it did).
	OutboxDepth func(context.Context) (pending, dead int, c Counted, err error)
	// Webhooks are the configured endpoints, shown on the webhooks page.
	Webhooks []Endpoint
	// Live, if set, counts the live sessions (the overview): how many, and
	// how fresh the count is, which may be older than the view when the
	// count is shared and reused (serve shares the metrics' count). Its
	// error means there is no count to show.
	Live func(context.Context) (n int, c Counted, err error)
	// Findings are the running configuration's validator findings.
	Findings []config.Finding
	// SignInLimit, if set, bounds sign-in attempts per client address
	// (the connection's peer); over it, sign-in answers 429 with
	// Retry-After before looking at the key.
	SignInLimit *ratelimit.Limiter
	// LogIPPrefixes cuts the client address of the console's own log
	// lines (a refused sign-in) as events cut theirs
	// (events.ipv4_prefix, events.ipv6_prefix); zero keeps it whole.
	LogIPPrefixes sessiond.IPPrefixes
	// Clock; default sessiond.SystemClock.
	Clock sessiond.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// Console is the handler. Close ends its own session manager.
type Console struct {
	o        Options
	own      *sessiond.Manager  // the console's own sessions, in memory
	failures *ratelimit.Limiter // sign-in failures reported to the event log, over all addresses
	// limitedWarn folds the WARN lines of sign-ins refused by the limit
	limitedWarn foldedWarn
	sessions    *httpsession.Sessions
	pages       *pages
	device      device
	mux         *http.ServeMux
	log         *slog.Logger
	// ending is closed by EndTails: open live tails end, new ones are
	// refused.
	ending  chan struct{}
	endOnce sync.Once
	// calls are the handlers answerBy runs, those whose requests it
	// answered without them (their store call outlived the deadline)
	// included.
	calls handlers
}

// New checks o and builds the console.
func New(ctx context.Context, o Options) (*Console, error) {
	if o.Manager == nil || o.Keys == nil {
		return nil, fmt.Errorf("console: Manager and Keys are required: %w", sessiond.ErrInvalidArgument)
	}
	if o.Idle == 0 {
		o.Idle = DefaultIdle
	}
	if o.Absolute == 0 {
		o.Absolute = DefaultAbsolute
	}
	if o.RecentAuth <= 0 {
		o.RecentAuth = DefaultRecentAuth
	}
	if o.TailPoll <= 0 {
		o.TailPoll = DefaultTailPoll
	}
	if o.Clock == nil {
		o.Clock = sessiond.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// A console cookie works only from the browser and OS family that
	// signed in: presented by another (copied into a script or another
	// browser) it ends its console session. A thief who also copies the
	// User-Agent passes; this stops the plain replay (docs/console.md).
	bound, err := anomaly.New(anomaly.Options{Actions: map[anomaly.Rule]anomaly.Action{anomaly.RuleUserAgentChange: anomaly.ActionRevoke}})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	// Console sessions live in memory on the node that signed the operator
	// in: they are few, short, and must not mix with the application's
	// sessions that the console lists.
	own, err := sessiond.New(ctx, sessiond.Options{
		Strategy:  sessiond.StrategyDatabase,
		Store:     memstore.New(),
		Opaque:    opaquetoken.Codec{},
		Lifetimes: sessiond.Lifetimes{Access: o.Idle, Refresh: o.Absolute, Idle: o.Idle, Absolute: o.Absolute},
		// Every request of the operator's is activity, written back at
		// once (the sessions are few and in memory): with the default
		// touch interval (1 minute) an idle timeout of a minute or less
		// ended a console session in use, and a longer one came up to a
		// minute early (SD-LIFE-010 for the application's sessions).
		TouchInterval: -1,
		Clock:         o.Clock,
		Logger:        o.Logger,
		Events:        attacks{o.Record},
		Anomalies:     bound,
	})
	if err != nil {
		return nil, fmt.Errorf("console: session manager: %w", err)
	}
	sess, err := httpsession.New(httpsession.Options{
		Manager:         own,
		CookieName:      CookieName,
		SameSite:        http.SameSiteStrictMode,
		Unauthenticated: toSignIn,
		Logger:          o.Logger,
	})
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("console: %w", err)
	}
	p, err := newPages()
	if err != nil {
		own.Close()
		return nil, err
	}
	c := &Console{o: o, own: own, sessions: sess, pages: p, mux: http.NewServeMux(), log: o.Logger, ending: make(chan struct{}),
		device:   device{ua: useragent.NewParser()},
		failures: ratelimit.New(ratelimit.Options{Rate: maxFailureReports / 60, Burst: maxFailureReports, Clock: o.Clock})}
	c.routes()
	return c, nil
}

// Close ends the live tails and the console's session manager, once the
// handlers left running by requests answered without them have ended:
// Shutdown with no bound.
func (c *Console) Close() error { return c.Shutdown(context.Background()) }

// Shutdown is Close waiting for the handlers left running until ctx ends:
// a store call that never returns must not hold the server's shutdown.
// It then closes the session manager anyway and returns an error naming
// the requests whose handlers still run.
func (c *Console) Shutdown(ctx context.Context) error {
	c.EndTails()
	var err error
	if left := c.calls.wait(ctx); len(left) > 0 {
		err = fmt.Errorf("console: shutdown: handlers still in a store call: %s", strings.Join(left, ", "))
	}
	return errors.Join(err, c.own.Close())
}

// EndTails ends every open live tail and refuses new ones. A graceful
// shutdown calls it (http.Server.RegisterOnShutdown): Shutdown waits for
// every request to end, and a tail ends only when its client goes away,
// so an events page left open would hold the shutdown to its timeout.
// The browser's EventSource reconnects to a node still serving.
func (c *Console) EndTails() { c.endOnce.Do(func() { close(c.ending) }) }

func (c *Console) routes() {
	static, _ := fs.Sub(assets, "static")
	c.mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET "+Prefix+"/signin", c.signInPage)
	c.mux.HandleFunc("POST "+Prefix+"/signin", c.signIn)
	c.mux.Handle("POST "+Prefix+"/signout", c.operator(c.signOut))
	c.mux.Handle("GET "+Prefix+"/{$}", c.operator(func(w http.ResponseWriter, r *http.Request, _ apikey.Key) {
		http.Redirect(w, r, Prefix+"/overview", http.StatusSeeOther)
	}))
	c.mux.Handle("GET "+Prefix+"/overview", c.operator(c.overviewPage))
	c.mux.Handle("GET "+Prefix+"/webhooks", c.operator(c.webhooksPage))
	c.mux.Handle("POST "+Prefix+"/webhooks/retry", c.operator(c.retryDelivery))
	c.mux.Handle("GET "+Prefix+"/sessions", c.operator(c.sessionsPage))
	c.mux.Handle("POST "+Prefix+"/sessions/revoke", c.operator(c.revokeSession))
	c.mux.Handle("POST "+Prefix+"/sessions/revoke-others", c.operator(c.revokeOthers))
	c.mux.Handle("POST "+Prefix+"/sessions/revoke-all", c.operator(c.revokeAll))
	c.mux.Handle("GET "+Prefix+"/events", c.operator(c.eventsPage))
	c.mux.Handle("GET "+Prefix+"/incident", c.operator(c.incidentPage))
	c.mux.Handle("GET "+Prefix+"/keys", c.operator(c.keysPage))
	c.mux.Handle("POST "+Prefix+"/keys/create", c.recentOperator(c.createAPIKey))
	c.mux.Handle("POST "+Prefix+"/keys/revoke", c.recentOperator(c.revokeAPIKey))
	c.mux.Handle("POST "+Prefix+"/keys/rotate", c.recentOperator(c.rotateSigning))
	c.mux.Handle("POST "+Prefix+"/incident", c.recentOperator(c.incident))
	c.mux.Handle("GET "+Prefix+"/events/tail", c.tailOperator(c.eventTail))
}

// ServeHTTP serves every console path: security headers first, then
// cross-origin refusal of unsafe methods, then the routes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	if r.Body != nil {
		limit := int64(maxFormBytes)
		if r.URL.Path == Prefix+"/incident" {
			limit = int64(maxIncidentFormBytes)
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	next := c.sessions.CSRF(c.mux)
	d := c.o.RequestDeadline
	if d <= 0 || r.URL.Path == Prefix+"/events/tail" {
		next.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	defer cancel()
	r = r.WithContext(ctx)
	// The kill switch sets its own write deadline and runs detached once
	// its operator is checked (httpapi.IncidentContext): it answers
	// itself, however long it takes.
	if r.Method == http.MethodPost && r.URL.Path == Prefix+"/incident" {
		next.ServeHTTP(w, r)
		return
	}
	c.answerBy(w, r, answerGrace(d), next)
}

// errNotOperator: the console session's API key was revoked or lost the
// admin scope since sign-in.
var errNotOperator = errors.New("console: the API key no longer has the admin scope")

// attacks is the console's own session manager's event sink: of its
// events, the ones that say the console was attacked (a cross-site request
// refused, as request.csrf_rejected; a console cookie presented by another
// browser, as session.anomaly) go to the deployment's event log; the
// console sessions' own lifecycle stays in memory with them.
// A sink that fails is returned to the console's manager, which logs it.
type attacks struct {
	record func(context.Context, sessiond.Event) error
}

func (a attacks) Record(ctx context.Context, e sessiond.Event) error {
	if a.record == nil {
		return nil
	}
	switch e.Type {
	case sessiond.EventCSRFRejected:
		return a.record(ctx, e)
	case sessiond.EventAnomaly:
		// The console session is no application session: name its key
		// instead, so that no application subject or session gets it.
		d := maps.Clone(e.Details)
		if d == nil {
			d = map[string]any{}
		}
		d["key_id"], _ = strings.CutPrefix(e.Subject, subjectPrefix)
		d["via"] = "console"
		e.Subject, e.SessionID, e.Details = "", "", d
		return a.record(ctx, e)
	}
	return nil
}
