package gateway_test

import (
	"context"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/gateway"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const (
	accessTTL = 5 * time.Minute
	loginPage = "/login"
)

// env is a gateway on a memory store with a fake clock, behind an HTTPS
// httptest server (the default __Host-/__Secure- cookies need Secure).
type env struct {
	m      *sessiond.Manager
	s      *httpsession.Sessions
	g      *gateway.Gateway
	store  *memstore.Store
	clock  *sessiondtest.Clock
	events *sessiondtest.Events
	srv    *httptest.Server
}

type envOptions struct {
	strategy       sessiond.Strategy
	trustedOrigins []string
	anomalies      sessiond.AnomalyChecker
	dbsc           httpsession.DBSCPolicy
	verifyObserver func(error, time.Duration) // sessiond.Options.VerifyObserver
}

func newEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	if eo.strategy == "" {
		eo.strategy = sessiond.StrategyHybrid
	}
	e := &env{clock: sessiondtest.NewClock(t0), store: memstore.New(), events: &sessiondtest.Events{}}
	codec, _ := jwttest.Codec(t, t0, 600*24*time.Hour)
	life, _ := sessiond.Preset(sessiond.PresetB2C)
	life.Access = accessTTL
	var err error
	e.m, err = sessiond.New(context.Background(), sessiond.Options{
		Strategy: eo.strategy, Store: e.store, Signed: codec, Opaque: opaquetoken.Codec{},
		Lifetimes: life, Clock: e.clock, GCInterval: -1, WatermarkPoll: -1, Anomalies: eo.anomalies,
		VerifyObserver: eo.verifyObserver, Events: e.events,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Close() })
	e.s, err = httpsession.New(httpsession.Options{Manager: e.m, RefreshPath: "/sessiond/refresh", TrustedOrigins: eo.trustedOrigins,
		DBSC: httpsession.DBSCOptions{Policy: eo.dbsc, Clock: e.clock,
			RegistrationPath: gateway.DefaultPrefix + gateway.DBSCRegistrationRoute, RefreshPath: gateway.DefaultPrefix + gateway.DBSCRefreshRoute}})
	if err != nil {
		t.Fatal(err)
	}
	e.g, err = gateway.New(gateway.Options{Sessions: e.s, Meta: e.store, LoginURL: loginPage, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = startTLS(t, e.g)
	return e
}

// startTLS serves h over HTTPS until the test ends.
func startTLS(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshakes cut short by Close
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// onMeta is e with a gateway of its own, behind a server of its own, that
// keeps the login codes in meta rather than in e's memory store.
func (e *env) onMeta(t *testing.T, meta sessiond.MetaStore) *env {
	t.Helper()
	g, err := gateway.New(gateway.Options{Sessions: e.s, Meta: meta, LoginURL: loginPage, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	o := *e
	o.g, o.srv = g, startTLS(t, g)
	return &o
}

// login creates a session through the Manager, as POST /v1/sessions does.
func (e *env) login(t *testing.T, subject string) *sessiond.Issued {
	t.Helper()
	iss, err := e.m.Create(context.Background(), subject, sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// browser is a client with its own cookie jar that does not follow
// redirects.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) browser(t *testing.T) *browser {
	c, jar := testenv.CookieClient(e.srv.Client())
	return &browser{t: t, e: e, c: c, jar: jar}
}

// loggedIn is a browser holding the cookies of iss.
func (e *env) loggedIn(t *testing.T, iss *sessiond.Issued) *browser {
	b := e.browser(t)
	cookies, err := e.s.Cookies(iss)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		u, _ := url.Parse(e.srv.URL + c.Path)
		b.jar.SetCookies(u, []*http.Cookie{c})
	}
	return b
}

type response struct {
	*http.Response
	body string
}

// do sends a request; hdr is pairs of header name and value.
func (b *browser) do(method, path, body string, hdr ...string) response {
	b.t.Helper()
	res, raw := testenv.Send(b.t, b.c, method, b.e.srv.URL+path, body, hdr...)
	return response{res, raw}
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL + "/sessiond/refresh")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// badTokens logs alice in (live) and bob in and out (revoked), and returns
// a copy of alice's access token with one character changed (tampered).
func badTokens(t *testing.T, e *env) (live, revoked *sessiond.Issued, tampered string) {
	t.Helper()
	live, revoked = e.login(t, "alice"), e.login(t, "bob")
	if err := e.m.Revoke(context.Background(), revoked.Session.ID, sessiond.ReasonAdmin); err != nil {
		t.Fatal(err)
	}
	b := []byte(live.AccessToken)
	b[len(b)-3] ^= 1
	return live, revoked, string(b)
}

func alive(t *testing.T, e *env, tok sessiond.Secret) bool {
	t.Helper()
	_, err := e.m.Verify(context.Background(), tok, sessiond.Client{})
	return err == nil
}

func mustGateway(t *testing.T, e *env, loginURL, prefix string) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(gateway.Options{Sessions: e.s, Meta: e.store, LoginURL: loginURL, Prefix: prefix, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func sessiondCreate() sessiond.CreateOptions { return sessiond.CreateOptions{} }
