package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

func TestNew(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", "::", "127.0.0.1:8420", "ftp://h", "http://", "http://u:p@h", "http://h?x=1", "http://h/#f"} {
		if _, err := client.New(base, "key"); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("New(%q) = %v; want ErrInvalidArgument", base, err)
		}
	}
	if _, err := client.New("http://h", ""); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("New without a key = %v; want ErrInvalidArgument", err)
	}
	for _, base := range []string{"http://127.0.0.1:8420", "https://h/", "https://h/prefix/"} {
		if _, err := client.New(base, "key"); err != nil {
			t.Errorf("New(%q) = %v", base, err)
		}
	}
}

// recorded is what the fake server saw of one request.
type recorded struct {
	method, rawPath, rawQuery string
	header                    http.Header
	body                      string
}

// fakeServer answers every request with status and body, and records it.
func fakeServer(t *testing.T, status int, contentType, body string) (*httptest.Server, func() recorded) {
	t.Helper()
	var mu sync.Mutex
	var last recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(b)}
		mu.Unlock()
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.Header().Set("X-Request-Id", "req-1")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() recorded { mu.Lock(); defer mu.Unlock(); return last }
}

// TestClient_Requests checks what each method puts on the wire.
func TestClient_Requests(t *testing.T) {
	t.Parallel()
	id := sessiond.NewSessionID()
	for _, c := range []struct {
		name          string
		status        int
		body          string
		call          func(*client.Client) error
		method, path  string
		query         string
		contentType   string
		wantBody      string
		wantFormToken string
	}{
		{"CreateSession", 201, `{"session":{"claims":{}},"refresh_token":null,"refresh_token_expires_at":null}`, func(c *client.Client) error {
			_, err := c.CreateSession(t.Context(), client.CreateRequest{Subject: "u", Claims: json.RawMessage(`{"a":1}`)})
			return err
		}, "POST", "/v1/sessions", "", "application/json", `{"subject":"u","claims":{"a":1}}`, ""},
		{"CreateSession with client", 201, `{}`, func(c *client.Client) error {
			_, err := c.CreateSession(t.Context(), client.CreateRequest{Subject: "u", Persistent: true, Client: sessiond.Client{IP: "::1"}})
			return err
		}, "POST", "/v1/sessions", "", "application/json", `{"subject":"u","persistent":true,"client":{"ip":"::1","user_agent":""}}`, ""},
		{"Verify", 200, `{"active":true,"session":{}}`, func(c *client.Client) error {
			_, err := c.Verify(t.Context(), "tok", &sessiond.Client{UserAgent: "UA"})
			return err
		}, "POST", "/v1/sessions/verify", "", "application/json", `{"access_token":"tok","client":{"ip":"","user_agent":"UA"}}`, ""},
		{"CreateSession relaying a proof", 201, `{}`, func(c *client.Client) error {
			_, err := c.CreateSession(t.Context(), client.CreateRequest{Subject: "u", DPoP: &client.DPoPProof{Proof: "p", HTM: "POST", HTU: "https://a/t"}})
			return err
		}, "POST", "/v1/sessions", "", "application/json", `{"subject":"u","dpop_proof":"p","htm":"POST","htu":"https://a/t"}`, ""},
		{"VerifyBound", 200, `{"active":true,"session":{}}`, func(c *client.Client) error {
			_, err := c.VerifyBound(t.Context(), "tok", client.DPoPProof{Proof: "p", HTM: "GET", HTU: "https://a/x"}, nil)
			return err
		}, "POST", "/v1/sessions/verify", "", "application/json", `{"access_token":"tok","dpop_proof":"p","htm":"GET","htu":"https://a/x"}`, ""},
		{"RefreshBound", 200, `{}`, func(c *client.Client) error {
			_, err := c.RefreshBound(t.Context(), "rt", client.DPoPProof{Proof: "p", HTM: "POST", HTU: "https://a/t"}, nil)
			return err
		}, "POST", "/v1/sessions/refresh", "", "application/json", `{"refresh_token":"rt","dpop_proof":"p","htm":"POST","htu":"https://a/t"}`, ""},
		{"Refresh", 200, `{}`, func(c *client.Client) error {
			_, err := c.Refresh(t.Context(), "rt", nil)
			return err
		}, "POST", "/v1/sessions/refresh", "", "application/json", `{"refresh_token":"rt"}`, ""},
		{"Rotate", 200, `{}`, func(c *client.Client) error {
			_, err := c.Rotate(t.Context(), id)
			return err
		}, "POST", "/v1/sessions/" + string(id) + "/rotate", "", "", "", ""},
		{"GetSession", 200, `{}`, func(c *client.Client) error {
			_, err := c.GetSession(t.Context(), id)
			return err
		}, "GET", "/v1/sessions/" + string(id), "", "", "", ""},
		{"GetSession dots", 200, `{}`, func(c *client.Client) error {
			_, err := c.GetSession(t.Context(), "../../x")
			return err
		}, "GET", "/v1/sessions/%2E%2E%2F%2E%2E%2Fx", "", "", "", ""},
		{"RevokeSession", 204, ``, func(c *client.Client) error {
			return c.RevokeSession(t.Context(), id)
		}, "DELETE", "/v1/sessions/" + string(id), "", "", "", ""},
		{"ListSessions", 200, `{"sessions":[]}`, func(c *client.Client) error {
			_, err := c.ListSessions(t.Context(), "a/b c.d?e")
			return err
		}, "GET", "/v1/subjects/a%2Fb%20c%2Ed%3Fe/sessions", "", "", "", ""},
		{"ListSessionsPage", 200, `{"sessions":[],"next_cursor":"n"}`, func(c *client.Client) error {
			_, next, err := c.ListSessionsPage(t.Context(), "u", "1.c&=", 50)
			if err == nil && next != "n" {
				err = fmt.Errorf("next = %q; want n", next)
			}
			return err
		}, "GET", "/v1/subjects/u/sessions", "cursor=1.c%26%3D&limit=50", "", "", ""},
		{"ListSessionsPage first", 200, `{"sessions":[]}`, func(c *client.Client) error {
			_, _, err := c.ListSessionsPage(t.Context(), "u", "", 1000)
			return err
		}, "GET", "/v1/subjects/u/sessions", "limit=1000", "", "", ""},
		{"RevokeSubject", 200, `{"revoked":2}`, func(c *client.Client) error {
			_, err := c.RevokeSubject(t.Context(), "u", id)
			return err
		}, "DELETE", "/v1/subjects/u/sessions", "except=" + string(id), "", "", ""},
		{"RevokeToken", 200, ``, func(c *client.Client) error {
			return c.RevokeToken(t.Context(), "tok&=x", "refresh_token")
		}, "POST", "/oauth2/revoke", "", "application/x-www-form-urlencoded", "", "tok&=x"},
		{"Introspect", 200, `{"active":false}`, func(c *client.Client) error {
			_, err := c.Introspect(t.Context(), "tok")
			return err
		}, "POST", "/oauth2/introspect", "", "application/x-www-form-urlencoded", "", "tok"},
		{"JWKS", 200, `{"keys":[]}`, func(c *client.Client) error {
			_, err := c.JWKS(t.Context())
			return err
		}, "GET", "/.well-known/jwks.json", "", "", "", ""},
		{"Health", 200, `{"status":"ok"}`, func(c *client.Client) error { return c.Health(t.Context()) }, "GET", "/healthz", "", "", "", ""},
		{"Ready", 200, `{"status":"ok"}`, func(c *client.Client) error { return c.Ready(t.Context()) }, "GET", "/readyz", "", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, last := fakeServer(t, c.status, "application/json", c.body)
			// srv.Client has a transport of its own: closing another
			// subtest's server closes idle connections of the default one,
			// which broke a request in flight now and then.
			cl, err := client.New(srv.URL+"/prefix/", "the-key", client.WithUserAgent("test-agent/1"), client.WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.call(cl); err != nil {
				t.Fatalf("call = %v", err)
			}
			got := last()
			if got.method != c.method || got.rawPath != "/prefix"+c.path || got.rawQuery != c.query {
				t.Errorf("request = %s %s?%s; want %s /prefix%s?%s", got.method, got.rawPath, got.rawQuery, c.method, c.path, c.query)
			}
			if got.header.Get("Authorization") != "Bearer the-key" || got.header.Get("User-Agent") != "test-agent/1" {
				t.Errorf("Authorization %q, User-Agent %q", got.header.Get("Authorization"), got.header.Get("User-Agent"))
			}
			if ct := got.header.Get("Content-Type"); ct != c.contentType {
				t.Errorf("Content-Type = %q; want %q", ct, c.contentType)
			}
			if c.wantBody != "" && got.body != c.wantBody {
				t.Errorf("body = %s; want %s", got.body, c.wantBody)
			}
			if c.wantFormToken != "" {
				form, err := url.ParseQuery(got.body)
				if err != nil || form.Get("token") != c.wantFormToken {
					t.Errorf("form = %q; want token %q", got.body, c.wantFormToken)
				}
			}
		})
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	sentinels := []error{sessiond.ErrInvalidToken, sessiond.ErrExpired, sessiond.ErrRevoked, sessiond.ErrIdleTimeout,
		sessiond.ErrAbsoluteTimeout, sessiond.ErrRefreshReused, sessiond.ErrNotFound, sessiond.ErrInvalidArgument,
		sessiond.ErrStoreUnavailable, sessiond.ErrLimitReached, sessiond.ErrUnsupported, client.ErrUnauthorized}
	for _, c := range []struct {
		status      int
		contentType string
		body        string
		code        string
		want        error
	}{
		{401, "application/problem+json", `{"code":"token_invalid","title":"Invalid token","detail":"d"}`, "token_invalid", sessiond.ErrInvalidToken},
		{401, "application/problem+json", `{"code":"token_expired"}`, "token_expired", sessiond.ErrExpired},
		{401, "application/problem+json", `{"code":"session_revoked"}`, "session_revoked", sessiond.ErrRevoked},
		{401, "application/problem+json", `{"code":"idle_timeout"}`, "idle_timeout", sessiond.ErrIdleTimeout},
		{401, "application/problem+json", `{"code":"absolute_timeout"}`, "absolute_timeout", sessiond.ErrAbsoluteTimeout},
		{401, "application/problem+json", `{"code":"refresh_token_reused"}`, "refresh_token_reused", sessiond.ErrRefreshReused},
		{404, "application/problem+json", `{"code":"not_found"}`, "not_found", sessiond.ErrNotFound},
		{400, "application/problem+json", `{"code":"invalid_request"}`, "invalid_request", sessiond.ErrInvalidArgument},
		{413, "application/problem+json", `{"code":"payload_too_large"}`, "payload_too_large", sessiond.ErrInvalidArgument},
		{503, "application/problem+json", `{"code":"store_unavailable"}`, "store_unavailable", sessiond.ErrStoreUnavailable},
		{409, "application/problem+json", `{"code":"session_limit_reached"}`, "session_limit_reached", sessiond.ErrLimitReached},
		{401, "application/problem+json", `{"code":"unauthorized"}`, "unauthorized", client.ErrUnauthorized},
		{401, "application/json", `{"error":"invalid_client"}`, "invalid_client", client.ErrUnauthorized},
		{400, "application/json", `{"error":"invalid_request","error_description":"token: is required"}`, "invalid_request", sessiond.ErrInvalidArgument},
		{400, "application/json", `{"error":"unsupported_token_type"}`, "unsupported_token_type", sessiond.ErrUnsupported},
		{503, "application/json", `{"error":"temporarily_unavailable"}`, "temporarily_unavailable", sessiond.ErrStoreUnavailable},
		{500, "application/problem+json", `{"code":"internal"}`, "internal", nil},
		{418, "application/problem+json", `{"code":"some_future_code"}`, "some_future_code", nil},
		{502, "text/html", `<html>bad gateway</html>`, "", nil},
		{502, "application/json", `not json`, "", nil},
	} {
		srv, _ := fakeServer(t, c.status, c.contentType, c.body)
		cl, _ := client.New(srv.URL, "k")
		err := cl.Health(t.Context())
		ce, ok := errors.AsType[*client.Error](err)
		if !ok {
			t.Errorf("%d %s: error %v is not a *client.Error", c.status, c.body, err)
			continue
		}
		if ce.Status != c.status || ce.Code != c.code || ce.RequestID != "req-1" || ce.Title == "" {
			t.Errorf("%d %s: error = %+v", c.status, c.body, ce)
		}
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == c.want) {
				t.Errorf("%d %s: errors.Is(%v) = %v", c.status, c.body, s, got)
			}
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "client: server answered ") || !strings.Contains(msg, fmt.Sprint(c.status)) {
			t.Errorf("Error() = %q", msg)
		}
	}
}

// TestError_Revoked: the problem's revoked member (a revocation that
// failed part way) is read into Error.Revoked and returned as the count of
// RevokeSubject and RevokeIncident. A member that is not a whole number
// from 0 up (a string, a fraction, one too large for an int, a negative)
// reads as 0 and costs nothing else: the code, title and detail are read,
// and the error matches its sentinel, as they did before the member
// existed.
func TestError_Revoked(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		revoked string // the member's JSON; "" for none
		want    int
	}{
		{"", 0},
		{`256`, 256},
		{`1`, 1},
		{`0`, 0},
		{`-4`, 0},
		{`null`, 0},
		{`"3"`, 0},
		{`1.5`, 0},
		{`1e30`, 0},
		{`true`, 0},
		{`{"n":3}`, 0},
	} {
		body := `{"type":"https://sessiond.dev/problems/store_unavailable","title":"Store unavailable","status":503,` +
			`"detail":"the session store is unavailable; retry later","code":"store_unavailable"`
		if c.revoked != "" {
			body += `,"revoked":` + c.revoked
		}
		body += "}"
		srv, _ := fakeServer(t, http.StatusServiceUnavailable, "application/problem+json", body)
		cl, _ := client.New(srv.URL, "k")
		for name, call := range map[string]func() (int, error){
			"RevokeSubject":  func() (int, error) { return cl.RevokeSubject(t.Context(), "alice", "") },
			"RevokeIncident": func() (int, error) { return cl.RevokeIncident(t.Context(), client.Incident{All: true, Reason: "r"}) },
		} {
			n, err := call()
			ce, ok := errors.AsType[*client.Error](err)
			if !ok || n != c.want || ce.Revoked != c.want || ce.Code != "store_unavailable" || ce.Title != "Store unavailable" ||
				!errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("%s, revoked %s: = %d, %+v; want %d with the problem's code, title and sentinel", name, c.revoked, n, err, c.want)
			}
		}
	}
}

// TestError_RetryAfter: Error.RetryAfter reads Retry-After as delay-seconds
// or an HTTP date (RFC 9110 §10.2.3), capped at 366 days, as the webhook
// dispatcher and the Shared Signals transmitter read it: a delay too large
// for an int is still "wait", the longest, not "no Retry-After" (0).
func TestError_RetryAfter(t *testing.T) {
	t.Parallel()
	const maxWait = 366 * 24 * 3600
	for _, c := range []struct {
		header   string
		min, max int // the wait reported is in [min, max]
	}{
		{"", 0, 0},
		{"3", 3, 3},
		{"0", 0, 0},
		{"-1", 0, 0},
		{"soon", 0, 0},
		{"31622400", maxWait, maxWait},
		{"31622401", maxWait, maxWait},
		{"9223372036854775807", maxWait, maxWait},
		{"99999999999999999999999", maxWait, maxWait},
		{time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat), 3600, 7200},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		// A date more than a Duration (about 292 years) ahead: the
		// difference saturates, and rounding it up must not wrap it
		// negative.
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxWait, maxWait},
		{time.Now().AddDate(300, 0, 0).UTC().Format(http.TimeFormat), maxWait, maxWait},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if c.header != "" {
				w.Header().Set("Retry-After", c.header)
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"code":"too_many_requests"}`))
		}))
		cl, _ := client.New(srv.URL, "k")
		err := cl.Health(t.Context())
		srv.Close()
		ce, ok := errors.AsType[*client.Error](err)
		if !ok || !errors.Is(err, client.ErrRateLimited) {
			t.Errorf("Retry-After %q: error %v; want a rate-limited *client.Error", c.header, err)
			continue
		}
		if ce.RetryAfter < c.min || ce.RetryAfter > c.max {
			t.Errorf("Retry-After %q: RetryAfter = %d; want from %d to %d", c.header, ce.RetryAfter, c.min, c.max)
		}
	}
}

// TestClient_NoRedirect: a redirect is an error, and the API key never
// goes to the redirect's target.
func TestClient_NoRedirect(t *testing.T) {
	t.Parallel()
	var leaked sync.Map
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store("hit", r.Header.Get("Authorization"))
	}))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/healthz", http.StatusTemporaryRedirect))
	defer redirect.Close()
	cl, _ := client.New(redirect.URL, "the-key", client.WithHTTPClient(&http.Client{Timeout: time.Second}))
	err := cl.Health(t.Context())
	if ce, ok := errors.AsType[*client.Error](err); !ok || ce.Status != http.StatusTemporaryRedirect {
		t.Errorf("Health via a redirect = %v; want a *client.Error 307", err)
	}
	if v, ok := leaked.Load("hit"); ok {
		t.Errorf("the redirect was followed (Authorization %q)", v)
	}
}

// TestClient_TransportError: failures before any answer are not *Error.
func TestClient_TransportError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	cl, _ := client.New(srv.URL, "k")
	err := cl.Health(t.Context())
	if _, ok := errors.AsType[*client.Error](err); ok || err == nil {
		t.Fatalf("Health on a closed server = %v; want a transport error", err)
	}
	if _, ok := errors.AsType[*url.Error](err); !ok {
		t.Errorf("Health on a closed server = %v; want it to wrap the *url.Error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := cl.Health(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Health with a canceled context = %v; want context.Canceled", err)
	}
	if _, err := cl.ListSessions(t.Context(), ""); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("ListSessions(\"\") = %v; want ErrInvalidArgument", err)
	}
}

// TestClient_RevokedCountRequired: a 200 answer to a bulk revocation
// without its count (a proxy's page, another service on the port) is an
// error, not "revoked 0": an operator would read that nothing was live.
func TestClient_RevokedCountRequired(t *testing.T) {
	t.Parallel()
	calls := map[string]func(*client.Client) (int, error){
		"RevokeSubject": func(cl *client.Client) (int, error) {
			return cl.RevokeSubject(t.Context(), "alice", "")
		},
		"RevokeIncident": func(cl *client.Client) (int, error) {
			return cl.RevokeIncident(t.Context(), client.Incident{All: true, Reason: "test"})
		},
	}
	for _, c := range []struct {
		body    string
		want    int
		wantErr bool
	}{
		{`{"revoked":3}`, 3, false},
		{`{"revoked":0}`, 0, false},
		{`{}`, 0, true},
		{`{"revoked":null}`, 0, true},
		{`{"revoked":-1}`, 0, true},
		{`{"count":3}`, 0, true},
	} {
		for name, call := range calls {
			t.Run(name+" "+c.body, func(t *testing.T) {
				srv, _ := fakeServer(t, http.StatusOK, "application/json", c.body)
				cl, _ := client.New(srv.URL, "k")
				n, err := call(cl)
				if (err != nil) != c.wantErr || n != c.want {
					t.Errorf("= %d, %v; want %d, error %v", n, err, c.want, c.wantErr)
				}
			})
		}
	}
}

// serveAPI serves the real API handler made with o, which takes every API
// key as an admin's, under the path prefix /sessiond, and returns its base
// URL.
func serveAPI(t *testing.T, o httpapi.Options) string {
	t.Helper()
	o.Authenticate = func(context.Context, sessiond.Secret) (apikey.Key, error) {
		return apikey.Key{ID: "k", Scopes: []apikey.Scope{apikey.ScopeAdmin}}, nil
	}
	h, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sessiond/", http.StripPrefix("/sessiond", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/sessiond"
}

// TestClient_RealServer runs the client against the real handler mounted
// under a path prefix, and checks tokens never print.
func TestClient_RealServer(t *testing.T) {
	t.Parallel()
	m, err := sessiond.New(t.Context(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(),
		Opaque: opaquetoken.Codec{}, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cl, _ := client.New(serveAPI(t, httpapi.Options{Manager: m}), "k")

	tr, err := cl.CreateSession(t.Context(), client.CreateRequest{Subject: "a/b c.d"})
	if err != nil {
		t.Fatal(err)
	}
	// The server's time of the answer is at or after the login's.
	if life := tr.AccessTokenExpiresAt.Sub(tr.Session.LastActiveAt); tr.ExpiresIn <= 0 || tr.ExpiresIn > life {
		t.Errorf("ExpiresIn = %v; want more than 0 and at most the access lifetime %v", tr.ExpiresIn, life)
	}
	printed := fmt.Sprintf("%v %+v %#v", tr, tr, tr)
	if strings.Contains(printed, string(tr.AccessToken)) {
		t.Errorf("a printed TokenResponse shows the token: %s", printed)
	}
	list, err := cl.ListSessions(t.Context(), "a/b c.d")
	if err != nil || len(list) != 1 || list[0].Subject != "a/b c.d" {
		t.Errorf("ListSessions(subject with / and .) = %v, %v", list, err)
	}
	if n, err := cl.RevokeSubject(t.Context(), "a/b c.d", ""); err != nil || n != 1 {
		t.Errorf("RevokeSubject = %d, %v; want 1", n, err)
	}
	if _, err := cl.GetSession(t.Context(), ".."); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("GetSession(\"..\") = %v; want ErrNotFound", err)
	}
}

// TestClient_ListSessionsPage walks a subject's sessions page by page on
// the real handler: each live session once, oldest first (memstore's
// order), the last page with no cursor; a bad limit is refused before
// anything is sent, a cursor of another subject by the server, as
// ErrInvalidArgument.
func TestClient_ListSessionsPage(t *testing.T) {
	t.Parallel()
	m, err := sessiond.New(t.Context(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(),
		Opaque: opaquetoken.Codec{}, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cl, _ := client.New(serveAPI(t, httpapi.Options{Manager: m}), "k")
	for range 7 {
		if _, err := cl.CreateSession(t.Context(), client.CreateRequest{Subject: "a/b"}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.CreateSession(t.Context(), client.CreateRequest{Subject: "other"}); err != nil {
			t.Fatal(err)
		}
	}
	whole, err := cl.ListSessions(t.Context(), "a/b")
	if err != nil || len(whole) != 7 {
		t.Fatalf("ListSessions = %d sessions, %v; want 7", len(whole), err)
	}
	var walked []sessiond.SessionID
	cursor, pages := "", 0
	for {
		ss, next, err := cl.ListSessionsPage(t.Context(), "a/b", cursor, 3)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		for _, s := range ss {
			walked = append(walked, s.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	var want []sessiond.SessionID
	for _, s := range whole {
		want = append(want, s.ID)
	}
	if pages != 3 || !slices.Equal(walked, want) {
		t.Errorf("walk by 3: %d pages, %v; want 3 pages, %v", pages, walked, want)
	}
	_, other, err := cl.ListSessionsPage(t.Context(), "other", "", 1)
	if err != nil || other == "" {
		t.Fatalf("other's first page: %q, %v", other, err)
	}
	if _, _, err := cl.ListSessionsPage(t.Context(), "a/b", other, 3); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("a/b's page after other's cursor: %v; want ErrInvalidArgument", err)
	}
	for _, limit := range []int{0, -1, 1001} {
		if _, _, err := cl.ListSessionsPage(t.Context(), "a/b", "", limit); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("limit %d: %v; want ErrInvalidArgument", limit, err)
		}
	}
}

// TestClient_IncidentOutlivesTimeout: the kill switch may take longer than
// the HTTP client's Timeout (30 seconds by default; a million sessions
// take tens of seconds on some stores), so RevokeIncident waits at least
// client.IncidentTimeout, while every other call keeps the client's.
func TestClient_IncidentOutlivesTimeout(t *testing.T) {
	t.Parallel()
	const slow = 300 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(slow)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/revocations":
			fmt.Fprint(w, `{"revoked":7}`)
		default:
			fmt.Fprint(w, `{"sessions":[]}`)
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "key", client.WithHTTPClient(&http.Client{Timeout: slow / 6}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListSessions(t.Context(), "alice"); err == nil {
		t.Fatal("ListSessions from a server slower than the client's Timeout = nil error; want a timeout (the test's premise)")
	}
	n, err := c.RevokeIncident(t.Context(), client.Incident{All: true, Reason: "test"})
	if err != nil || n != 7 {
		t.Fatalf("RevokeIncident from a server slower than the client's Timeout = %d, %v; want 7, nil", n, err)
	}
	// ctx still bounds it.
	ctx, cancel := context.WithTimeout(t.Context(), slow/6)
	defer cancel()
	if _, err := c.RevokeIncident(ctx, client.Incident{All: true, Reason: "test"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RevokeIncident with a context that ends first = %v; want context.DeadlineExceeded", err)
	}
}

// TestTokenResponse_ExpiresIn: expires_in, whole seconds, is ExpiresIn;
// a server before the field (none), or a value no lifetime can be, gives
// no lifetime the caller could trust beyond it.
func TestTokenResponse_ExpiresIn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body string
		want       time.Duration
	}{
		{"five minutes", `{"expires_in":300}`, 5 * time.Minute},
		{"none (an older server)", `{}`, 0},
		{"negative", `{"expires_in":-5}`, 0},
		{"past what a Duration holds", `{"expires_in":9223372036854775807}`, time.Duration(math.MaxInt64/time.Second) * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := fakeServer(t, http.StatusOK, "application/json", c.body)
			cl, err := client.New(srv.URL, "the-key", client.WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := cl.Refresh(t.Context(), "rt", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tr.ExpiresIn != c.want {
				t.Errorf("ExpiresIn of %s = %v; want %v", c.body, tr.ExpiresIn, c.want)
			}
		})
	}
}
