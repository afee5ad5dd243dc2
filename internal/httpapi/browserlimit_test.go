package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/gateway"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/memstore"
)

// The gateway satisfies the ability the API looks for: were the method's
// signature to drift, the limit would silently stop applying.
var _ httpapi.FailureLimiter = (*gateway.Gateway)(nil)

// browserEnv is the API with the browser gateway mounted at /sessiond, the
// browser's address read from X-Real-IP (as gateway.client_ip_header).
type browserEnv struct {
	*env
	g *gateway.Gateway
}

func newBrowserEnv(t *testing.T, limits httpapi.RateLimits) *browserEnv {
	t.Helper()
	be := &browserEnv{}
	be.env = newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		s, err := httpsession.New(httpsession.Options{Manager: o.Manager, RefreshPath: "/sessiond/refresh"})
		if err != nil {
			t.Fatal(err)
		}
		if be.g, err = gateway.New(gateway.Options{Sessions: s, Meta: memstore.New(), LoginURL: "/login", Clock: o.Clock}); err != nil {
			t.Fatal(err)
		}
		o.Browser, o.BrowserPrefix = be.g, gateway.DefaultPrefix
		o.BrowserClientIP = func(r *http.Request) string { return r.Header.Get("X-Real-IP") }
		o.RateLimits = limits
	})
	return be
}

// issue starts a session through the Manager, as POST /v1/sessions does.
func (be *browserEnv) issue(t *testing.T, subject string) *sessiond.Issued {
	t.Helper()
	iss, err := be.m.Create(t.Context(), subject, sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func (be *browserEnv) code(t *testing.T, iss *sessiond.Issued) string {
	t.Helper()
	code, _, err := be.g.NewLoginCode(t.Context(), iss, "/")
	if err != nil {
		t.Fatal(err)
	}
	return string(code)
}

// randomText is a fresh never-issued value: each guess differs.
func randomText() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// credKind is what a browser request carries.
type credKind string

const (
	credForged  credKind = "forged"  // never issued: the guesser's
	credNone    credKind = "none"    // an anonymous visitor
	credExpired credKind = "expired" // a real access token past its expiry (for refresh and login: none of the kind)
	credRevoked credKind = "revoked" // a real token or code of a revoked session
	credLive    credKind = "live"    // a valid one
)

// honestKinds never count against the failure limit.
var honestKinds = []credKind{credNone, credExpired, credRevoked}

// browserTokens are the credentials of one test.
type browserTokens struct {
	be            *browserEnv
	t             *testing.T
	expired, live *sessiond.Issued
	revoked       *sessiond.Issued
}

func newBrowserTokens(t *testing.T, be *browserEnv) *browserTokens {
	t.Helper()
	bt := &browserTokens{be: be, t: t, expired: be.issue(t, "old")}
	be.clock.Advance(life.Access + time.Minute) // old's access token expires; its session lives
	bt.live, bt.revoked = be.issue(t, "alice"), be.issue(t, "bob")
	be.revoke(t, bt.revoked)
	return bt
}

func (be *browserEnv) revoke(t *testing.T, iss *sessiond.Issued) {
	t.Helper()
	if err := be.m.Revoke(t.Context(), iss.Session.ID, sessiond.ReasonAdmin); err != nil {
		t.Fatal(err)
	}
}

// access is the access token of kind, "" for none.
func (bt *browserTokens) access(kind credKind) string {
	switch kind {
	case credForged:
		return "sdat_" + randomText()
	case credExpired:
		return string(bt.expired.AccessToken)
	case credRevoked:
		return string(bt.revoked.AccessToken)
	case credLive:
		return string(bt.live.AccessToken)
	}
	return ""
}

func cookieHeader(name, value string) map[string]string {
	if value == "" {
		return map[string]string{}
	}
	return map[string]string{"Cookie": name + "=" + value}
}

// browserRoute is one way a browser route is called, and how it refuses.
type browserRoute struct {
	name string
	// request is the method, path and headers of a request carrying kind.
	request func(bt *browserTokens, kind credKind) (method, path string, hdr map[string]string)
	refused int  // status of a refused credential within the limit
	over    int  // status of a refused credential past it
	retry   bool // whether the answer past the limit carries Retry-After
	served  int  // status of a valid credential
}

func accessRoute(method, path string, extra ...string) func(*browserTokens, credKind) (string, string, map[string]string) {
	return func(bt *browserTokens, kind credKind) (string, string, map[string]string) {
		hdr := cookieHeader(httpsession.DefaultCookieName, bt.access(kind))
		for i := 0; i+1 < len(extra); i += 2 {
			hdr[extra[i]] = extra[i+1]
		}
		return method, path, hdr
	}
}

var browserRoutes = []browserRoute{
	{name: "check", request: accessRoute(http.MethodGet, "/sessiond/check"),
		refused: http.StatusUnauthorized, over: http.StatusUnauthorized, retry: true, served: http.StatusOK},
	// NGINX auth_request: 401 + Location, which NGINX turns into the
	// redirect; any other status would be a 500 for the browser.
	{name: "check, NGINX navigation", request: accessRoute(http.MethodGet, "/sessiond/check", "X-Original-URI", "/orders", "Sec-Fetch-Mode", "navigate"),
		refused: http.StatusUnauthorized, over: http.StatusUnauthorized, retry: true, served: http.StatusOK},
	// Caddy forward_auth: the browser gets check's answer as it is, and a
	// navigation must still reach the login page.
	{name: "check, Caddy navigation", request: accessRoute(http.MethodGet, "/sessiond/check", "X-Forwarded-Uri", "/orders", "Sec-Fetch-Mode", "navigate"),
		refused: http.StatusSeeOther, over: http.StatusSeeOther, served: http.StatusOK},
	{name: "session", request: accessRoute(http.MethodGet, "/sessiond/session"),
		refused: http.StatusUnauthorized, over: http.StatusTooManyRequests, retry: true, served: http.StatusOK},
	{name: "session, Bearer", request: func(bt *browserTokens, kind credKind) (string, string, map[string]string) {
		hdr := map[string]string{}
		if tok := bt.access(kind); tok != "" {
			hdr["Authorization"] = "Bearer " + tok
		}
		return http.MethodGet, "/sessiond/session", hdr
	}, refused: http.StatusUnauthorized, over: http.StatusTooManyRequests, retry: true, served: http.StatusOK},
	{name: "refresh", request: func(bt *browserTokens, kind credKind) (string, string, map[string]string) {
		var tok string
		switch kind {
		case credForged:
			tok = "sdrt_" + randomText()
		case credRevoked:
			tok = string(bt.revoked.RefreshToken)
		case credLive:
			// Rotates: the next live refresh takes the new token.
			tok, bt.live = string(bt.live.RefreshToken), nil
		}
		return http.MethodPost, "/sessiond/refresh", cookieHeader(httpsession.DefaultRefreshCookieName, tok)
	}, refused: http.StatusUnauthorized, over: http.StatusTooManyRequests, retry: true, served: http.StatusOK},
	{name: "login", request: func(bt *browserTokens, kind credKind) (string, string, map[string]string) {
		path := "/sessiond/login"
		switch kind {
		case credForged:
			path += "?code=sdlc_" + randomText()
		case credRevoked:
			// A code is spent once redeemed: one per request, of a session
			// revoked after its code was issued.
			iss := bt.be.issue(bt.t, "carol")
			code := bt.be.code(bt.t, iss)
			bt.be.revoke(bt.t, iss)
			path += "?code=" + code
		case credLive:
			path += "?code=" + bt.be.code(bt.t, bt.be.issue(bt.t, "dave"))
		}
		return http.MethodGet, path, map[string]string{}
	}, refused: http.StatusBadRequest, over: http.StatusTooManyRequests, retry: true, served: http.StatusSeeOther},
}

func (be *browserEnv) send(t *testing.T, rt browserRoute, bt *browserTokens, kind credKind, ip string) *response {
	t.Helper()
	method, path, hdr := rt.request(bt, kind)
	hdr["X-Real-IP"] = ip
	return be.rawDo(t, method, path, hdr)
}

// TestBrowserRoutes_AuthFailures: issue 14's limit on failed
// authentication covers the browser routes. Each browser address may
// present rate_limit.auth_failures credentials that are refused as invalid
// or unknown; past that, session, refresh and login answer 429 with
// Retry-After, and check its usual refusal with Retry-After (never 429,
// which NGINX turns into a 500). Anonymous, expired, revoked and valid
// credentials never count, and are answered as usual however many come
// from an address over the limit; other addresses are untouched; the limit
// refills with time.
func TestBrowserRoutes_AuthFailures(t *testing.T) {
	t.Parallel()
	const burst = 3
	for _, rt := range browserRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			be := newBrowserEnv(t, httpapi.RateLimits{AuthFailures: ratelimit.Options{Rate: 0.5, Burst: burst}})
			bt := newBrowserTokens(t, be)
			const flooder, other = "198.51.100.77", "203.0.113.9"
			honest := func(when string) {
				t.Helper()
				for i := range 4 * burst {
					for _, kind := range honestKinds {
						r := be.send(t, rt, bt, kind, flooder)
						if r.status == http.StatusTooManyRequests || r.header.Get("Retry-After") != "" || r.status >= 500 {
							t.Fatalf("%s: %s credential %d = %d, Retry-After %q (%s); want its usual answer", when, kind, i+1, r.status, r.header.Get("Retry-After"), r.body)
						}
					}
				}
			}
			refused := func(what string, r *response) {
				t.Helper()
				if r.status != rt.refused || r.header.Get("Retry-After") != "" {
					t.Fatalf("%s = %d, Retry-After %q (%s); want %d without", what, r.status, r.header.Get("Retry-After"), r.body, rt.refused)
				}
			}

			honest("before any failure") // spends nothing: the whole burst is left
			for i := range burst {
				refused(fmt.Sprintf("forged credential %d", i+1), be.send(t, rt, bt, credForged, flooder))
			}
			for i := range 3 {
				r := be.send(t, rt, bt, credForged, flooder)
				if r.status != rt.over {
					t.Fatalf("forged credential %d past the limit = %d (%s); want %d", burst+i+1, r.status, r.body, rt.over)
				}
				if got, want := r.header.Get("Retry-After"), map[bool]string{true: "2"}[rt.retry]; got != want {
					t.Errorf("past the limit: Retry-After = %q; want %q", got, want)
				}
				if rt.over == http.StatusTooManyRequests {
					if p := r.problem(t); p["code"] != "too_many_requests" || p["status"] != float64(429) {
						t.Errorf("past the limit: problem %s; want too_many_requests", r.body)
					}
				}
				if rt.name == "refresh" && !slices.ContainsFunc(r.header.Values("Set-Cookie"), func(c string) bool {
					return strings.HasPrefix(c, httpsession.DefaultRefreshCookieName+"=;") && strings.Contains(c, "Max-Age=0")
				}) {
					t.Errorf("refresh past the limit keeps the cookies: Set-Cookie %q; want them expired as for any failed refresh", r.header.Values("Set-Cookie"))
				}
			}
			honest("past the limit")
			if r := be.send(t, rt, bt, credLive, flooder); r.status != rt.served {
				t.Errorf("a valid credential from the address past the limit = %d (%s); want %d", r.status, r.body, rt.served)
			}
			refused("another address's forged credential", be.send(t, rt, bt, credForged, other))

			be.clock.Advance(2 * time.Second)
			refused("after Retry-After", be.send(t, rt, bt, credForged, flooder))
		})
	}
}

// TestBrowserRoutes_PerClientIP: rate_limit.per_client_ip applies to every
// browser route per browser address, whatever the request carries: past
// it, 429 with Retry-After and the API's problem, before the gateway runs.
func TestBrowserRoutes_PerClientIP(t *testing.T) {
	t.Parallel()
	for _, rt := range []struct{ method, path string }{
		{http.MethodGet, "/sessiond/check"},
		{http.MethodGet, "/sessiond/session"},
		{http.MethodPost, "/sessiond/refresh"},
		{http.MethodGet, "/sessiond/refresh"},
		{http.MethodPost, "/sessiond/logout"},
		{http.MethodGet, "/sessiond/login"},
		{http.MethodPost, "/sessiond/dbsc/register"},
		{http.MethodGet, "/sessiond/nowhere"},
	} {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			t.Parallel()
			be := newBrowserEnv(t, httpapi.RateLimits{PerClientIP: ratelimit.Options{Rate: 0.5, Burst: 3}})
			live := be.issue(t, "alice")
			send := func(ip string) *response {
				return be.rawDo(t, rt.method, rt.path, map[string]string{"X-Real-IP": ip, "Cookie": httpsession.DefaultCookieName + "=" + string(live.AccessToken)})
			}
			for i := range 3 {
				if r := send("192.0.2.1"); r.status == http.StatusTooManyRequests {
					t.Fatalf("request %d = 429 within the burst", i+1)
				}
			}
			r := send("192.0.2.1")
			wantProblem(t, "past the rate", r, http.StatusTooManyRequests, "too_many_requests", "")
			if r.header.Get("Retry-After") != "2" {
				t.Errorf("past the rate: Retry-After = %q; want 2", r.header.Get("Retry-After"))
			}
			if r := send("198.51.100.7"); r.status == http.StatusTooManyRequests {
				t.Error("another address is limited by the first one's requests")
			}
			be.clock.Advance(2 * time.Second)
			if r := send("192.0.2.1"); r.status == http.StatusTooManyRequests {
				t.Error("after Retry-After: still 429")
			}
		})
	}
}

// TestBrowserRoutes_DefaultLimits: at the shipped defaults (50,000/s per
// address; 60 failures a minute, burst 20) a browser's ordinary traffic,
// however much of it, meets no limit.
func TestBrowserRoutes_DefaultLimits(t *testing.T) {
	t.Parallel()
	be := newBrowserEnv(t, httpapi.RateLimits{
		AuthFailures: ratelimit.Options{Rate: 1, Burst: 20},
		PerClientIP:  ratelimit.Options{Rate: 50000, Burst: 100000},
	})
	bt := newBrowserTokens(t, be)
	for _, rt := range browserRoutes {
		for range 25 { // past the failure burst, were they counted
			for _, kind := range append(honestKinds[:len(honestKinds):len(honestKinds)], credLive) {
				if kind == credLive && rt.name == "refresh" {
					continue // rotates; TestBrowserRoutes_AuthFailures refreshes once
				}
				if r := be.send(t, rt, bt, kind, "192.0.2.50"); r.status == http.StatusTooManyRequests || r.header.Get("Retry-After") != "" {
					t.Fatalf("%s, %s credential = %d, Retry-After %q", rt.name, kind, r.status, r.header.Get("Retry-After"))
				}
			}
		}
	}
}
