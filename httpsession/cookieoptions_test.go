package httpsession_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// TestSessions_CookieOptions: CookiePath, Domain and MaxAge reach every
// cookie, and combinations a browser would drop are refused at New.
func TestSessions_CookieOptions(t *testing.T) {
	e := newEnv(t, envOptions{opts: httpsession.Options{
		CookieName: "sid", RefreshCookieName: "rt", RefreshPath: "/app/refresh",
		CookiePath: "/app", Domain: "example.com", MaxAge: time.Hour,
	}})
	iss, err := e.m.Create(context.Background(), "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := e.s.Cookies(iss)
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies) != 2 {
		t.Fatalf("Cookies = %d cookies; want access and refresh", len(cookies))
	}
	want := map[string]string{"sid": "/app", "rt": "/app/refresh"}
	for _, c := range cookies {
		if c.Path != want[c.Name] || c.Domain != "example.com" || c.MaxAge != 3600 || !c.HttpOnly || !c.Secure {
			t.Errorf("cookie %s = %s; want Path=%s, Domain=example.com, Max-Age=3600, HttpOnly, Secure", c.Name, c, want[c.Name])
		}
	}
	rec := httptest.NewRecorder()
	if err := e.s.SetCookies(rec, iss); err != nil {
		t.Fatal(err)
	}
	if got := rec.Header().Values("Set-Cookie"); len(got) != 2 || got[0] != cookies[0].String() || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("SetCookies wrote %q, Cache-Control %q; want the Cookies values and no-store", got, rec.Header().Get("Cache-Control"))
	}

	for _, c := range []struct {
		name string
		opts httpsession.Options
	}{
		{"__Host- with Domain", httpsession.Options{Domain: "example.com"}},
		{"__Host- with a Path", httpsession.Options{CookiePath: "/app"}},
		{"relative CookiePath", httpsession.Options{CookieName: "sid", CookiePath: "app"}},
		{"control character in CookiePath", httpsession.Options{CookieName: "sid", CookiePath: "/a\x01"}},
		{"negative MaxAge", httpsession.Options{MaxAge: -time.Second}},
		{"invalid Domain", httpsession.Options{CookieName: "sid", Domain: "exa mple.com"}},
		{"__Host- refresh cookie with Domain", httpsession.Options{CookieName: "sid", RefreshCookieName: "__Host-rt", RefreshPath: "/", Domain: "example.com"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Manager = e.m
			if _, err := httpsession.New(c.opts); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New = %v; want ErrInvalidArgument", err)
			}
		})
	}
}

// TestSessions_LoginIssued: a session created elsewhere gets its cookies,
// and the one the browser carried before is revoked (fixation).
func TestSessions_LoginIssued(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	old, _ := e.m.Create(ctx, "mallory", sessiond.CreateOptions{})
	iss, _ := e.m.Create(ctx, "alice", sessiond.CreateOptions{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: string(old.AccessToken)})
	rec := httptest.NewRecorder()
	if err := e.s.LoginIssued(rec, r, iss); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Verify(ctx, old.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("the carried session after LoginIssued: Verify = %v; want ErrRevoked", err)
	}
	if sc := strings.Join(rec.Header().Values("Set-Cookie"), "\n"); !strings.Contains(sc, string(iss.AccessToken)) {
		t.Errorf("Set-Cookie = %q; want the new access token", sc)
	}
	// Carrying the very session being installed revokes nothing.
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: string(iss.AccessToken)})
	if err := e.s.LoginIssued(httptest.NewRecorder(), r, iss); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
		t.Errorf("re-installing the same session: Verify = %v; want it live", err)
	}
}

func TestIsNavigation(t *testing.T) {
	for _, c := range []struct {
		name   string
		method string
		h      map[string]string
		want   bool
	}{
		{"navigate", "GET", map[string]string{"Sec-Fetch-Mode": "navigate"}, true},
		{"cors fetch", "GET", map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, false},
		{"POST navigate", "POST", map[string]string{"Sec-Fetch-Mode": "navigate"}, false},
		{"old browser page", "HEAD", map[string]string{"Accept": "text/html,*/*"}, true},
		{"API client", "GET", map[string]string{"Accept": "text/html", "Authorization": "Bearer x"}, false},
		{"no headers", "GET", nil, false},
		// Without Sec-Fetch-Mode, Accept must prefer HTML (issue 12).
		{"Firefox page", "GET", map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, true},
		{"Chrome page", "GET", map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"}, true},
		{"XHTML first", "GET", map[string]string{"Accept": "application/xhtml+xml, text/html;q=0.9"}, true},
		{"upper case, spaces", "GET", map[string]string{"Accept": " Text/HTML ; q=1 , */*;q=0.1"}, true},
		{"HTML tied with JSON", "GET", map[string]string{"Accept": "application/json, text/html"}, true},
		{"HTML as a fallback", "GET", map[string]string{"Accept": "application/json, text/html;q=0.1"}, false},
		{"HTML refused", "GET", map[string]string{"Accept": "text/html;q=0"}, false},
		{"a longer name", "GET", map[string]string{"Accept": "text/htmlx"}, false},
		{"a parameter named like it", "GET", map[string]string{"Accept": "application/json;x=text/html"}, false},
		{"only */*", "GET", map[string]string{"Accept": "*/*"}, false},
		{"q out of range", "GET", map[string]string{"Accept": "text/html;q=2, application/json;q=0.5"}, false},
		{"garbage q", "GET", map[string]string{"Accept": "text/html;q=high"}, false},
		{"NaN q elsewhere", "GET", map[string]string{"Accept": "text/html, application/json;q=NaN"}, true},
		{"empty", "GET", map[string]string{"Accept": ""}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			if got := httpsession.IsNavigation(c.method, h); got != c.want {
				t.Errorf("IsNavigation(%s, %v) = %v; want %v", c.method, c.h, got, c.want)
			}
		})
	}
}
