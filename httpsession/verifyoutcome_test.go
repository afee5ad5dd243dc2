package httpsession_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/dbscclient"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/metrics"
)

// TestDBSC_RefusalCountsAsRefusal: a device-bound session's cookie
// refused for what the request lacks (no bound cookie, another session's,
// an expired one; a second registration) is a refused token, not a server
// error: sessiond_verify_total counts it as token_invalid, and it raises
// no session.unknown_id event (its session is known; the refusal has its
// own event). The answers are those of any refused session.
func TestDBSC_RefusalCountsAsRefusal(t *testing.T) {
	type request func(t *testing.T, e *env, victim *browser, vd *dbscclient.Browser, outcomes *testenv.VerifyOutcomes) *http.Response
	thief := func(t *testing.T, e *env, victim *browser, extra ...*browser) *browser {
		th := e.browser(t)
		steal(victim, th, httpsession.DefaultCookieName)
		for _, o := range extra {
			steal(o, th, httpsession.DefaultBoundCookieName)
		}
		return th
	}
	tests := []struct {
		name       string
		do         request
		wantStatus int
		wantAuth   string // WWW-Authenticate
		wantCode   string // problem code, "" for no body to check
		want       string // verify outcome
	}{
		{"OwnBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, _ *testenv.VerifyOutcomes) *http.Response {
			return victim.do(http.MethodGet, "/me", nil)
		}, http.StatusOK, "", "", metrics.VerifyOK},
		{"NoBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, _ *testenv.VerifyOutcomes) *http.Response {
			return thief(t, e, victim).do(http.MethodGet, "/me", nil)
		}, http.StatusUnauthorized, `Bearer error="invalid_token"`, "unauthorized", metrics.VerifyTokenInvalid},
		{"AnotherSessionsBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, outcomes *testenv.VerifyOutcomes) *http.Response {
			other, od := e.dbscBrowser(t, "ES256")
			register(t, other, od, "mallory")
			th := thief(t, e, victim, other)
			outcomes.Take()
			return th.do(http.MethodGet, "/me", nil)
		}, http.StatusUnauthorized, `Bearer error="invalid_token"`, "unauthorized", metrics.VerifyTokenInvalid},
		{"ExpiredBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, _ *testenv.VerifyOutcomes) *http.Response {
			e.clock.Advance(httpsession.DefaultBoundCookieLifetime + time.Minute)
			return victim.do(http.MethodGet, "/me", nil)
		}, http.StatusUnauthorized, `Bearer error="invalid_token"`, "unauthorized", metrics.VerifyTokenInvalid},
		{"SecondRegistration", func(t *testing.T, e *env, victim *browser, vd *dbscclient.Browser, _ *testenv.VerifyOutcomes) *http.Response {
			p, err := vd.Proof("any-challenge", true, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := vd.PostRegistration(httpsession.DefaultDBSCRegistrationPath, p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Body.Close() })
			return r
		}, http.StatusForbidden, "", "device_proof_refused", metrics.VerifyTokenInvalid},
	}
	// Under required too: its own refusal (binding_required) is for
	// unbound sessions only, and these sessions are bound.
	for _, policy := range []httpsession.DBSCPolicy{httpsession.DBSCOptional, httpsession.DBSCRequired} {
		for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
			for _, tt := range tests {
				t.Run(string(policy)+"/"+string(strategy)+"/"+tt.name, func(t *testing.T) {
					outcomes := &testenv.VerifyOutcomes{}
					e := newEnv(t, envOptions{strategy: strategy,
						opts:    httpsession.Options{DBSC: httpsession.DBSCOptions{Policy: policy}},
						manager: func(o *sessiond.Options) { o.VerifyObserver = outcomes.Observe }})
					victim, vd := e.dbscBrowser(t, "ES256")
					register(t, victim, vd, "alice")
					outcomes.Take()

					r := tt.do(t, e, victim, vd, outcomes)
					if r.StatusCode != tt.wantStatus {
						t.Fatalf("status = %d; want %d", r.StatusCode, tt.wantStatus)
					}
					if got := r.Header.Get("WWW-Authenticate"); got != tt.wantAuth {
						t.Errorf("WWW-Authenticate = %q; want %q", got, tt.wantAuth)
					}
					if tt.wantCode != "" {
						var p struct {
							Code string `json:"code"`
						}
						if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Code != tt.wantCode {
							t.Errorf("problem code = %q, %v; want %q", p.Code, err, tt.wantCode)
						}
					}
					if got, want := outcomes.Take(), []string{tt.want}; !slices.Equal(got, want) {
						t.Errorf("verify outcomes = %q; want %q", got, want)
					}
					if n := e.events.Count(sessiond.EventUnknownToken); n != 0 {
						t.Errorf("%d %s events for a known session's cookie; want 0", n, sessiond.EventUnknownToken)
					}
				})
			}
		}
	}
}

// TestDBSC_BindingRequiredOutcome: under the required policy, a valid
// session that is not bound to a device (any browser without DBSC) is
// refused, and sessiond_verify_total counts it as binding_required: not
// error, which means a server fault, nor token_invalid, which the
// token-guessing alert watches.
func TestDBSC_BindingRequiredOutcome(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			outcomes := &testenv.VerifyOutcomes{}
			e := newEnv(t, envOptions{strategy: strategy,
				opts:    httpsession.Options{DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCRequired}},
				manager: func(o *sessiond.Options) { o.VerifyObserver = outcomes.Observe }})
			plain := e.browser(t) // ignores Secure-Session-Registration
			plain.login("alice")
			outcomes.Take()

			if r := plain.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("GET /me of an unbound session under required = %d; want 401", r.StatusCode)
			}
			if got, want := outcomes.Take(), []string{metrics.VerifyBindingRequired}; !slices.Equal(got, want) {
				t.Errorf("verify outcomes = %q; want %q", got, want)
			}
			if n := e.events.Count(sessiond.EventUnknownToken); n != 0 {
				t.Errorf("%d %s events for a known session's cookie; want 0", n, sessiond.EventUnknownToken)
			}
		})
	}
}
