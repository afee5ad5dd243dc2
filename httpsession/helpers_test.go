package httpsession_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"

	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/internal/testenv"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// env is one app under test: a Manager on a memory store with a fake
// clock, the middleware, and an httptest server (TLS unless the cookies are
// insecure dev cookies, since a cookie jar sends Secure cookies over HTTPS only).
type env struct {
	m      *sessiond.Manager
	s      *httpsession.Sessions
	clock  *sessiondtest.Clock
	events *sessiondtest.Events
	srv    *httptest.Server
	logs   *testenv.SyncBuffer
}

type envOptions struct {
	strategy sessiond.Strategy
	opts     httpsession.Options
	manager  func(*sessiond.Options)
	store    sessiond.Store
	// start is the fake clock's first reading; zero is t0. A test whose
	// store expires keys by its own clock (Redis) starts at the real time.
	start time.Time
}

func newEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	if eo.strategy == "" {
		eo.strategy = sessiond.StrategyHybrid
	}
	if eo.start.IsZero() {
		eo.start = t0
	}
	e := &env{clock: sessiondtest.NewClock(eo.start), events: &sessiondtest.Events{}, logs: &testenv.SyncBuffer{}}
	codec, _ := jwttest.Codec(t, eo.start, 600*24*time.Hour)
	store := eo.store
	if store == nil {
		store = memstore.New()
	}
	mo := sessiond.Options{
		Strategy: eo.strategy, Store: store, Signed: codec, Opaque: opaquetoken.Codec{},
		Clock: e.clock, Events: e.events, GCInterval: -1,
	}
	if eo.manager != nil {
		eo.manager(&mo)
	}
	m, err := sessiond.New(context.Background(), mo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	o := eo.opts
	o.Manager = m
	if o.DBSC.Clock == nil {
		o.DBSC.Clock = e.clock
	}
	o.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := httpsession.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.s = s

	mux := http.NewServeMux()
	// POST /login?user=NAME logs NAME in and answers with the Expiry.
	mux.Handle("POST /login", s.CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss, err := s.Login(w, r, r.URL.Query().Get("user"), sessiond.CreateOptions{Persistent: r.URL.Query().Has("remember")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(httpsession.ExpiryOf(iss))
	})))
	me := s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := sessiond.FromContext(r.Context())
		if !ok {
			http.Error(w, "no session in context", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, sess.Subject+" "+string(sess.ID))
	}))
	mux.Handle("/me", s.CSRF(me))
	mux.Handle("GET /page", s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	mux.Handle("GET /maybe", s.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sess, ok := sessiond.FromContext(r.Context()); ok {
			_, _ = io.WriteString(w, sess.Subject)
			return
		}
		_, _ = io.WriteString(w, "anonymous")
	})))
	mux.Handle("POST /rotate", s.CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.Rotate(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})))
	mux.Handle(httpsession.DefaultRefreshPath, s.RefreshHandler())
	mux.Handle("/logout", s.LogoutHandler("/login"))
	mux.Handle("/auth/dbsc/", s.DBSCHandler())
	if o.InsecureDevCookies {
		e.srv = httptest.NewServer(mux)
	} else {
		e.srv = httptest.NewTLSServer(mux)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// browser is an HTTP client with its own cookie jar.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) browser(t *testing.T) *browser {
	t.Helper()
	c, jar := testenv.CookieClient(e.srv.Client())
	return &browser{t: t, e: e, c: c, jar: jar}
}

// do sends a request; hdr is pairs of header name and value.
func (b *browser) do(method, path string, body io.Reader, hdr ...string) *http.Response {
	b.t.Helper()
	resp, err := b.c.Do(testenv.NewRequest(b.t, method, b.e.srv.URL+path, body, hdr...))
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	b.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (b *browser) login(user string) *http.Response {
	b.t.Helper()
	resp := b.do(http.MethodPost, "/login?user="+user, nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("POST /login?user=%s = %d; want 200", user, resp.StatusCode)
	}
	return resp
}

// cookie returns the value of the named cookie the jar would send to path.
func (b *browser) cookie(path, name string) string {
	u, _ := url.Parse(b.e.srv.URL + path)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie puts a cookie in the jar as if the server had set it.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.e.srv.URL + "/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: strings.HasPrefix(b.e.srv.URL, "https")}})
}

// rawDo sends a request without a cookie jar (hdr carries any Cookie) and
// returns the answer, its body closed, redirects not followed.
func (e *env) rawDo(t *testing.T, method, path string, hdr ...string) *http.Response {
	t.Helper()
	c := *e.srv.Client()
	c.CheckRedirect = testenv.NoRedirect
	resp, err := c.Do(testenv.NewRequest(t, method, e.srv.URL+path, nil, hdr...))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp
}

// status is rawDo's status.
func (e *env) status(t *testing.T, method, path string, hdr ...string) int {
	t.Helper()
	return e.rawDo(t, method, path, hdr...).StatusCode
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setCookies parses the response's Set-Cookie headers by name.
func setCookies(t *testing.T, resp *http.Response) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range resp.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("ParseSetCookie(%q): %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}
