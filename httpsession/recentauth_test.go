package httpsession_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestSessions_RequireRecentAuth: a sensitive action needs a login within
// maxAge. An older session gets the RFC 9470 challenge; rotating it (a
// privilege change) does not count as logging in, a new Login does.
func TestSessions_RequireRecentAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	h := e.s.RequireRecentAuth(5*time.Minute, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	call := func(tok sessiond.Secret) *http.Response {
		r := httptest.NewRequest(http.MethodPost, "https://app.example/account/password", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+string(tok))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	login := func() *sessiond.Issued {
		iss, err := e.s.Login(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "https://app.example/login", nil), "alice", sessiond.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	const challenge = `Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300"`

	iss := login()
	if res := call(iss.AccessToken); res.StatusCode != http.StatusNoContent {
		t.Fatalf("right after login = %d; want 204", res.StatusCode)
	}
	e.clock.Advance(6 * time.Minute)
	res := call(iss.AccessToken)
	testenv.WantChallenge(t, "6 minutes after login", res, challenge)
	if body := readBody(t, res); !strings.Contains(body, `"code":"reauthentication_required"`) {
		t.Errorf("problem = %s; want code reauthentication_required", body)
	}
	rotated, err := e.m.Rotate(ctx, iss.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WantChallenge(t, "after a rotation", call(rotated.AccessToken), challenge)
	if res := call(login().AccessToken); res.StatusCode != http.StatusNoContent {
		t.Errorf("after a new login = %d; want 204", res.StatusCode)
	}
	testenv.WantChallenge(t, "without a session", call(""), "Bearer")
}

// A step_up anomaly keeps the session valid but asks for a new sign-in
// before anything sensitive (docs/anomaly.md): a cookie replayed from
// another browser (user_agent_change, step_up by default) must not pass
// the recent-auth guard, and the app can see the flag.
func TestSessions_RequireRecentAuth_StepUp(t *testing.T) {
	det, err := anomaly.New(anomaly.Options{Actions: anomaly.DefaultActions()})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase, manager: func(o *sessiond.Options) { o.Anomalies = det }})
	iss := loginFrom(t, e, chromeWin)
	h := e.s.RequireRecentAuth(10*time.Minute, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent) // e.g. sign every other device out
	}))
	r := httptest.NewRequest(http.MethodPost, "https://app.example/devices/revoke-others", nil)
	r.Header.Set("User-Agent", firefoxLin)
	r.Header.Set("Cookie", httpsession.DefaultCookieName+"="+string(iss.AccessToken))
	v, err := e.s.Inspect(r)
	if err != nil {
		t.Fatal(err)
	}
	if !v.StepUp {
		t.Fatalf("precondition: the Manager reports no step-up for a replay from another browser (anomalies %v)", v.Anomalies)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Errorf("RequireRecentAuth on a session flagged for step-up (%v) = %d %q; want the reauthentication challenge", v.Anomalies, w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Require lets it through and tells the app.
	var seen bool
	e.s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = httpsession.StepUpRequired(r.Context()) })).ServeHTTP(httptest.NewRecorder(), r)
	if !seen {
		t.Error("StepUpRequired is false in a request the anomaly rules flagged")
	}
	// The same browser as at login: no step-up, the action goes through.
	same := r.Clone(r.Context())
	same.Header.Set("User-Agent", chromeWin)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, same)
	if w.Code != http.StatusNoContent {
		t.Errorf("RequireRecentAuth from the login's browser = %d, want 204", w.Code)
	}
}

// In hybrid the client rules (user_agent_change, refresh_device_change)
// run at refresh only. A step_up they find there reaches the browser's
// refresh answer, and the access token it issues carries it: every verify
// of that token reports the step-up (RequireRecentAuth refuses, the
// gateway sends X-Sessiond-Step-Up), until a refresh from the login's
// browser issues one without.
func TestSessions_Refresh_HybridStepUpCarried(t *testing.T) {
	det, err := anomaly.New(anomaly.Options{Actions: map[anomaly.Rule]anomaly.Action{
		anomaly.RuleUserAgentChange:     anomaly.ActionStepUp,
		anomaly.RuleRefreshDeviceChange: anomaly.ActionStepUp,
	}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{strategy: sessiond.StrategyHybrid, manager: func(o *sessiond.Options) { o.Anomalies = det }})
	iss := loginFrom(t, e, chromeWin)
	// The Manager itself reports step-up for this refresh ...
	rr := httptest.NewRequest(http.MethodPost, "https://app.example"+httpsession.DefaultRefreshPath, nil)
	rr.Header.Set("User-Agent", firefoxLin)
	rr.Header.Set("Sec-Fetch-Site", "same-origin")
	rr.Header.Set("Cookie", httpsession.DefaultRefreshCookieName+"="+string(iss.RefreshToken))
	w := httptest.NewRecorder()
	e.s.RefreshHandler().ServeHTTP(w, rr)
	if w.Code != http.StatusOK {
		t.Fatalf("refresh = %d %s", w.Code, w.Body)
	}
	body := w.Body.String()
	stepUp := false
	for _, ev := range e.events.OfType(sessiond.EventAnomaly) {
		stepUp = stepUp || ev.Details["action"] == string(anomaly.ActionStepUp)
	}
	if !stepUp {
		t.Fatal("precondition: the refresh recorded no step_up anomaly")
	}
	var access string
	for _, c := range w.Result().Cookies() {
		if c.Name == httpsession.DefaultCookieName {
			access = c.Value
		}
	}
	if access == "" {
		t.Fatal("no access cookie after refresh")
	}
	// ... and the next request from that browser:
	r := httptest.NewRequest(http.MethodGet, "https://app.example/account", nil)
	r.Header.Set("User-Agent", firefoxLin)
	r.Header.Set("Cookie", httpsession.DefaultCookieName+"="+access)
	v, err := e.s.Inspect(r)
	if err != nil {
		t.Fatal(err)
	}
	if !v.StepUp || !strings.Contains(body, `"step_up_required":true`) {
		t.Errorf("a refresh from another browser found step_up: refresh answer %s, next verify StepUp=%v; want both to say so", strings.TrimSpace(body), v.StepUp)
	}
	// A token issued without a step-up reports none.
	if v, err := e.m.Inspect(t.Context(), iss.AccessToken, sessiond.Client{}); err != nil || v.StepUp {
		t.Errorf("the login's own access token: Inspect = %v, StepUp %v; want no step-up", err, v.StepUp)
	}
}

// A rotation on a privilege change is not a new sign-in: in hybrid,
// Sessions.Rotate from the browser the rules flag must issue a token that
// still asks for the step-up (RequireRecentAuth refuses it), and from the
// login's browser one that does not.
func TestSessions_Rotate_HybridKeepsStepUp(t *testing.T) {
	det, err := anomaly.New(anomaly.Options{Actions: map[anomaly.Rule]anomaly.Action{
		anomaly.RuleUserAgentChange: anomaly.ActionStepUp,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, ua string
		stepUp   bool
	}{
		{"another browser", firefoxLin, true},
		{"the login's browser", chromeWin, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: sessiond.StrategyHybrid, manager: func(o *sessiond.Options) { o.Anomalies = det }})
			iss := loginFrom(t, e, chromeWin)
			r := httptest.NewRequest(http.MethodPost, "https://app.example/account/role", nil)
			r.Header.Set("User-Agent", tt.ua)
			r.Header.Set("Cookie", httpsession.DefaultCookieName+"="+string(iss.AccessToken))
			rot, err := e.s.Rotate(httptest.NewRecorder(), r)
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			next := httptest.NewRequest(http.MethodGet, "https://app.example/account", nil)
			next.Header.Set("User-Agent", tt.ua)
			next.Header.Set("Cookie", httpsession.DefaultCookieName+"="+string(rot.AccessToken))
			w := httptest.NewRecorder()
			e.s.RequireRecentAuth(time.Hour, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })).ServeHTTP(w, next)
			if refused := w.Code != http.StatusNoContent; refused != tt.stepUp || rot.StepUp != tt.stepUp {
				t.Errorf("after Rotate from %s: RequireRecentAuth = %d, Issued.StepUp %v; want step-up %v", tt.name, w.Code, rot.StepUp, tt.stepUp)
			}
		})
	}
}

// Two browsers, as the anomaly rules tell them apart.
const (
	chromeWin  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	firefoxLin = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
)

// loginFrom logs alice in from a browser sending userAgent.
func loginFrom(t *testing.T, e *env, userAgent string) *sessiond.Issued {
	t.Helper()
	lr := httptest.NewRequest(http.MethodPost, "https://app.example/login", nil)
	lr.Header.Set("User-Agent", userAgent)
	iss, err := e.s.Login(httptest.NewRecorder(), lr, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}
