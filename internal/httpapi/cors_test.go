package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/gateway"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// The API is for servers, never for a browser on another origin: no
// answer, success, refusal or preflight, carries a CORS grant, and neither
// does the browser gateway mounted inside the API's middleware.

const evilOrigin = "https://evil.example"

// withGateway mounts the browser gateway at /sessiond, as cmd/sessiond does.
func withGateway(t *testing.T) func(*httpapi.Options) {
	return func(o *httpapi.Options) {
		s, err := httpsession.New(httpsession.Options{Manager: o.Manager, RefreshPath: "/sessiond/refresh"})
		if err != nil {
			t.Fatal(err)
		}
		g, err := gateway.New(gateway.Options{Sessions: s, Meta: memstore.New(), LoginURL: "/login"})
		if err != nil {
			t.Fatal(err)
		}
		o.Browser, o.BrowserPrefix = g, gateway.DefaultPrefix
	}
}

// rawDo sends a request outside the contract check (the browser routes
// are not in openapi.json) and returns the answer with its body read.
func (e *env) rawDo(t *testing.T, method, path string, hdr map[string]string) *response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := *e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestCORS_API(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, withGateway(t))
	tr := e.create("alice")
	verify := fmt.Sprintf(`{"access_token":%q}`, string(tr.AccessToken))
	fetchMeta := map[string]string{"Origin": evilOrigin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
	originOnly := map[string]string{"Origin": evilOrigin}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for name, hdr := range map[string]map[string]string{"fetch metadata": fetchMeta, "origin only": originOnly} {
		for _, c := range []struct {
			op     string
			body   string
			hdr    map[string]string
			status int
		}{
			{"verify", verify, hdr, http.StatusOK},
			{"verify of a bad token", `{"access_token":"garbage"}`, hdr, http.StatusUnauthorized},
			{"verify without an API key", verify, with(hdr, "Authorization", ""), http.StatusUnauthorized},
			{"verify with a wrong API key", verify, with(hdr, "Authorization", "Bearer sdk_wrong_0123456789"), http.StatusUnauthorized},
			{"verify with a body that is not JSON", `{`, hdr, http.StatusBadRequest},
		} {
			r := e.do(http.MethodPost, "/v1/sessions/verify", "application/json", []byte(c.body), c.hdr)
			op := fmt.Sprintf("%s (%s)", c.op, name)
			if r.status != c.status {
				t.Errorf("%s = %d; want %d (body %s)", op, r.status, c.status, r.body)
			}
			testenv.NoCORS(t, op, r.header)
		}
	}
	for _, path := range []string{"/v1/sessions/verify", "/v1/sessions", "/v1/sessions/refresh"} {
		for _, method := range []string{http.MethodPost, http.MethodDelete} {
			r := e.do(http.MethodOptions, path, "", nil, map[string]string{"Authorization": "", "Origin": evilOrigin,
				"Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization, content-type"})
			op := "OPTIONS " + path + " (preflight for " + method + ")"
			if r.status >= 200 && r.status < 300 {
				t.Errorf("%s = %d; want a refusal", op, r.status)
			}
			testenv.NoCORS(t, op, r.header)
		}
	}

	// The browser gateway inside the API's middleware.
	cookie := httpsession.DefaultCookieName + "=" + string(tr.AccessToken)
	for name, hdr := range map[string]map[string]string{"fetch metadata": fetchMeta, "origin only": originOnly} {
		for _, c := range []struct {
			method, path string
			hdr          map[string]string
			status       int
		}{
			{http.MethodGet, "/sessiond/check", with(hdr, "Cookie", cookie), http.StatusOK},
			{http.MethodGet, "/sessiond/check", hdr, http.StatusUnauthorized},
			{http.MethodGet, "/sessiond/session", with(hdr, "Cookie", cookie), http.StatusOK},
			{http.MethodGet, "/sessiond/refresh", hdr, http.StatusOK},
			{http.MethodPost, "/sessiond/refresh", with(hdr, "Cookie", httpsession.DefaultRefreshCookieName+"="+string(tr.RefreshToken)), http.StatusForbidden},
			{http.MethodPost, "/sessiond/logout", with(hdr, "Cookie", cookie), http.StatusForbidden},
		} {
			r := e.rawDo(t, c.method, c.path, c.hdr)
			op := fmt.Sprintf("%s %s (%s)", c.method, c.path, name)
			if r.status != c.status {
				t.Errorf("%s = %d; want %d (body %s)", op, r.status, c.status, r.body)
			}
			testenv.NoCORS(t, op, r.header)
		}
	}
	for _, path := range []string{"/sessiond/check", "/sessiond/refresh", "/sessiond/session", "/sessiond/logout"} {
		r := e.rawDo(t, http.MethodOptions, path, map[string]string{"Origin": evilOrigin,
			"Access-Control-Request-Method": http.MethodPost, "Access-Control-Request-Headers": "content-type"})
		testenv.NoCORS(t, "OPTIONS "+path+" (preflight for POST)", r.header)
	}
	// The check's challenge comes through the middleware unchanged.
	if r := e.rawDo(t, http.MethodGet, "/sessiond/check", originOnly); r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("GET /sessiond/check without credentials through the API: WWW-Authenticate = %q; want Bearer", r.header.Get("WWW-Authenticate"))
	}
	// The session is alive after all of it.
	if r := e.postJSON("/v1/sessions/verify", verify); r.status != http.StatusOK || !strings.Contains(string(r.body), `"alice"`) {
		t.Errorf("verify after the cross-origin requests = %d %s; want 200 alice", r.status, r.body)
	}
}
