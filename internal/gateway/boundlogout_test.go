package gateway_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/dbscclient"
)

// boundBrowser logs subject in with a login code and registers a DBSC key:
// a browser holding a device-bound session, and that session's ID.
func (e *env) boundBrowser(t *testing.T, subject string) (*browser, sessiond.SessionID) {
	t.Helper()
	_, loginURL, err := e.g.NewLoginCode(context.Background(), e.login(t, subject), "/")
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	login := b.do(http.MethodGet, loginURL, "")
	if login.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET %s = %d %s", loginURL, login.StatusCode, login.body)
	}
	d, err := dbscclient.New(b.c, e.srv.URL, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Register(login.Response)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("DBSC registration = %d", res.StatusCode)
	}
	list, err := e.m.List(context.Background(), subject)
	if err != nil || len(list) != 1 || !list[0].DeviceBound() {
		t.Fatalf("List(%s) = %+v, %v; want one device-bound session", subject, list, err)
	}
	return b, list[0].ID
}

// rootCookie is the named cookie the jar sends to "/".
func (b *browser) rootCookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL + "/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestLogout_BoundSession: the gateway's logout ends a bound session only
// for the request a protected route would take: a device-bound session's
// browser with its bound cookie. The long-lived cookie alone, the bound
// access token as a plain Bearer, or a DPoP-bound token without a proof
// gets the 204 of a browser without a session (its own cookies expired)
// and the owner stays signed in; check and session refuse those requests
// already.
func TestLogout_BoundSession(t *testing.T) {
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	sameOrigin := []string{"Sec-Fetch-Site", "same-origin"}
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, c := range []struct {
			name    string
			request func(t *testing.T, e *env) (sessiond.SessionID, response)
			revoked bool
		}{
			{"owner: the browser's cookies", func(t *testing.T, e *env) (sessiond.SessionID, response) {
				b, id := e.boundBrowser(t, "alice")
				return id, b.do(http.MethodPost, "/sessiond/logout", "", sameOrigin...)
			}, true},
			{"thief: session cookie only", func(t *testing.T, e *env) (sessiond.SessionID, response) {
				b, id := e.boundBrowser(t, "alice")
				at := b.rootCookie(httpsession.DefaultCookieName)
				return id, e.browser(t).do(http.MethodPost, "/sessiond/logout", "", append(sameOrigin, "Cookie", httpsession.DefaultCookieName+"="+at)...)
			}, false},
			{"thief: bound access token as Bearer", func(t *testing.T, e *env) (sessiond.SessionID, response) {
				b, id := e.boundBrowser(t, "alice")
				at := b.rootCookie(httpsession.DefaultCookieName)
				return id, e.browser(t).do(http.MethodPost, "/sessiond/logout", "", append(sameOrigin, "Authorization", "Bearer "+at)...)
			}, false},
			{"thief: DPoP-bound token as Bearer", func(t *testing.T, e *env) (sessiond.SessionID, response) {
				iss, err := e.m.Create(context.Background(), "dana", sessiond.CreateOptions{KeyThumbprint: jkt})
				if err != nil {
					t.Fatal(err)
				}
				return iss.Session.ID, e.browser(t).do(http.MethodPost, "/sessiond/logout", "", append(sameOrigin, "Authorization", "Bearer "+string(iss.AccessToken))...)
			}, false},
		} {
			t.Run(string(strategy)+"/"+c.name, func(t *testing.T) {
				e := newEnv(t, envOptions{strategy: strategy, dbsc: httpsession.DBSCOptional})
				id, r := c.request(t, e)
				if r.StatusCode != http.StatusNoContent || r.Header.Get("Clear-Site-Data") == "" {
					t.Fatalf("logout = %d %s, Clear-Site-Data %q; want 204 with Clear-Site-Data", r.StatusCode, r.body, r.Header.Get("Clear-Site-Data"))
				}
				_, err := e.m.Get(context.Background(), id)
				if revoked := err != nil; revoked != c.revoked {
					t.Fatalf("after the logout, session revoked = %v (%v); want %v", revoked, err, c.revoked)
				}
			})
		}
	}
}

// TestLogout_RecordsWhoEnded: session.revoked of a logout at the gateway
// names the browser that logged out, which may not be the one the session
// was issued to, and keeps that one in issued_to.
func TestLogout_RecordsWhoEnded(t *testing.T) {
	issuedTo := sessiond.Client{IP: "203.0.113.5", UserAgent: "UA-A"}
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: strategy})
			iss, err := e.m.Create(context.Background(), "rita", sessiond.CreateOptions{Client: issuedTo})
			if err != nil {
				t.Fatal(err)
			}
			r := e.loggedIn(t, iss).do(http.MethodPost, "/sessiond/logout", "", "Sec-Fetch-Site", "same-origin", "User-Agent", "UA-THIEF")
			if r.StatusCode != http.StatusNoContent {
				t.Fatalf("logout = %d %s", r.StatusCode, r.body)
			}
			evs := e.events.OfType(sessiond.EventSessionRevoked)
			if len(evs) != 1 {
				t.Fatalf("%d session.revoked events; want 1", len(evs))
			}
			if want := (sessiond.Client{IP: "127.0.0.1", UserAgent: "UA-THIEF"}); evs[0].Client != want {
				t.Errorf("session.revoked client = %+v; want the logout's %+v", evs[0].Client, want)
			}
			if got := evs[0].Details["issued_to"]; got != issuedTo {
				t.Errorf("session.revoked details.issued_to = %#v; want %+v", got, issuedTo)
			}
		})
	}
}
