package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

func TestPassword(t *testing.T) {
	h, err := hashPassword("wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash = %q; want a PHC argon2id string", h)
	}
	h2, _ := hashPassword("wonderland")
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{{"wonderland", true}, {"Wonderland", false}, {"", false}} {
		if got, err := checkPassword(h, tt.pw); got != tt.want || err != nil {
			t.Errorf("checkPassword(%q) = %v, %v; want %v", tt.pw, got, err, tt.want)
		}
	}
	if _, err := checkPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("checkPassword accepted a non-argon2id hash")
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/devices":             "/devices",
		"/a?b=c":               "/a?b=c",
		"":                     "",
		"devices":              "",
		"//evil.example":       "",
		"/\\evil.example":      "",
		"https://evil.example": "",
		"/x\r\nSet-Cookie: a":  "",
		// Issue 14 #9: what browsers and http.Redirect turn into another host.
		"/x/../\\evil": "",
		"/\t/evil":     "",
		"/%09/evil":    "/%09/evil", // stays a path: the %09 is never decoded into the URL
		"/x/..//evil":  "/evil",
		"/a/./b/../c":  "/a/c",
		"/%2f%2fevil":  "/evil",
		"/%5cevil":     "/%5Cevil",
		"/\x7f":        "",
		"/user@evil":   "/user@evil",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q; want %q", in, got, want)
		}
	}
}

// newTestApp serves the demo on an httptest server with memstore.
func newTestApp(t *testing.T) (*app, *httptest.Server) {
	t.Helper()
	return newTestAppClock(t, sessiond.SystemClock{})
}

// newTestAppClock is newTestApp on clock, with the demo's unauthenticated
// handler and a sign-in needed within 10 minutes to sign devices out.
func newTestAppClock(t *testing.T, clock sessiond.Clock) (*app, *httptest.Server) {
	t.Helper()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := jwttoken.New(ring, jwttoken.Options{Issuer: "http://test", Audience: "webapp"})
	m, err := sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: memstore.New(),
		Signed: signed, Opaque: opaquetoken.Codec{}, GCInterval: -1, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s, err := httpsession.New(httpsession.Options{Manager: m, InsecureDevCookies: true, Unauthenticated: unauthenticated})
	if err != nil {
		t.Fatal(err)
	}
	u, err := newUsers(map[string]string{"alice": "wonderland", "bob": "builder"})
	if err != nil {
		t.Fatal(err)
	}
	a := &app{m: m, s: s, users: u, events: newEventLog(10), log: slog.New(slog.DiscardHandler), refreshBefore: time.Minute,
		reauthAfter: 10 * time.Minute}
	srv := httptest.NewServer(a.routes())
	t.Cleanup(srv.Close)
	return a, srv
}

func client(t *testing.T) *http.Client {
	c, _ := testenv.CookieClient(nil)
	return c
}

func post(t *testing.T, c *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestApp_LoginAndDevices(t *testing.T) {
	a, srv := newTestApp(t)
	alice, bob := client(t), client(t)

	if resp := post(t, alice, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"nope"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong password = %d; want 401", resp.StatusCode)
	}
	if resp := post(t, alice, srv.URL+"/login", url.Values{"username": {"mallory"}, "password": {"x"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login of an unknown user = %d; want 401", resp.StatusCode)
	}
	resp := post(t, alice, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}, "next": {"//evil.example"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login = %d to %q; want 303 to / (next is not local)", resp.StatusCode, resp.Header.Get("Location"))
	}
	post(t, bob, srv.URL+"/login", url.Values{"username": {"bob"}, "password": {"builder"}})

	aliceSessions, _ := a.m.List(context.Background(), "alice")
	if len(aliceSessions) != 1 {
		t.Fatalf("alice has %d sessions; want 1", len(aliceSessions))
	}
	// bob cannot sign alice out by posting her session ID.
	post(t, bob, srv.URL+"/devices/revoke", url.Values{"id": {string(aliceSessions[0].ID)}})
	if _, err := a.m.Get(context.Background(), aliceSessions[0].ID); err != nil {
		t.Errorf("bob revoked alice's session: Get = %v", err)
	}
	r, err := alice.Get(srv.URL + "/devices")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(string(body), string(aliceSessions[0].ID)) || !strings.Contains(string(body), "This device") {
		t.Errorf("GET /devices = %d; want alice's session listed as this device", r.StatusCode)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	// A cross-site form POST is refused before anything happens.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/devices/revoke-others", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r, err := alice.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST /devices/revoke-others = %v, %v; want 403", r.StatusCode, err)
	}
	if _, err := a.m.Get(context.Background(), aliceSessions[0].ID); err != nil {
		t.Errorf("alice's session after the refused request: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"--access-ttl", "20s", "--reuse-interval=-1s", "--insecure-dev-cookies", "--store", "sqlite", "--reauth-after", "3m"}, io.Discard)
	if err != nil || c.access != 20*time.Second || c.reuse != -time.Second || !c.insecure || c.store != "sqlite" || c.reauthAfter != 3*time.Minute {
		t.Errorf("parseFlags = %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"--store", "postgres"}, {"--access-ttl", "0s"}, {"--reauth-after", "0s"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// TestApp_LoginRedirectStaysOnSite (issue 14 #9): whatever next= says, the
// Location after a login is a path a browser resolves to this site. A
// browser reads "\" as "/", so "/\evil" would be "//evil".
func TestApp_LoginRedirectStaysOnSite(t *testing.T) {
	_, srv := newTestApp(t)
	for next, want := range map[string]string{
		`/x/../\evil`:     "/",
		`/x/..\..\/evil`:  "/",
		"/\t/evil":        "/",
		`/%5C%5Cevil`:     "/%5C%5Cevil",
		"/devices?tab=1":  "/devices?tab=1",
		"/x/../devices":   "/devices",
		"https://evil.ex": "/",
	} {
		resp := post(t, client(t), srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}, "next": {next}})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("login with next=%q = %d to %q; want 303 to %q", next, resp.StatusCode, loc, want)
		}
		if strings.ContainsAny(loc, "\\\t") || strings.HasPrefix(loc, "//") {
			t.Errorf("login with next=%q redirects to %q, which a browser may read as another host", next, loc)
		}
	}
}

// TestApp_SignOutOthersNeedsRecentLogin: a session older than reauthAfter
// cannot sign the user's other devices out (a stolen one must not lock its
// owner out); the user signs in again, lands back on the devices page, and
// then can. Signing this device out needs no new sign-in.
func TestApp_SignOutOthersNeedsRecentLogin(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Now())
	a, srv := newTestAppClock(t, clock)
	laptop, phone := client(t), client(t)
	creds := url.Values{"username": {"alice"}, "password": {"wonderland"}}
	post(t, laptop, srv.URL+"/login", creds)
	post(t, phone, srv.URL+"/login", creds)
	live := func() []sessiond.Session {
		t.Helper()
		list, err := a.m.List(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if n := len(live()); n != 2 {
		t.Fatalf("%d sessions; want 2", n)
	}
	// A form post, as a browser sends it from the devices page.
	form := func(c *http.Client, path string, v url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	clock.Advance(11 * time.Minute) // within the access token's life: only the sign-in is old
	laptopID := live()[0].ID
	for _, tc := range []struct {
		path string
		form url.Values
	}{{"/devices/revoke-others", nil}, {"/devices/revoke", url.Values{"id": {string(laptopID)}}}} {
		resp := form(phone, tc.path, tc.form)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?reason=reauth&next=%2Fdevices" {
			t.Errorf("POST %s 11 minutes after sign-in = %d to %q; want 303 to sign in again", tc.path, resp.StatusCode, loc)
		}
		if n := len(live()); n != 2 {
			t.Fatalf("after POST %s: %d sessions; want both still live", tc.path, n)
		}
	}
	r, err := phone.Get(srv.URL + "/login?reason=reauth&next=%2Fdevices")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(page), "Confirm it&#39;s you") || !strings.Contains(string(page), `value="/devices"`) {
		t.Errorf("the sign-in page does not say why, or does not return to /devices:\n%s", page)
	}

	// Signed in again (a new session for the phone), it works.
	resp := post(t, phone, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}, "next": {"/devices"}})
	if resp.Header.Get("Location") != "/devices" {
		t.Fatalf("sign-in again = %d to %q; want back to /devices", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := form(phone, "/devices/revoke-others", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/devices" {
		t.Errorf("POST /devices/revoke-others after signing in again = %d to %q; want 303 to /devices", resp.StatusCode, resp.Header.Get("Location"))
	}
	list := live()
	if len(list) != 1 || list[0].ID == laptopID {
		t.Fatalf("after signing the others out: %+v; want only the phone's new session", list)
	}

	// This device, however old its sign-in, signs itself out.
	clock.Advance(11 * time.Minute)
	if resp := form(phone, "/logout", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("POST /logout = %d to %q; want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(live()); n != 0 {
		t.Errorf("%d sessions after this device signed out; want none", n)
	}
}
