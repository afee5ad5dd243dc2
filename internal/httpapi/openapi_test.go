package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestOpenAPI_Routes fails when the handler registers a route the
// document does not describe, or the document describes one the handler
// does not serve; and every route is reached by a request for it.
func TestOpenAPI_Routes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	registered := httpapi.Patterns(e.handler)
	documented := slices.Sorted(maps.Keys(operations(t)))
	for _, p := range registered {
		if !slices.Contains(documented, p) {
			t.Errorf("route %q is not in openapi.json", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(registered, p) {
			t.Errorf("openapi.json describes %q, which the handler does not register", p)
		}
	}
	if len(registered) != len(slices.Compact(slices.Sorted(slices.Values(registered)))) {
		t.Errorf("a pattern is registered twice: %v", registered)
	}

	// Each registered pattern is what serves a request for it: the log
	// line of the request names the pattern.
	sent := map[string]string{} // request ID → pattern
	for i, p := range registered {
		method, tmpl, _ := strings.Cut(p, " ")
		id := fmt.Sprintf("route-%d", i)
		e.do(method, samplePath(tmpl), "application/json", []byte(`{}`), map[string]string{"X-Request-Id": id})
		sent[id] = p
	}
	for _, l := range requestLines(e.logLines()) {
		id, _ := l["request_id"].(string)
		if want, ok := sent[id]; ok && l["pattern"] != want {
			t.Errorf("request for %q was served by pattern %v", want, l["pattern"])
		}
		delete(sent, id)
	}
	for id, p := range sent {
		t.Errorf("no log line for the request %s to %q", id, p)
	}
}

// TestOpenAPI_DocsNameRealRoutes: every API request the pages name
// (`GET /v1/…` in prose or a table, a line of an http block) is an
// operation of openapi.json, so a reader pasting one does not get a 404.
// Path parameters match whatever their name (`{id}`, `<stream_id>`).
func TestOpenAPI_DocsNameRealRoutes(t *testing.T) {
	t.Parallel()
	param := regexp.MustCompile(`\{[^}/]*\}|<[^>/]*>`)
	documented := map[string]bool{}
	for op := range operations(t) {
		documented[param.ReplaceAllString(op, "{}")] = true
	}
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md", "../../sdk/node/README.md")
	named := regexp.MustCompile("(?m)(?:`|^\\s*)(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^`\\s?]*)")
	api := regexp.MustCompile(`^/(v1/|oauth2/|\.well-known/|openapi\.json$|healthz$|readyz$|metrics$|sdk/)`)
	n := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllStringSubmatch(string(b), -1) {
			if !api.MatchString(m[2]) {
				continue // the gateway's, the console's or an app's route
			}
			n++
			if op := m[1] + " " + param.ReplaceAllString(m[2], "{}"); !documented[op] {
				t.Errorf("%s names %s %s, which openapi.json does not describe", filepath.Base(page), m[1], m[2])
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d API requests in the pages; want more", n)
	}
}

// TestOpenAPI_Document checks the document itself: JSON, OpenAPI 3.1.x,
// every schema compiles, operation IDs are unique, the problem codes are
// exactly those the handler answers, and it is served as embedded.
func TestOpenAPI_Document(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(httpapi.Document, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi = %q; want 3.1.x", v)
	}
	loadDoc(t)
	components := doc["components"].(map[string]any)
	for name := range components["schemas"].(map[string]any) {
		schemaAt(t, "/components/schemas/"+name)
	}
	if _, ok := components["securitySchemes"].(map[string]any)["apiKey"]; !ok {
		t.Error("no apiKey security scheme")
	}

	ids := map[string]string{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			o := op.(map[string]any)
			id, _ := o["operationId"].(string)
			if id == "" {
				t.Errorf("%s %s has no operationId", method, path)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %s used by %s and %s %s", id, prev, method, path)
			}
			ids[id] = method + " " + path
			for status, r := range o["responses"].(map[string]any) {
				if ref, ok := r.(map[string]any)["$ref"].(string); ok {
					name := strings.TrimPrefix(ref, "#/components/responses/")
					if _, ok := components["responses"].(map[string]any)[name]; !ok {
						t.Errorf("%s %s %s refers to missing response %s", method, path, status, ref)
					}
				}
			}
			params := map[string]bool{}
			for _, list := range []any{item.(map[string]any)["parameters"], o["parameters"]} {
				for _, p := range sliceOf(list) {
					if p := p.(map[string]any); p["in"] == "path" {
						params[p["name"].(string)] = true
					}
				}
			}
			for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
				if !params[m[1]] {
					t.Errorf("%s %s declares no path parameter %s", method, path, m[1])
				}
			}
		}
	}

	codeSchema := components["schemas"].(map[string]any)["Problem"].(map[string]any)["properties"].(map[string]any)["code"].(map[string]any)
	var enum []string
	for _, c := range codeSchema["enum"].([]any) {
		enum = append(enum, c.(string))
	}
	if got, want := slices.Sorted(slices.Values(enum)), slices.Sorted(slices.Values(httpapi.ProblemCodes())); !slices.Equal(got, want) {
		t.Errorf("Problem.code enum = %v; the handler answers %v", got, want)
	}

	// GET /v1/events refuses a type sessiond does not record: the
	// parameter's enum is that list.
	var typeEnum, known []string
	for _, p := range sliceOf(doc["paths"].(map[string]any)["/v1/events"].(map[string]any)["get"].(map[string]any)["parameters"]) {
		if p := p.(map[string]any); p["name"] == "type" {
			for _, v := range sliceOf(p["schema"].(map[string]any)["enum"]) {
				typeEnum = append(typeEnum, v.(string))
			}
		}
	}
	for _, et := range sessiond.EventTypes() {
		known = append(known, string(et))
	}
	if !slices.Equal(typeEnum, known) {
		t.Errorf("GET /v1/events type enum = %v; want sessiond.EventTypes() %v", typeEnum, known)
	}

	e := newEnv(t, sessiond.StrategyHybrid, nil)
	r := e.do(http.MethodGet, "/openapi.json", "", nil, map[string]string{"Authorization": ""})
	var served map[string]any
	if err := json.Unmarshal(r.body, &served); err != nil || r.status != 200 {
		t.Fatalf("GET /openapi.json = %d, %v", r.status, err)
	}
	if v := served["info"].(map[string]any)["version"]; v != "test" {
		t.Errorf("served info.version = %v; want the server's version", v)
	}
	served["info"].(map[string]any)["version"] = doc["info"].(map[string]any)["version"]
	a, _ := json.Marshal(served)
	b, _ := json.Marshal(doc)
	if string(a) != string(b) {
		t.Error("served document differs from openapi.json beyond info.version")
	}
}

func sliceOf(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestErrorTable checks the one error → status/code table, including the
// errors no Manager of these tests can produce.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyJWT, nil)
	wrap := func(err error) error { return fmt.Errorf("sessiond: op: %w", err) }
	for _, c := range []struct {
		err    error
		status int
		code   string
		detail string
	}{
		{wrap(sessiond.ErrInvalidToken), 401, "token_invalid", "the token is not valid"},
		{wrap(sessiond.ErrExpired), 401, "token_expired", "the token has expired"},
		{wrap(sessiond.ErrRevoked), 401, "session_revoked", ""},
		{wrap(sessiond.ErrIdleTimeout), 401, "idle_timeout", ""},
		{wrap(sessiond.ErrAbsoluteTimeout), 401, "absolute_timeout", ""},
		{wrap(sessiond.ErrRefreshReused), 401, "refresh_token_reused", ""},
		{wrap(sessiond.ErrNotFound), 404, "not_found", ""},
		{wrap(&sessiond.ArgumentError{Field: "client.ip", Msg: "is not an IP address"}), 400, "invalid_request", "client.ip: is not an IP address"},
		{wrap(sessiond.ErrInvalidArgument), 400, "invalid_request", "the request is invalid"},
		{wrap(sessiond.ErrUnsupported), 400, "invalid_request", "the jwt strategy cannot do this"},
		{wrap(sessiond.ErrLimitReached), 409, "session_limit_reached", ""},
		{wrap(sessiond.ErrStoreUnavailable), 503, "store_unavailable", ""},
		{errors.Join(sessiond.ErrInvalidToken, sessiond.ErrStoreUnavailable), 503, "store_unavailable", ""},
		// A store that gave up on a lost race (PostgreSQL's lock_timeout,
		// a serialization failure): nothing changed, retry.
		{wrap(sessiond.ErrConflict), 503, "store_unavailable", "retry"},
		{context.Canceled, 500, "internal", ""},
		{errors.New("pgx: password authentication failed for user sessiond"), 500, "internal", ""},
	} {
		status, code, detail := httpapi.ProblemFor(e.handler, c.err)
		if status != c.status || code != c.code || !strings.Contains(detail, c.detail) {
			t.Errorf("ProblemFor(%v) = %d %s %q; want %d %s containing %q", c.err, status, code, detail, c.status, c.code, c.detail)
		}
		if status >= 500 && strings.Contains(detail, c.err.Error()) {
			t.Errorf("ProblemFor(%v) detail %q echoes the error", c.err, detail)
		}
	}
}

// TestNew_Options checks New refuses what it cannot work with.
func TestNew_Options(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for name, o := range map[string]httpapi.Options{
		"no manager":        {Authenticate: authenticate},
		"no authenticate":   {Manager: e.m},
		"negative max body": {Manager: e.m, Authenticate: authenticate, MaxBodyBytes: -1},
		"negative streams per key": {Manager: e.m, Authenticate: authenticate,
			RateLimits: httpapi.RateLimits{StreamsPerAPIKey: -1}},
	} {
		if _, err := httpapi.New(o); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("New(%s) = %v; want ErrInvalidArgument", name, err)
		}
	}

	small := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.MaxBodyBytes = 100 })
	r := small.postJSON("/v1/sessions", `{"subject":"`+strings.Repeat("a", 100)+`"}`)
	wantProblem(t, "body over MaxBodyBytes", r, 413, "payload_too_large", "100 bytes")
	r = small.postJSON("/v1/sessions", `{"subject":"u"}`)
	if r.status != 201 {
		t.Errorf("small body = %d %s; want 201", r.status, r.body)
	}

	// Without a Content-Length (chunked), the limit holds while reading.
	for _, path := range []string{"/v1/sessions", "/oauth2/revoke"} {
		ct := "application/json"
		if strings.HasPrefix(path, "/oauth2/") {
			ct = "application/x-www-form-urlencoded"
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, small.srv.URL+path,
			io.MultiReader(strings.NewReader(`{"subject":"`), strings.NewReader(strings.Repeat("a", 200)+`"}`)))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := small.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ContentLength == 0 || resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
			t.Errorf("chunked body over MaxBodyBytes to %s = %d (request length %d); want 413", path, resp.StatusCode, req.ContentLength)
		}
	}
}
