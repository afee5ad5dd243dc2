package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/gateway"
)

func newCode(t *testing.T, e *env, iss *sessiond.Issued, returnTo string) (code sessiond.Secret, loginURL string) {
	t.Helper()
	code, loginURL, err := e.g.NewLoginCode(context.Background(), iss, returnTo)
	if err != nil {
		t.Fatal(err)
	}
	return code, loginURL
}

func TestLoginCode(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	code, loginURL := newCode(t, e, iss, "/orders?page=2")
	if loginURL != "/sessiond/login?code="+string(code) || !strings.HasPrefix(string(code), "sdlc_") {
		t.Fatalf("login URL %q for code; want /sessiond/login?code=sdlc_…", loginURL)
	}
	b := e.browser(t)
	r := b.do(http.MethodGet, loginURL, "", "Sec-Fetch-Site", "same-origin", navigate, "navigate")
	if r.StatusCode != 303 || r.Header.Get("Location") != "/orders?page=2" {
		t.Fatalf("login = %d %q; want 303 /orders?page=2", r.StatusCode, r.Header.Get("Location"))
	}
	if b.cookie(httpsession.DefaultCookieName) != string(iss.AccessToken) || b.cookie(httpsession.DefaultRefreshCookieName) != string(iss.RefreshToken) {
		t.Error("the login did not set the session's access and refresh cookies")
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Cache-Control %q, Referrer-Policy %q; want no-store, no-referrer", r.Header.Get("Cache-Control"), r.Header.Get("Referrer-Policy"))
	}
	for _, sc := range r.Header.Values("Set-Cookie") {
		if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "SameSite=Lax") {
			t.Errorf("Set-Cookie %q lacks HttpOnly, Secure or SameSite=Lax", sc)
		}
	}
	if r := b.do(http.MethodGet, "/sessiond/check", ""); r.StatusCode != 200 || r.Header.Get("X-Sessiond-Subject") != "alice" {
		t.Errorf("check after login = %d %q; want 200 alice", r.StatusCode, r.Header.Get("X-Sessiond-Subject"))
	}
	// Single use: a second redemption, by anyone, fails.
	other := e.browser(t)
	if r := other.do(http.MethodGet, loginURL, ""); r.StatusCode != 400 || !strings.Contains(r.body, "invalid_login_code") || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("second use = %d %q, Set-Cookie %q; want 400 invalid_login_code and no cookie", r.StatusCode, r.body, r.Header.Values("Set-Cookie"))
	}
}

func TestLoginCode_Refused(t *testing.T) {
	e := newEnv(t, envOptions{})
	valid, _ := newCode(t, e, e.login(t, "alice"), "")
	for _, c := range []struct {
		name, query string
		hdr         []string
		status      int
	}{
		{"no code", "", nil, 400},
		{"two codes", "?code=" + string(valid) + "&code=" + string(valid), nil, 400},
		{"unknown code", "?code=sdlc_" + strings.Repeat("A", 43), nil, 400},
		{"wrong prefix", "?code=sdxx_" + string(valid)[5:], nil, 400},
		{"truncated", "?code=" + string(valid)[:40], nil, 400},
		{"padded", "?code=" + string(valid) + "%3D", nil, 400},
		{"non-canonical base64", "?code=sdlc_" + strings.Repeat("A", 42) + "B", nil, 400},
		{"oversized", "?code=sdlc_" + strings.Repeat("A", 5000), nil, 400},
		{"cross-site link", "?code=" + string(valid), []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site link", "?code=" + string(valid), []string{"Sec-Fetch-Site", "same-site"}, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.browser(t).do(http.MethodGet, "/sessiond/login"+c.query, "", c.hdr...)
			if r.StatusCode != c.status || len(r.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("login = %d, Set-Cookie %q; want %d and no cookie", r.StatusCode, r.Header.Values("Set-Cookie"), c.status)
			}
		})
	}
	// The refused attempts did not use up the code; HEAD and POST do not either.
	for _, m := range []string{http.MethodHead, http.MethodPost} {
		if r := e.browser(t).do(m, "/sessiond/login?code="+string(valid), ""); r.StatusCode != 405 {
			t.Errorf("%s login = %d; want 405", m, r.StatusCode)
		}
	}
	if r := e.browser(t).do(http.MethodGet, "/sessiond/login?code="+string(valid), "", "Sec-Fetch-Site", "none"); r.StatusCode != 303 {
		t.Errorf("the code after refused attempts = %d; want 303", r.StatusCode)
	}
}

func TestLoginCode_Expired(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, early := newCode(t, e, e.login(t, "alice"), "")
	_, late := newCode(t, e, e.login(t, "bob"), "")
	e.clock.Advance(gateway.CodeLifetime - time.Second)
	if r := e.browser(t).do(http.MethodGet, early, ""); r.StatusCode != 303 {
		t.Errorf("code at 59 s = %d; want 303", r.StatusCode)
	}
	e.clock.Advance(time.Second)
	if r := e.browser(t).do(http.MethodGet, late, ""); r.StatusCode != 400 || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("code at 60 s = %d; want 400 and no cookie", r.StatusCode)
	}
}

// TestLoginCode_EndedSession: a session revoked between the code and its
// redemption is not installed.
func TestLoginCode_EndedSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	_, u := newCode(t, e, iss, "")
	if err := e.m.Revoke(context.Background(), iss.Session.ID, sessiond.ReasonAdmin); err != nil {
		t.Fatal(err)
	}
	if r := e.browser(t).do(http.MethodGet, u, ""); r.StatusCode != 400 || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("code of a revoked session = %d; want 400 and no cookie", r.StatusCode)
	}
}

// TestLoginCode_Fixation: whatever session the browser carried is revoked.
func TestLoginCode_Fixation(t *testing.T) {
	e := newEnv(t, envOptions{})
	planted := e.login(t, "mallory")
	b := e.loggedIn(t, planted)
	_, u := newCode(t, e, e.login(t, "alice"), "")
	if r := b.do(http.MethodGet, u, ""); r.StatusCode != 303 {
		t.Fatalf("login = %d; want 303", r.StatusCode)
	}
	if alive(t, e, planted.AccessToken) {
		t.Error("the session the browser carried before the login is still alive")
	}
}

// TestLoginCode_Concurrent: of many simultaneous redemptions of one code,
// exactly one logs in.
func TestLoginCode_Concurrent(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, u := newCode(t, e, e.login(t, "alice"), "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 16 {
		wg.Go(func() {
			if r := e.browser(t).do(http.MethodGet, u, ""); r.StatusCode == 303 {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d redemptions of one code succeeded; want exactly 1", won)
	}
}

// TestLoginCode_Storage: the store holds neither the code nor a token in
// the clear, and expired codes are pruned.
func TestLoginCode_Storage(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := e.login(t, "alice")
	code, _ := newCode(t, e, iss, "/secret-path")
	var all []byte
	for i := range 16 {
		v, _, err := e.store.GetMeta(context.Background(), "gateway.login_codes."+"0123456789abcdef"[i:i+1])
		if err == nil {
			all = append(all, v...)
		} else if !errors.Is(err, sessiond.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if len(all) == 0 {
		t.Fatal("no login code document in the store")
	}
	for what, s := range map[string]string{"code": string(code), "code body": string(code)[5:], "access token": string(iss.AccessToken),
		"refresh token": string(iss.RefreshToken), "return_to": "/secret-path", "subject": "alice"} {
		if strings.Contains(string(all), s) {
			t.Errorf("the stored login codes contain the %s in the clear", what)
		}
	}
	hash := sessiond.HashToken(code)
	if !strings.Contains(string(all), hexOf(hash[:])) {
		t.Error("the stored login codes are not keyed by the code's SHA-256")
	}
	// Pruned on the next write to the shard, once well expired.
	e.clock.Advance(3 * gateway.CodeLifetime)
	shard := "gateway.login_codes." + hexOf(hash[:])[:1]
	for range 200 { // until a new code lands in the same shard
		newCode(t, e, e.login(t, "bob"), "")
		if v, _, _ := e.store.GetMeta(context.Background(), shard); !strings.Contains(string(v), hexOf(hash[:])) {
			return
		}
	}
	t.Error("an expired code was not pruned from its shard")
}

func TestNewLoginCode_BadReturnTo(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, rt := range []string{"//evil.example", "https://evil.example", "/\\evil", "/%2F%2Fevil"} {
		if _, _, err := e.g.NewLoginCode(context.Background(), e.login(t, "alice"), rt); !errors.Is(err, gateway.ErrBadReturnTo) {
			t.Errorf("NewLoginCode(return_to %q) = %v; want ErrBadReturnTo", rt, err)
		}
	}
}

// TestHandoff_TokenTooLongForCookie: a session whose JWT (with its claims)
// would not fit in a cookie gets neither a login code nor Set-Cookie
// values: an ArgumentError on claims (the API's 400), told to the backend
// that created it, not to the browser at redemption.
func TestHandoff_TokenTooLongForCookie(t *testing.T) {
	tests := []struct {
		name     string
		strategy sessiond.Strategy
		claims   int
		refused  bool
	}{
		{"hybrid, claims that fit", sessiond.StrategyHybrid, 1000, false},
		{"hybrid, claims that do not", sessiond.StrategyHybrid, 3500, true},
		{"jwt, claims that do not", sessiond.StrategyJWT, 3500, true},
		{"database, the same claims", sessiond.StrategyDatabase, 3500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: tt.strategy})
			claims := []byte(`{"groups":"` + strings.Repeat("g", tt.claims) + `"}`)
			iss, err := e.m.Create(context.Background(), "alice", sessiond.CreateOptions{Claims: claims})
			if err != nil {
				t.Fatal(err)
			}
			refused := func(what string, err error) {
				t.Helper()
				var ae *sessiond.ArgumentError
				switch {
				case !tt.refused && err != nil:
					t.Errorf("%s = %v; want nil", what, err)
				case tt.refused && (!errors.As(err, &ae) || ae.Field != "claims" || !strings.Contains(ae.Msg, "4096")):
					t.Errorf("%s = %v; want an ArgumentError on claims naming the 4096-byte limit", what, err)
				}
			}
			code, u, err := e.g.NewLoginCode(context.Background(), iss, "/")
			refused("NewLoginCode", err)
			if tt.refused && (code != "" || u != "") {
				t.Errorf("NewLoginCode refused but returned code %q, URL %q", code, u)
			}
			if !tt.refused {
				if r := e.browser(t).do(http.MethodGet, u, ""); r.StatusCode != 303 {
					t.Errorf("redeeming the code = %d; want 303", r.StatusCode)
				}
			}
			values, err := e.g.SetCookieValues(iss)
			refused("SetCookieValues", err)
			if tt.refused && values != nil {
				t.Errorf("SetCookieValues refused but returned %q", values)
			}
		})
	}
}
