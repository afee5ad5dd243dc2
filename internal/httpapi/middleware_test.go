package httpapi_test

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// samplePath fills a documented path template with values that reach the
// route.
func samplePath(tmpl string) string {
	return strings.NewReplacer("{id}", string(sessiond.NewSessionID()), "{subject}", "user-1").Replace(tmpl)
}

// operations returns every documented "METHOD /path" with whether it
// needs an API key.
func operations(t *testing.T) map[string]bool {
	t.Helper()
	doc := loadDoc(t)
	ops := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			sec, hasOwn := op.(map[string]any)["security"].([]any)
			ops[strings.ToUpper(method)+" "+path] = !hasOwn || len(sec) > 0
		}
	}
	return ops
}

// TestAPI_Authentication: every /v1 and /oauth2 route refuses a request
// without a valid API key, before reading anything else.
func TestAPI_Authentication(t *testing.T) {
	t.Parallel()
	// With the transmitter: off, its routes do not exist (TestSSF_Off).
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.SSF = newSSF(t) })
	for op, secured := range operations(t) {
		method, tmpl, _ := strings.Cut(op, " ")
		path := samplePath(tmpl)
		if !secured {
			r := e.do(method, path, "", nil, map[string]string{"Authorization": "Bearer wrong"})
			if r.status == http.StatusUnauthorized {
				t.Errorf("public %s answered 401 to a wrong key", op)
			}
			continue
		}
		if !strings.HasPrefix(tmpl, "/v1/") && !strings.HasPrefix(tmpl, "/oauth2/") {
			t.Errorf("%s needs an API key but is outside /v1 and /oauth2", op)
		}
		for name, auth := range map[string]string{
			"none":         "",
			"wrong key":    "Bearer sdk_wrong_0123456789",
			"empty bearer": "Bearer ",
			"other scheme": "Basic " + apiKey,
			"no scheme":    apiKey,
			"key too long": "Bearer " + strings.Repeat("k", 2000),
		} {
			r := e.do(method, path, "application/json", []byte(`{}`), map[string]string{"Authorization": auth})
			if strings.HasPrefix(tmpl, "/oauth2/") {
				wantOAuthError(t, op+" "+name, r, 401, "invalid_client")
			} else {
				wantProblem(t, op+" "+name, r, 401, "unauthorized", "API key")
			}
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="sessiond"` {
				t.Errorf("%s %s: WWW-Authenticate = %q", op, name, got)
			}
		}
		r := e.do(method, path, "application/json", []byte(`{}`), map[string]string{"Authorization": "bearer " + apiKey})
		if r.status == http.StatusUnauthorized {
			t.Errorf("%s with a lowercase bearer scheme = 401; the scheme is case-insensitive", op)
		}
	}
}

// TestAPI_Headers checks the headers every response carries.
func TestAPI_Headers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for _, c := range []struct {
		method, path, ct, body string
		cache                  string
	}{
		{"GET", "/healthz", "", "", "no-store"},
		{"GET", "/readyz", "", "", "no-store"},
		{"GET", "/openapi.json", "", "", "no-store"},
		{"GET", "/.well-known/jwks.json", "", "", "public, max-age=300"},
		{"POST", "/v1/sessions", "application/json", `{"subject":"u"}`, "no-store"},
		{"POST", "/v1/sessions", "application/json", `{`, "no-store"},
		{"GET", "/v1/subjects/u/sessions", "", "", "no-store"},
		{"POST", "/oauth2/introspect", "application/x-www-form-urlencoded", "token=x", "no-store"},
		{"GET", "/nope", "", "", "no-store"},
		{"PUT", "/v1/sessions", "", "", "no-store"},
	} {
		r := e.do(c.method, c.path, c.ct, []byte(c.body), nil)
		for h, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			"Cache-Control":           c.cache,
		} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s %s: %s = %q; want %q", c.method, c.path, h, got, want)
			}
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", c.method, c.path)
		}
	}
}

// TestAPI_RequestID: a sane incoming X-Request-Id is kept, anything else
// replaced, and the log line carries the same ID.
func TestAPI_RequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	generated := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	sent := map[string]string{} // response ID → what was sent
	for _, in := range []string{"", "abc-123_X.y", strings.Repeat("a", 64), strings.Repeat("a", 65), "has space", "semi;colon", "ünï"} {
		r := e.do(http.MethodGet, "/healthz", "", nil, map[string]string{"X-Request-Id": in})
		got := r.header.Get("X-Request-Id")
		sane := in != "" && len(in) <= 64 && !strings.ContainsAny(in, " ;ü")
		switch {
		case sane && got != in:
			t.Errorf("X-Request-Id %q came back as %q; want it kept", in, got)
		case !sane && !generated.MatchString(got):
			t.Errorf("X-Request-Id %q came back as %q; want a generated one", in, got)
		}
		sent[got] = in
	}
	lines := requestLines(e.logLines())
	for _, l := range lines {
		if _, ok := sent[l["request_id"].(string)]; !ok {
			t.Errorf("log line request_id %v is none of the IDs answered", l["request_id"])
		}
	}
	if len(lines) != len(sent) {
		t.Errorf("%d request lines for %d requests", len(lines), len(sent))
	}
}

// TestAPI_NotRouted: unknown paths are 404 problems, known paths with
// another method 405 problems with Allow.
func TestAPI_NotRouted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for _, c := range []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{"GET", "/", 404, "not_found", ""},
		{"GET", "/v2/sessions", 404, "not_found", ""},
		{"GET", "/v1/sessions/", 404, "not_found", ""},
		{"POST", "/v1/sessions/x/y/z", 404, "not_found", ""},
		{"GET", "/v1/sessions/not-an-id", 404, "not_found", ""},
		{"PUT", "/v1/sessions", 405, "invalid_request", "POST"},
		{"GET", "/v1/sessions", 405, "invalid_request", "POST"},
		{"PATCH", "/v1/sessions/" + string(sessiond.NewSessionID()), 405, "invalid_request", "DELETE, GET, HEAD"},
		{"GET", "/v1/sessions/verify/", 404, "not_found", ""},
		{"PUT", "/v1/sessions/verify", 405, "invalid_request", "POST"},
		{"GET", "/oauth2/revoke", 405, "invalid_request", "POST"},
		{"POST", "/healthz", 405, "invalid_request", "GET, HEAD"},
		{"DELETE", "/.well-known/jwks.json", 405, "invalid_request", "GET, HEAD"},
	} {
		r := e.do(c.method, c.path, "", nil, nil)
		wantProblem(t, c.method+" "+c.path, r, c.status, c.code, "")
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow = %q; want %q", c.method, c.path, got, c.allow)
		}
	}
	r := e.do(http.MethodHead, "/healthz", "", nil, nil)
	if r.status != http.StatusOK {
		t.Errorf("HEAD /healthz = %d; want 200", r.status)
	}
}

// TestAPI_Log runs a scenario and reads the log: one line per request
// with its request ID and pattern, and no token or API key anywhere.
func TestAPI_Log(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	ctx := t.Context()
	var secrets []string
	keep := func(s ...sessiond.Secret) {
		for _, x := range s {
			if x != "" {
				secrets = append(secrets, string(x))
			}
		}
	}
	requests := 0
	call := func(err error) {
		t.Helper()
		requests++
		if err != nil {
			t.Errorf("request %d = %v", requests, err)
		}
	}

	a := e.create("alice")
	requests++
	keep(a.AccessToken, a.RefreshToken)
	_, err := e.c.Verify(ctx, a.AccessToken, nil)
	call(err)
	e.clock.Advance(time.Minute)
	a2, err := e.c.Refresh(ctx, a.RefreshToken, nil)
	call(err)
	keep(a2.AccessToken, a2.RefreshToken)
	e.clock.Advance(time.Minute)
	_, err = e.c.Refresh(ctx, a.RefreshToken, nil) // reuse: revokes the family
	requests++
	wantCode(t, "Refresh(reused)", err, 401, "refresh_token_reused", sessiond.ErrRefreshReused)
	_, err = e.c.Verify(ctx, a2.AccessToken, nil)
	requests++
	wantCode(t, "Verify(after reuse)", err, 401, "session_revoked", sessiond.ErrRevoked)

	b := e.create("bob")
	requests++
	keep(b.AccessToken, b.RefreshToken)
	_, err = e.c.Introspect(ctx, b.AccessToken)
	call(err)
	rot, err := e.c.Rotate(ctx, b.Session.ID)
	call(err)
	keep(rot.AccessToken, rot.RefreshToken)
	call(e.c.RevokeToken(ctx, rot.RefreshToken, "refresh_token"))
	_, err = e.c.Verify(ctx, rot.AccessToken, nil)
	requests++
	wantCode(t, "Verify(revoked)", err, 401, "session_revoked", sessiond.ErrRevoked)
	_, err = e.c.Verify(ctx, rot.AccessToken[:len(rot.AccessToken)-3]+"AAA", nil)
	requests++
	wantCode(t, "Verify(tampered)", err, 401, "token_invalid", sessiond.ErrInvalidToken)

	c := e.create("carol")
	requests++
	keep(c.AccessToken, c.RefreshToken)
	d := e.create("carol")
	requests++
	keep(d.AccessToken, d.RefreshToken)
	_, err = e.c.RevokeSubject(ctx, "carol", d.Session.ID)
	call(err)
	call(e.c.RevokeSession(ctx, d.Session.ID))
	r := e.postForm("/oauth2/revoke", url.Values{"token": {string(c.AccessToken)}}) // already revoked
	requests++
	if r.status != 200 {
		t.Errorf("revoke again = %d", r.status)
	}

	wrongKey := "sdk_wrong_key_that_must_not_be_logged"
	_, err = e.client(sessiond.Secret(wrongKey)).Verify(ctx, c.AccessToken, nil)
	requests++
	wantCode(t, "Verify(wrong API key)", err, 401, "unauthorized", nil)
	e.do(http.MethodGet, "/v1/sessions/x", "", nil, map[string]string{"Authorization": "Bearer " + panicKey})
	requests++
	e.do(http.MethodPost, "/v1/sessions", "application/json", []byte(`{"subject":"u","access_token":"`+string(c.AccessToken)+`"}`), nil)
	requests++

	lines := e.logLines()
	log := e.logs.String()
	for _, s := range append(secrets, apiKey, wrongKey, panicKey) {
		if strings.Contains(log, s) {
			t.Errorf("the log holds a secret (%.12s…)", s)
		}
		// A JWT's signature alone would identify it too.
		if i := strings.LastIndexByte(s, '.'); i > 0 && strings.Contains(log, s[i+1:]) {
			t.Errorf("the log holds a token signature (%.12s…)", s[i+1:])
		}
	}
	if strings.Contains(log, "except=") {
		t.Error("the log holds a query string")
	}
	for i, l := range lines {
		if id, _ := l["request_id"].(string); id == "" && (l["msg"] == "request" || l["msg"] == "panic recovered") {
			t.Errorf("log line %d has no request_id: %v", i, l)
		}
	}
	reqs := requestLines(lines)
	if len(reqs) != requests {
		t.Errorf("%d request lines for %d requests", len(reqs), requests)
	}
	patterns := map[string]bool{}
	for _, l := range reqs {
		for _, k := range []string{"request_id", "method", "pattern", "status", "duration_ms", "bytes", "remote_addr", "api_key_id"} {
			if _, ok := l[k]; !ok {
				t.Errorf("request line has no %s: %v", k, l)
			}
		}
		p, _ := l["pattern"].(string)
		patterns[p] = true
		if l["status"] == float64(500) && l["level"] != "ERROR" {
			t.Errorf("500 logged at level %v", l["level"])
		}
		if l["status"] == float64(401) && l["api_key_id"] == "" && l["err"] == nil {
			t.Errorf("refused API key logged without its cause: %v", l)
		}
	}
	for _, want := range []string{"POST /v1/sessions", "POST /v1/sessions/verify", "POST /v1/sessions/refresh",
		"POST /v1/sessions/{id}/rotate", "DELETE /v1/sessions/{id}", "DELETE /v1/subjects/{subject}/sessions",
		"POST /oauth2/revoke", "POST /oauth2/introspect", "GET /v1/sessions/{id}"} {
		if !patterns[want] {
			t.Errorf("no request line with pattern %q (have %v)", want, slices.Sorted(maps.Keys(patterns)))
		}
	}
}

// GET, HEAD and DELETE on /v1/sessions/verify and /refresh answer 405
// with Allow: POST, as openapi.json documents only POST there: the routes
// GET and DELETE /v1/sessions/{id} must not take "verify" for a session ID.
func TestRoutes_WrongMethodOnLiteralPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for _, path := range []string{"/v1/sessions/verify", "/v1/sessions/refresh"} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			r := e.do(method, path, "", nil, nil)
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
				t.Errorf("%s %s = %d Allow %q %s; want 405 Allow: POST", method, path, r.status, r.header.Get("Allow"), r.body)
			}
		}
		// HEAD without the contract transport (a 405 to HEAD has no body).
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("HEAD %s = %d Allow %q; want 405 Allow: POST", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}
