package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
)

// TestAPI_BadInput sends bad bodies to every JSON route: each gets a 400
// (or 413) problem whose detail names what is wrong.
func TestAPI_BadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	big := `{"subject":"` + strings.Repeat("a", 65<<10) + `"}`
	type tc struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		detail      string
	}
	// Bad input any JSON route refuses the same way.
	common := []tc{
		{"malformed", "application/json", `{"subject": "u",`, 400, "invalid_request", "not valid JSON"},
		{"syntax error", "application/json", `{"subject" "u"}`, 400, "invalid_request", "not valid JSON (at byte"},
		{"empty body", "application/json", ``, 400, "invalid_request", "request body is empty"},
		{"unknown field", "application/json", `{"foo": 1}`, 400, "invalid_request", `unknown field "foo"`},
		{"unknown nested field", "application/json", `{"client": {"ip": "203.0.113.1", "os": "x"}}`, 400, "invalid_request", `unknown field "os"`},
		{"array body", "application/json", `[1, 2]`, 400, "invalid_request", "must be a JSON object"},
		{"string body", "application/json", `"x"`, 400, "invalid_request", "must be a JSON object"},
		{"trailing garbage", "application/json", `{} garbage`, 400, "invalid_request", "nothing after it"},
		{"two objects", "application/json", `{}{}`, 400, "invalid_request", "nothing after it"},
		{"wrong nested type", "application/json", `{"client": {"ip": 5}}`, 400, "invalid_request", `wrong type for "client.ip": want a string`},
		{"client not an object", "application/json", `{"client": "x"}`, 400, "invalid_request", `wrong type for "client": want an object`},
		{"over 64 KiB", "application/json", big, 413, "payload_too_large", "65536"},
		{"no content type", "", `{"subject":"u"}`, 400, "invalid_request", "content type must be application/json"},
		{"text/plain", "text/plain", `{"subject":"u"}`, 400, "invalid_request", "content type must be application/json"},
		{"form", "application/x-www-form-urlencoded", `subject=u`, 400, "invalid_request", "content type must be application/json"},
		{"null body", "application/json", `null`, 400, "invalid_request", "request body must be a JSON object"},
		// JSON is UTF-8 (RFC 8259 §8.1): a body declared in another
		// charset would be read otherwise than it was written.
		{"charset utf-16", "application/json; charset=utf-16", `{"subject":"u"}`, 400, "invalid_request", "content type charset must be utf-8"},
		{"charset iso-8859-1", "application/json; charset=iso-8859-1", `{"subject":"u"}`, 400, "invalid_request", "content type charset must be utf-8"},
		{"charset utf8", "application/json;charset=utf8", `{"subject":"u"}`, 400, "invalid_request", "content type charset must be utf-8"},
		{"charset empty", `application/json; charset=""`, `{"subject":"u"}`, 400, "invalid_request", "content type charset must be utf-8"},
	}
	routes := map[string][]tc{
		"/v1/sessions": append(common[:len(common):len(common)],
			tc{"charset param", "application/json; charset=utf-8", `{"subject":"u"}`, 201, "", ""},
			tc{"charset param upper case", "application/json; charset=UTF-8", `{"subject":"u"}`, 201, "", ""},
			tc{"charset param quoted", `Application/JSON;Charset="Utf-8"`, `{"subject":"u"}`, 201, "", ""},
			tc{"missing subject", "application/json", `{}`, 400, "invalid_request", "subject: is required"},
			tc{"subject wrong type", "application/json", `{"subject": 42}`, 400, "invalid_request", `wrong type for "subject": want a string`},
			tc{"persistent wrong type", "application/json", `{"subject": "u", "persistent": "yes"}`, 400, "invalid_request", `wrong type for "persistent": want a boolean`},
			tc{"subject over 256 bytes", "application/json", `{"subject":"` + strings.Repeat("é", 129) + `"}`, 400, "invalid_request", "subject: is 258 bytes, over the limit of 256"},
			tc{"subject with control characters", "application/json", `{"subject":"a\nb"}`, 400, "invalid_request", "subject: contains control characters"},
			tc{"claims over 4 KiB", "application/json", `{"subject":"u","claims":{"x":"` + strings.Repeat("a", 4096) + `"}}`, 400, "invalid_request", "claims: are 4104 bytes, over the limit of 4096"},
			tc{"claims array", "application/json", `{"subject":"u","claims":[1,2]}`, 400, "invalid_request", "claims: must be a JSON object"},
			tc{"claims string", "application/json", `{"subject":"u","claims":"admin"}`, 400, "invalid_request", "claims: must be a JSON object"},
			tc{"bad client ip", "application/json", `{"subject":"u","client":{"ip":"not-an-ip"}}`, 400, "invalid_request", "client.ip: is not an IP address"},
			tc{"duplicate trailing object", "application/json", `{"subject":"u"} {"subject":"v"}`, 400, "invalid_request", "nothing after it"},
		),
		"/v1/sessions/verify": append(common[:len(common):len(common)],
			tc{"missing access_token", "application/json", `{}`, 400, "invalid_request", "access_token: is required"},
			tc{"access_token wrong type", "application/json", `{"access_token": ["x"]}`, 400, "invalid_request", `wrong type for "access_token": want a string`},
			tc{"bad client ip", "application/json", `{"access_token":"x","client":{"ip":"999.1.1.1"}}`, 400, "invalid_request", "client.ip: is not an IP address"},
			tc{"access_token 10 KiB", "application/json", `{"access_token":"` + string(make10K()) + `"}`, 401, "token_invalid", "the token is not valid"},
			tc{"access_token garbage", "application/json", `{"access_token":"\u0000'\"<script>"}`, 401, "token_invalid", "the token is not valid"},
		),
		"/v1/sessions/refresh": append(common[:len(common):len(common)],
			tc{"missing refresh_token", "application/json", `{}`, 400, "invalid_request", "refresh_token: is required"},
			tc{"refresh_token wrong type", "application/json", `{"refresh_token": true}`, 400, "invalid_request", `wrong type for "refresh_token": want a string`},
			tc{"bad client ip", "application/json", `{"refresh_token":"x","client":{"ip":"::g"}}`, 400, "invalid_request", "client.ip: is not an IP address"},
			tc{"refresh_token 10 KiB", "application/json", `{"refresh_token":"` + string(make10K()) + `"}`, 401, "token_invalid", "the token is not valid"},
		),
	}
	for path, cases := range routes {
		for _, c := range cases {
			t.Run(path+"/"+c.name, func(t *testing.T) {
				r := e.do(http.MethodPost, path, c.contentType, []byte(c.body), nil)
				if c.code == "" {
					if r.status != c.status {
						t.Errorf("POST %s status = %d; want %d (%s)", path, r.status, c.status, r.body)
					}
					return
				}
				wantProblem(t, "POST "+path, r, c.status, c.code, c.detail)
				// Client-chosen text is never repeated beyond a field name.
				if strings.Contains(string(r.body), "script") || strings.Contains(string(r.body), "garbage") {
					t.Errorf("problem %s echoes the request", r.body)
				}
			})
		}
	}
}

// TestAPI_RepeatedQueryParameter: every query parameter the document
// lists, given twice, is refused with a 400 naming it, on every route, as
// RFC 6749 §3.1 has it for /oauth2. Reading the first value instead would
// serve another request than the one a proxy or firewall reading the last
// one saw.
func TestAPI_RepeatedQueryParameter(t *testing.T) {
	t.Parallel()
	ev := memstore.New()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Events, o.Outbox = ev, ev
		o.SSF = newSSF(t)
	})
	// Two values each parameter takes alone: the repetition is the only
	// fault.
	id1, id2 := string(sessiond.NewSessionID()), string(sessiond.NewSessionID())
	values := map[string][2]string{
		"reason":     {"logout", "admin"},
		"except":     {id1, id2},
		"subject":    {"alice", "mallory"},
		"session_id": {id1, id2},
		"type":       {"session.created", "session.revoked"},
		"since":      {"2030-01-01T00:00:00Z", "2000-01-01T00:00:00Z"},
		"until":      {"2030-01-01T00:00:00Z", "2040-01-01T00:00:00Z"},
		"cursor":     {"", "x"},
		"limit":      {"1", "1000"},
		"state":      {"dead", "pending"},
		"stream_id":  {"a", "b"},
	}
	var n int
	for path, item := range loadDoc(t)["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			params, _ := mapOf(op)["parameters"].([]any)
			for _, p := range params {
				if mapOf(p)["in"] != "query" {
					continue
				}
				name := mapOf(p)["name"].(string)
				v, ok := values[name]
				if !ok {
					t.Errorf("%s %s: no test values for query parameter %q", method, path, name)
					continue
				}
				n++
				method, target := strings.ToUpper(method), samplePath(path)
				t.Run(method+" "+path+"?"+name, func(t *testing.T) {
					once := target + "?" + url.Values{name: {v[0]}}.Encode()
					if r := e.do(method, once, "", nil, nil); r.status == http.StatusBadRequest {
						t.Fatalf("%s %s = 400 %s; want the value taken", method, once, r.body)
					}
					twice := target + "?" + url.Values{name: v[:]}.Encode()
					wantProblem(t, method+" "+twice, e.do(method, twice, "", nil, nil),
						http.StatusBadRequest, "invalid_request", name+": must be given at most once")
				})
			}
		}
	}
	if n < 12 {
		t.Errorf("only %d query parameters documented", n)
	}
}

// TestAPI_Tokens checks the token responses' exact members and headers,
// and that the tokens are real strings, never the REDACTED a Secret
// marshals to.
func TestAPI_Tokens(t *testing.T) {
	t.Parallel()
	eachStrategy(t, strategies, func(t *testing.T, e *env) {
		r := e.postJSON("/v1/sessions", `{"subject":"user-1"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("POST /v1/sessions = %d %s", r.status, r.body)
		}
		var tok map[string]any
		if err := json.Unmarshal(r.body, &tok); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, "token response", tok, "session", "access_token", "access_token_expires_at", "expires_in", "refresh_token", "refresh_token_expires_at", "token_type")
		sess, _ := tok["session"].(map[string]any)
		wantKeys(t, "session", sess, "id", "subject", "strategy", "created_at", "last_active_at", "idle_expires_at", "expires_at", "persistent", "client", "claims", "device_bound")
		wantKeys(t, "session.client", sess["client"].(map[string]any), "ip", "user_agent")
		if c, ok := sess["claims"].(map[string]any); !ok || len(c) != 0 {
			t.Errorf("claims = %v; want {}", sess["claims"])
		}
		if at, _ := tok["access_token"].(string); at == "" || strings.Contains(at, "REDACTED") {
			t.Errorf("access_token = %q", at)
		}
		if e.strategy == sessiond.StrategyDatabase {
			if tok["refresh_token"] != nil || tok["refresh_token_expires_at"] != nil {
				t.Errorf("database refresh_token = %v, expires %v; want null, null", tok["refresh_token"], tok["refresh_token_expires_at"])
			}
		} else if rt, _ := tok["refresh_token"].(string); rt == "" || strings.Contains(rt, "REDACTED") {
			t.Errorf("refresh_token = %v", tok["refresh_token"])
		}
		if tok["token_type"] != "Bearer" {
			t.Errorf("token_type = %v", tok["token_type"])
		}
		for _, k := range []string{"created_at", "expires_at"} {
			if s, _ := sess[k].(string); !strings.HasSuffix(s, "Z") {
				t.Errorf("%s = %q; want RFC 3339 UTC", k, s)
			}
		}
		if got, want := r.header.Get("Location"), "/v1/sessions/"+sess["id"].(string); got != want {
			t.Errorf("Location = %q; want %q", got, want)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Errorf("Cache-Control %q, Pragma %q; want no-store, no-cache", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
		}
	})
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("%s has %d members %v; want exactly %v", what, len(m), m, keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s has no %q member", what, k)
		}
	}
}
