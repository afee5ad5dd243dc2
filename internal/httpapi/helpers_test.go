package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"

	"github.com/sessiond/sessiond/internal/testenv"
)

// t0 is every test's start time: UTC, with microseconds, like a store's.
var t0 = time.Date(2030, time.January, 2, 3, 4, 5, 678901000, time.UTC)

var life = sessiond.Lifetimes{Access: 5 * time.Minute, Refresh: 24 * time.Hour, Idle: 30 * time.Minute, Absolute: 8 * time.Hour}

// API keys the test Authenticate knows.
const (
	apiKey    = "sdk_test_q4Zr8nW2pXk7LmV3bT9cY6dH1fJ5gS0a"
	apiKeyID  = "key_test"
	panicKey  = "sdk_test_panics_in_authenticate_000000000"
	outageKey = "sdk_test_key_store_is_down_0000000000000"
)

var strategies = []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid}

// env is one server on a fresh Manager and store, with a fake clock, a
// client, and the captured log.
type env struct {
	t        testing.TB
	strategy sessiond.Strategy
	clock    *sessiondtest.Clock
	store    *memstore.Store
	m        *sessiond.Manager
	handler  http.Handler
	srv      *httptest.Server
	hc       *http.Client // checks every response against openapi.json
	c        *client.Client
	logs     *testenv.SyncBuffer
}

// newSigned is the JWT codec of the tests' servers, on a key ring of its
// own made at t0.
func newSigned(t testing.TB) (*jwttoken.KeyRing, *jwttoken.Codec) {
	t.Helper()
	ring, err := jwttoken.NewRing(t0, jwttoken.RingOptions{MaxTokenLifetime: life.Refresh})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwttoken.New(ring, jwttoken.Options{Issuer: "https://sessiond.test", Audience: "test-app"})
	if err != nil {
		t.Fatal(err)
	}
	return ring, signed
}

// newEnv starts a server for strategy. edit, when not nil, changes the
// handler's options before New.
func newEnv(t testing.TB, strategy sessiond.Strategy, edit func(*httpapi.Options)) *env {
	t.Helper()
	return newEnvWith(t, strategy, nil, edit)
}

// newEnvWith is newEnv where manager, when not nil, also changes the
// Manager's options before sessiond.New (a verify observer, say).
func newEnvWith(t testing.TB, strategy sessiond.Strategy, manager func(*sessiond.Options), edit func(*httpapi.Options)) *env {
	t.Helper()
	e := &env{t: t, strategy: strategy, clock: sessiondtest.NewClock(t0), store: memstore.New(), logs: &testenv.SyncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ring, signed := newSigned(t)
	var err error
	mo := sessiond.Options{
		Strategy: strategy, Store: e.store, Signed: signed, Opaque: opaquetoken.Codec{},
		Lifetimes: life, Clock: e.clock, GCInterval: -1, Logger: logger,
	}
	if manager != nil {
		manager(&mo)
	}
	e.m, err = sessiond.New(t.Context(), mo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Close() })
	opts := httpapi.Options{
		Manager:      e.m,
		Authenticate: authenticate,
		Ready:        func(context.Context) error { return nil },
		Logger:       logger,
		Version:      "test",
		Clock:        e.clock,
	}
	if strategy != sessiond.StrategyDatabase {
		opts.JWKS, opts.JWKSMaxAge = ring.JWKS, httpapi.JWKSMaxAge
	}
	if edit != nil {
		edit(&opts)
	}
	e.handler, err = httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	e.hc = &http.Client{Transport: &contractTransport{t: t, base: e.srv.Client().Transport, ssfOff: opts.SSF == nil}}
	e.c = e.client(apiKey)
	return e
}

// eachStrategy runs test for each strategy of which in a parallel subtest
// named for it, on a fresh server.
func eachStrategy(t *testing.T, which []sessiond.Strategy, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, strategy := range which {
		t.Run(string(strategy), func(t *testing.T) {
			t.Parallel()
			test(t, newEnv(t, strategy, nil))
		})
	}
}

// scopedKeys are test keys with one scope each: "sdk_test_scope_<scope>…".
func scopedKey(scope apikey.Scope) sessiond.Secret {
	return sessiond.Secret("sdk_test_scope_" + string(scope) + "_" + strings.Repeat("0", 24))
}

func authenticate(_ context.Context, key sessiond.Secret) (apikey.Key, error) {
	switch key {
	case apiKey:
		return apikey.Key{ID: apiKeyID, Scopes: []apikey.Scope{apikey.ScopeAdmin}}, nil
	case panicKey:
		panic("authenticate exploded")
	case outageKey:
		return apikey.Key{}, fmt.Errorf("api keys: %w", sessiond.ErrStoreUnavailable)
	}
	for _, scope := range apikey.Scopes {
		if key == scopedKey(scope) {
			return apikey.Key{ID: "key_" + string(scope), Scopes: []apikey.Scope{scope}}, nil
		}
	}
	return apikey.Key{}, errors.New("unknown API key")
}

// client returns a client of e's server using key.
func (e *env) client(key sessiond.Secret) *client.Client {
	e.t.Helper()
	c, err := client.New(e.srv.URL, key, client.WithHTTPClient(e.hc))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// create starts a session for subject and fails the test if it cannot.
func (e *env) create(subject string) *client.TokenResponse {
	e.t.Helper()
	tr, err := e.c.CreateSession(e.t.Context(), client.CreateRequest{Subject: subject})
	if err != nil {
		e.t.Fatalf("CreateSession(%q) = %v", subject, err)
	}
	return tr
}

// response is a raw answer of the server.
type response struct {
	status int
	header http.Header
	body   []byte
}

// problem decodes the body as a problem document.
func (r *response) problem(t testing.TB) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return p
}

// do sends a raw request with the test API key (unless the header map
// sets Authorization, "" meaning none).
func (e *env) do(method, path, contentType string, body []byte, header map[string]string) *response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) postJSON(path, body string) *response {
	e.t.Helper()
	return e.do(http.MethodPost, path, "application/json", []byte(body), nil)
}

func (e *env) postForm(path string, form url.Values) *response {
	e.t.Helper()
	return e.do(http.MethodPost, path, "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
}

// wantProblem checks that r is a problem with status and code and, when
// detail is not empty, a detail containing it.
func wantProblem(t testing.TB, op string, r *response, status int, code, detail string) {
	t.Helper()
	if !wantAnswer(t, op, r, status, "application/problem+json") {
		return
	}
	p := r.problem(t)
	if p["code"] != code {
		t.Errorf("%s code = %v; want %s (body %s)", op, p["code"], code, r.body)
	}
	if p["type"] != "https://sessiond.dev/problems/"+code {
		t.Errorf("%s type = %v; want https://sessiond.dev/problems/%s", op, p["type"], code)
	}
	if p["status"] != float64(status) {
		t.Errorf("%s problem status = %v; want %d", op, p["status"], status)
	}
	if d, _ := p["detail"].(string); !strings.Contains(d, detail) {
		t.Errorf("%s detail = %q; want it to contain %q", op, d, detail)
	}
}

// wantAnswer checks r's status and Content-Type. It reports false when
// the status is wrong: the body is then not worth checking.
func wantAnswer(t testing.TB, op string, r *response, status int, contentType string) bool {
	t.Helper()
	if r.status != status {
		t.Errorf("%s status = %d; want %d (body %s)", op, r.status, status, r.body)
		return false
	}
	if ct := r.header.Get("Content-Type"); ct != contentType {
		t.Errorf("%s Content-Type = %q; want %s", op, ct, contentType)
	}
	return true
}

// wantCode checks that err is a *client.Error with status and code that
// matches target with errors.Is.
func wantCode(t testing.TB, op string, err error, status int, code string, target error) {
	t.Helper()
	ce, ok := errors.AsType[*client.Error](err)
	if !ok {
		t.Errorf("%s error = %v (%T); want *client.Error %d %s", op, err, err, status, code)
		return
	}
	if ce.Status != status || ce.Code != code {
		t.Errorf("%s = %d %s (%s); want %d %s", op, ce.Status, ce.Code, ce.Detail, status, code)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("%s error %v does not match %v", op, err, target)
	}
	if ce.RequestID == "" {
		t.Errorf("%s error has no request ID", op)
	}
}

// logLines closes the server, so every request's line is written, and
// returns the log lines decoded.
func (e *env) logLines() []map[string]any {
	e.t.Helper()
	e.srv.Close()
	var lines []map[string]any
	for l := range strings.Lines(e.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			e.t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// requestLines returns the request log lines.
func requestLines(lines []map[string]any) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == "request" {
			out = append(out, l)
		}
	}
	return out
}

// The OpenAPI document, loaded once for every test.
var (
	docOnce     sync.Once
	docValue    map[string]any
	docCompiler *jsonschema.Compiler
	docErr      error
	schemaMu    sync.Mutex
	schemas     = map[string]*jsonschema.Schema{}
)

const docURL = "https://sessiond.test/openapi.json"

func loadDoc(t testing.TB) map[string]any {
	t.Helper()
	docOnce.Do(func() {
		var v any
		if v, docErr = jsonschema.UnmarshalJSON(bytes.NewReader(httpapi.Document)); docErr != nil {
			return
		}
		docValue, _ = v.(map[string]any)
		docCompiler = jsonschema.NewCompiler()
		docCompiler.DefaultDraft(jsonschema.Draft2020)
		docCompiler.AssertFormat()
		docErr = docCompiler.AddResource(docURL, v)
	})
	if docErr != nil {
		t.Fatalf("openapi.json: %v", docErr)
	}
	return docValue
}

// schemaAt compiles the schema at JSON pointer ptr of the document.
func schemaAt(t testing.TB, ptr string) *jsonschema.Schema {
	t.Helper()
	loadDoc(t)
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := schemas[ptr]; ok {
		return s
	}
	s, err := docCompiler.Compile(docURL + "#" + ptr)
	if err != nil {
		t.Fatalf("compile schema %s: %v", ptr, err)
	}
	schemas[ptr] = s
	return s
}

func pointerToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// matchPath returns the document's path template that matches the
// request path, preferring literal segments over wildcards.
func matchPath(doc map[string]any, path string) (string, bool) {
	segs := strings.Split(path, "/")
	best, bestLiterals := "", -1
	for tmpl := range doc["paths"].(map[string]any) {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i := range ts {
			switch {
			case strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}"):
				ok = ok && segs[i] != ""
			case ts[i] == segs[i]:
				literals++
			default:
				ok = false
			}
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = tmpl, literals
		}
	}
	return best, bestLiterals >= 0
}

// contractTransport checks every response against openapi.json: the
// status is documented for the operation, the content type and body match
// the documented schema, and documented headers are present. Requests the
// server accepted (2xx) must match their documented request schema.
type contractTransport struct {
	t    testing.TB
	base http.RoundTripper
	// ssfOff: the server has no transmitter, so the paths of the ssf
	// operations do not exist: every method answers a 404 problem.
	ssfOff bool
}

func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := ct.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check := checkContract
	if ct.ssfOff && ssfTagged(loadDoc(ct.t), req.URL.EscapedPath()) {
		check = checkAbsent
	}
	if errs := check(ct.t, req, reqBody, resp, body); len(errs) > 0 {
		ct.t.Errorf("%s %s → %d does not match openapi.json:\n\t%s\n\tbody: %.300s",
			req.Method, req.URL.EscapedPath(), resp.StatusCode, strings.Join(errs, "\n\t"), body)
	}
	return resp, nil
}

// ssfTagged reports whether the document's path for path holds the
// Shared Signals transmitter's operations (tag ssf).
func ssfTagged(doc map[string]any, path string) bool {
	tmpl, ok := matchPath(doc, path)
	if !ok {
		return false
	}
	for _, op := range doc["paths"].(map[string]any)[tmpl].(map[string]any) {
		if tags, _ := mapOf(op)["tags"].([]any); slices.Contains(tags, any("ssf")) {
			return true
		}
	}
	return false
}

// checkAbsent checks the answer for a route that is off: a 404 not_found
// problem, with no Allow list, whatever the method.
func checkAbsent(t testing.TB, req *http.Request, _ []byte, resp *http.Response, body []byte) []string {
	var errs []string
	for _, h := range []string{"X-Request-Id", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"} {
		if resp.Header.Get(h) == "" {
			errs = append(errs, "no "+h+" header")
		}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusNotFound || mt != "application/problem+json" || resp.Header.Get("Allow") != "" {
		errs = append(errs, "a route that is off must answer a 404 problem without Allow")
	}
	if req.Method == http.MethodHead {
		return errs
	}
	if code := problemCode(body); code != "not_found" {
		errs = append(errs, "problem code "+code+"; want not_found")
	}
	return append(errs, validate(t, "/components/schemas/Problem", body)...)
}

func checkContract(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, body []byte) []string {
	doc := loadDoc(t)
	var errs []string
	for _, h := range []string{"X-Request-Id", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"} {
		if resp.Header.Get(h) == "" {
			errs = append(errs, "no "+h+" header")
		}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	tmpl, ok := matchPath(doc, req.URL.EscapedPath())
	if !ok {
		if mt != "application/problem+json" || resp.StatusCode != http.StatusNotFound {
			errs = append(errs, "an undocumented path must answer a 404 problem")
		}
		return append(errs, validate(t, "/components/schemas/Problem", body)...)
	}
	method := strings.ToLower(req.Method)
	if req.Method == http.MethodHead {
		method = "get" // served by the GET route, without a body
	}
	op, ok := doc["paths"].(map[string]any)[tmpl].(map[string]any)[method].(map[string]any)
	if !ok {
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
			errs = append(errs, "an undocumented method must answer 405 with Allow")
		}
		return append(errs, validate(t, "/components/schemas/Problem", body)...)
	}
	opPtr := "/paths/" + pointerToken(tmpl) + "/" + method
	if rb, ok := op["requestBody"].(map[string]any); ok && resp.StatusCode < 300 && req.Header.Get("Content-Type") == "application/json" {
		if _, ok := rb["content"].(map[string]any)["application/json"]; ok {
			errs = append(errs, validate(t, opPtr+"/requestBody/content/application~1json/schema", reqBody)...)
		}
	}
	status := strconv.Itoa(resp.StatusCode)
	r, ok := op["responses"].(map[string]any)[status].(map[string]any)
	if !ok {
		return append(errs, "status "+status+" is not documented")
	}
	rPtr := opPtr + "/responses/" + status
	if ref, ok := r["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/responses/")
		r, rPtr = doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any), "/components/responses/"+name
	}
	for name := range mapOf(r["headers"]) {
		if resp.Header.Get(name) == "" {
			errs = append(errs, "documented header "+name+" is missing")
		}
	}
	if code := problemCode(body); mt == "application/problem+json" && code != "" {
		// A client handles a problem by its status and code: the response
		// the document gives for this status must name every code it carries.
		desc, _ := r["description"].(string)
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(code) + `\b`).MatchString(desc) {
			errs = append(errs, fmt.Sprintf("problem code %s is not named in the description of %s", code, rPtr))
		}
	}
	content := mapOf(r["content"])
	if req.Method == http.MethodHead {
		return errs
	}
	if len(content) == 0 {
		if len(body) != 0 {
			errs = append(errs, "documented without a body, but has one")
		}
		return errs
	}
	if _, ok := content[mt]; !ok {
		return append(errs, fmt.Sprintf("content type %q is not documented (want one of %v)", mt, slices.Sorted(maps.Keys(content))))
	}
	if !strings.HasSuffix(mt, "json") {
		return errs // metrics text, JavaScript: the media type is the contract
	}
	return append(errs, validate(t, rPtr+"/content/"+pointerToken(mt)+"/schema", body)...)
}

// problemCode returns the code member of a problem document, or "".
func problemCode(body []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return p.Code
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func validate(t testing.TB, ptr string, body []byte) []string {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []string{fmt.Sprintf("body is not JSON: %v", err)}
	}
	if err := schemaAt(t, ptr).Validate(inst); err != nil {
		return []string{fmt.Sprintf("body does not match %s: %v", ptr, err)}
	}
	return nil
}

// TestContractTransport_Live makes sure the contract check can fail, each
// check on its own: every response here carries the headers every answer
// must have, and a control that breaks nothing finds nothing.
func TestContractTransport_Live(t *testing.T) {
	t.Parallel()
	problem := func(code string) string {
		return `{"type":"https://sessiond.dev/problems/` + code + `","title":"Unauthorized","status":401,"detail":"x","code":"` + code + `"}`
	}
	for name, c := range map[string]struct {
		method, path string
		status       int
		mt, body     string
		want         string // "" for a control the check passes
	}{
		"healthy":             {http.MethodGet, "/healthz", 200, "application/json", `{"status":"ok"}`, ""},
		"wrong body":          {http.MethodGet, "/healthz", 200, "application/json", `{"status":"bad"}`, "body does not match"},
		"undocumented status": {http.MethodGet, "/healthz", 418, "application/json", `{"status":"ok"}`, "status 418 is not documented"},
		"not JSON":            {http.MethodGet, "/healthz", 200, "application/json", `ok`, "body is not JSON"},
		"code named":          {http.MethodPost, "/v1/sessions", 401, "application/problem+json", problem("use_dpop_nonce"), ""},
		"code not named": {http.MethodPost, "/v1/sessions", 401, "application/problem+json", problem("token_expired"),
			"problem code token_expired is not named in the description of /components/responses/LoginRejected"},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.mt}}}
		for _, h := range []string{"X-Request-Id", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control", "WWW-Authenticate"} {
			resp.Header.Set(h, "x")
		}
		errs := checkContract(t, req, nil, resp, []byte(c.body))
		if got := strings.Join(errs, "; "); c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%s: the contract check found %q; want %q", name, got, c.want)
		}
	}
}
