package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// fakeHandoff stands in for the browser gateway (internal/gateway, tested
// with the server in internal/server).
type fakeHandoff struct {
	codes    []*sessiond.Issued
	returnTo []string
	fail     error
}

func (f *fakeHandoff) CheckReturnTo(s string) error {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return errors.New("bad return_to")
	}
	return nil
}

func (f *fakeHandoff) NewLoginCode(_ context.Context, iss *sessiond.Issued, returnTo string) (sessiond.Secret, string, error) {
	if f.fail != nil {
		return "", "", f.fail
	}
	f.codes = append(f.codes, iss)
	f.returnTo = append(f.returnTo, returnTo)
	code := "sdlc_" + strings.Repeat("A", 43)
	return sessiond.Secret(code), "/sessiond/login?code=" + code, nil
}

func (f *fakeHandoff) SetCookieValues(iss *sessiond.Issued) ([]string, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	return []string{"sid=" + string(iss.AccessToken) + "; Path=/; HttpOnly"}, nil
}

func TestCreateSession_Handoff(t *testing.T) {
	fake := &fakeHandoff{}
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.Handoff = fake })

	r := e.postJSON("/v1/sessions", `{"subject":"alice","login_code":true,"return_to":"/orders?x=1"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create with login_code = %d %s", r.status, r.body)
	}
	var out map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if out["login_code"] != "sdlc_"+strings.Repeat("A", 43) || out["login_url"] != "/sessiond/login?code=sdlc_"+strings.Repeat("A", 43) {
		t.Errorf("login_code %v, login_url %v", out["login_code"], out["login_url"])
	}
	if out["access_token"] == nil || out["session"] == nil || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the handoff answer lacks the token response or no-store: %s", r.body)
	}
	if len(fake.codes) != 1 || fake.returnTo[0] != "/orders?x=1" || string(fake.codes[0].AccessToken) != out["access_token"] {
		t.Errorf("the handoff got %d sessions, return_to %q", len(fake.codes), fake.returnTo)
	}

	r = e.postJSON("/v1/sessions", `{"subject":"alice","set_cookie":true}`)
	out = nil
	if err := json.Unmarshal(r.body, &out); r.status != http.StatusCreated || err != nil {
		t.Fatalf("create with set_cookie = %d %s", r.status, r.body)
	}
	if sc, _ := out["set_cookie"].([]any); len(sc) != 1 || !strings.HasPrefix(sc[0].(string), "sid=") {
		t.Errorf("set_cookie = %v", out["set_cookie"])
	}
	if _, ok := out["login_code"]; ok {
		t.Error("set_cookie answer has a login_code")
	}

	// Without either flag the answer is the plain token response.
	r = e.postJSON("/v1/sessions", `{"subject":"alice"}`)
	if strings.Contains(string(r.body), "login_code") || strings.Contains(string(r.body), "set_cookie") {
		t.Errorf("plain create mentions the handoff: %s", r.body)
	}
}

func TestCreateSession_HandoffRefused(t *testing.T) {
	fake := &fakeHandoff{}
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.Handoff = fake })
	for _, c := range []struct{ name, body, detail string }{
		{"login_code and set_cookie", `{"subject":"a","login_code":true,"set_cookie":true}`, "set_cookie"},
		{"return_to alone", `{"subject":"a","return_to":"/x"}`, "return_to"},
		{"return_to with set_cookie", `{"subject":"a","set_cookie":true,"return_to":"/x"}`, "return_to"},
		{"open redirect", `{"subject":"a","login_code":true,"return_to":"//evil.example"}`, "return_to"},
		{"absolute return_to", `{"subject":"a","login_code":true,"return_to":"https://evil.example/"}`, "return_to"},
		{"login_code not a boolean", `{"subject":"a","login_code":"yes"}`, "login_code"},
		{"return_to not a string", `{"subject":"a","login_code":true,"return_to":7}`, "return_to"},
		{"bad subject", `{"subject":"","login_code":true}`, "subject"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, c.name, e.postJSON("/v1/sessions", c.body), 400, "invalid_request", c.detail)
		})
	}
	if len(fake.codes) != 0 {
		t.Errorf("refused requests reached the handoff %d times", len(fake.codes))
	}
	if n := len(e.list("a")); n != 0 {
		t.Errorf("refused handoff requests left %d sessions", n)
	}

	// Without a gateway the flags are refused, and no session is created.
	plain := newEnv(t, sessiond.StrategyHybrid, nil)
	wantProblem(t, "no gateway", plain.postJSON("/v1/sessions", `{"subject":"a","login_code":true}`), 400, "invalid_request", "gateway.enabled")
	wantProblem(t, "no gateway", plain.postJSON("/v1/sessions", `{"subject":"a","set_cookie":true}`), 400, "invalid_request", "set_cookie")
	if n := len(plain.list("a")); n != 0 {
		t.Errorf("a refused handoff left %d sessions", n)
	}

	// A handoff that fails revokes the session it was given.
	fake.fail = fmt.Errorf("gateway: %w", httpapi.ErrTooManyLoginCodes)
	wantProblem(t, "too many codes", e.postJSON("/v1/sessions", `{"subject":"b","login_code":true}`), 503, "store_unavailable", "login codes")
	fake.fail = fmt.Errorf("gateway: %w", sessiond.ErrStoreUnavailable)
	wantProblem(t, "store down", e.postJSON("/v1/sessions", `{"subject":"b","login_code":true}`), 503, "store_unavailable", "")
	if n := len(e.list("b")); n != 0 {
		t.Errorf("failed handoffs left %d live sessions", n)
	}
}

func (e *env) list(subject string) []sessiond.Session {
	e.t.Helper()
	ss, err := e.m.List(e.t.Context(), subject)
	if err != nil {
		e.t.Fatal(err)
	}
	return ss
}
