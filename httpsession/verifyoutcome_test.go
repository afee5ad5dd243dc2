package httpsession_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/dbscclient"
	"github.com/sessiond/sessiond/metrics"
)

// verifyOutcomes records the outcome of every verification as the server
// counts it in sessiond_verify_total (internal/server wires
// sessiond.Options.VerifyObserver to metrics.VerifyOutcome).
type verifyOutcomes struct {
	mu  sync.Mutex
	got []string
}

func (v *verifyOutcomes) observe(err error, _ time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, metrics.VerifyOutcome(err))
}

// take returns the outcomes recorded since the last take.
func (v *verifyOutcomes) take() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	got := v.got
	v.got = nil
	return got
}

// TestDBSC_RefusalCountsAsRefusal: a device-bound session's cookie
// refused for what the request lacks (no bound cookie, another session's,
// an expired one; a second registration) is a refused token, not a server
// error: sessiond_verify_total counts it as token_invalid, and it raises
// no session.unknown_id event (its session is known; the refusal has its
// own event). The answers are those of any refused session.
func TestDBSC_RefusalCountsAsRefusal(t *testing.T) {
	type request func(t *testing.T, e *env, victim *browser, vd *dbscclient.Browser, outcomes *verifyOutcomes) *http.Response
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
		{"OwnBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, _ *verifyOutcomes) *http.Response {
			return victim.do(http.MethodGet, "/me", nil)
		}, http.StatusOK, "", "", metrics.VerifyOK},
		{"NoBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, _ *verifyOutcomes) *http.Response {
			return thief(t, e, victim).do(http.MethodGet, "/me", nil)
		}, http.StatusUnauthorized, `Bearer error="invalid_token"`, "unauthorized", metrics.VerifyTokenInvalid},
		{"AnotherSessionsBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, outcomes *verifyOutcomes) *http.Response {
			other, od := e.dbscBrowser(t, "ES256")
			register(t, other, od, "mallory")
			th := thief(t, e, victim, other)
			outcomes.take()
			return th.do(http.MethodGet, "/me", nil)
		}, http.StatusUnauthorized, `Bearer error="invalid_token"`, "unauthorized", metrics.VerifyTokenInvalid},
		{"ExpiredBoundCookie", func(t *testing.T, e *env, victim *browser, _ *dbscclient.Browser, _ *verifyOutcomes) *http.Response {
			e.clock.Advance(httpsession.DefaultBoundCookieLifetime + time.Minute)
			return victim.do(http.MethodGet, "/me", nil)
		}, http.StatusUnauthorized, `Bearer error="invalid_token"`, "unauthorized", metrics.VerifyTokenInvalid},
		{"SecondRegistration", func(t *testing.T, e *env, victim *browser, vd *dbscclient.Browser, _ *verifyOutcomes) *http.Response {
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
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, tt := range tests {
			t.Run(string(strategy)+"/"+tt.name, func(t *testing.T) {
				outcomes := &verifyOutcomes{}
				e := newEnv(t, envOptions{strategy: strategy,
					opts:    httpsession.Options{DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional}},
					manager: func(o *sessiond.Options) { o.VerifyObserver = outcomes.observe }})
				victim, vd := e.dbscBrowser(t, "ES256")
				register(t, victim, vd, "alice")
				outcomes.take()

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
				if got, want := outcomes.take(), []string{tt.want}; !slices.Equal(got, want) {
					t.Errorf("verify outcomes = %q; want %q", got, want)
				}
				if n := e.events.Count(sessiond.EventUnknownToken); n != 0 {
					t.Errorf("%d %s events for a known session's cookie; want 0", n, sessiond.EventUnknownToken)
				}
			})
		}
	}
}
