package httpsession_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// cookieHeader is a Cookie header of name=value pairs, empty values left out.
func cookieHeader(pairs ...string) string {
	var out string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		if out != "" {
			out += "; "
		}
		out += pairs[i] + "=" + pairs[i+1]
	}
	return out
}

// live reports whether session id is live server-side.
func (e *env) live(t *testing.T, id sessiond.SessionID) bool {
	t.Helper()
	_, err := e.m.Get(context.Background(), id)
	if err != nil && !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// wantLoggedOutBrowser checks that a logout answer expired the browser's
// cookies, whatever it did server-side.
func wantLoggedOutBrowser(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /logout = %d; want 204", resp.StatusCode)
	}
	if c := setCookies(t, resp)[httpsession.DefaultCookieName]; c == nil || c.MaxAge >= 0 {
		t.Errorf("POST /logout did not expire the session cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if got := resp.Header.Get("Clear-Site-Data"); got == "" {
		t.Error("POST /logout sent no Clear-Site-Data")
	}
}

// TestSessions_Logout_DeviceBoundSession: a device-bound (DBSC) session
// is ended by a logout that carries its bound cookie, as its browser's
// does. Its long-lived cookies without it (a thief's copy) get the
// answer of a request without a session, 204 with the cookies expired in
// the thief's jar, and the refusal recorded, but the owner's session lives
// on: a stolen cookie must not buy a denial of service recorded as the
// owner's own logout.
func TestSessions_Logout_DeviceBoundSession(t *testing.T) {
	type creds struct{ at, rt, bound, otherBound string }
	for _, tc := range []struct {
		name       string
		hybridOnly bool
		expireJWT  bool // the access JWT has expired (its cookie lives on)
		hdr        func(c creds) []string
		revoked    bool
	}{
		{name: "owner: session and bound cookies", revoked: true, hdr: func(c creds) []string {
			return []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, c.at, httpsession.DefaultBoundCookieName, c.bound)}
		}},
		{name: "thief: session cookie", hdr: func(c creds) []string {
			return []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, c.at)}
		}},
		{name: "thief: access token as Bearer", hdr: func(c creds) []string {
			return []string{"Authorization", "Bearer " + c.at}
		}},
		{name: "thief: session cookie and another session's bound cookie", hdr: func(c creds) []string {
			return []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, c.at, httpsession.DefaultBoundCookieName, c.otherBound)}
		}},
		{name: "thief: refresh cookie", hybridOnly: true, hdr: func(c creds) []string {
			return []string{"Cookie", cookieHeader(httpsession.DefaultRefreshCookieName, c.rt)}
		}},
		{name: "thief: session and refresh cookies", hybridOnly: true, hdr: func(c creds) []string {
			return []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, c.at, httpsession.DefaultRefreshCookieName, c.rt)}
		}},
		{name: "thief: session cookie after its JWT expired", hybridOnly: true, expireJWT: true, hdr: func(c creds) []string {
			return []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, c.at)}
		}},
	} {
		for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
			if tc.hybridOnly && strategy != sessiond.StrategyHybrid {
				continue
			}
			t.Run(string(strategy)+"/"+tc.name, func(t *testing.T) {
				e := dbscEnv(t, strategy, httpsession.DBSCOptional)
				victim, vd := e.dbscBrowser(t, "ES256")
				register(t, victim, vd, "alice")
				other, od := e.dbscBrowser(t, "ES256")
				register(t, other, od, "mallory")
				list, err := e.m.List(context.Background(), "alice")
				if err != nil || len(list) != 1 {
					t.Fatalf("List(alice) = %v, %v; want one session", list, err)
				}
				id := list[0].ID
				c := creds{
					at:         victim.cookie("/", httpsession.DefaultCookieName),
					rt:         victim.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName),
					bound:      victim.cookie("/", httpsession.DefaultBoundCookieName),
					otherBound: other.cookie("/", httpsession.DefaultBoundCookieName),
				}
				if c.at == "" || c.bound == "" || c.otherBound == "" || (strategy == sessiond.StrategyHybrid && c.rt == "") {
					t.Fatalf("cookies after registration: %+v", c)
				}
				if tc.expireJWT {
					e.clock.Advance(e.m.Lifetimes().Access + 1)
				}
				refused := e.events.Count(sessiond.EventDeviceProofRefused)

				wantLoggedOutBrowser(t, e.rawDo(t, http.MethodPost, "/logout", tc.hdr(c)...))

				if got := !e.live(t, id); got != tc.revoked {
					t.Fatalf("after the logout, session revoked = %v; want %v", got, tc.revoked)
				}
				wantRefused := 1
				if tc.revoked {
					wantRefused = 0
				}
				if n := e.events.Count(sessiond.EventDeviceProofRefused) - refused; n != wantRefused {
					t.Errorf("%d session.device_proof_refused events for the logout; want %d", n, wantRefused)
				}
				if !tc.revoked && !tc.expireJWT {
					if r := victim.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
						t.Errorf("owner's GET /me after the thief's logout = %d; want 200", r.StatusCode)
					}
				}
			})
		}
	}
}

// TestSessions_Logout_KeyBoundSession: httpsession checks no DPoP proofs,
// so a token of a session bound to a DPoP key is no credential here
// (ErrKeyProofRequired at every route), and a logout with it, as a Bearer
// header or a cookie, ends nothing; an unbound session's token, sent the
// same way, is ended.
func TestSessions_Logout_KeyBoundSession(t *testing.T) {
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, bound := range []bool{true, false} {
			for _, tc := range []struct {
				name       string
				hybridOnly bool
				hdr        func(iss *sessiond.Issued) []string
			}{
				{name: "Bearer", hdr: func(iss *sessiond.Issued) []string {
					return []string{"Authorization", "Bearer " + string(iss.AccessToken)}
				}},
				{name: "Cookie", hdr: func(iss *sessiond.Issued) []string {
					return []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, string(iss.AccessToken))}
				}},
				{name: "RefreshCookie", hybridOnly: true, hdr: func(iss *sessiond.Issued) []string {
					return []string{"Cookie", cookieHeader(httpsession.DefaultRefreshCookieName, string(iss.RefreshToken))}
				}},
			} {
				if tc.hybridOnly && strategy != sessiond.StrategyHybrid {
					continue
				}
				name := "Unbound"
				if bound {
					name = "Bound"
				}
				t.Run(string(strategy)+"/"+name+"/"+tc.name, func(t *testing.T) {
					e := newEnv(t, envOptions{strategy: strategy})
					opts := sessiond.CreateOptions{}
					if bound {
						opts.KeyThumbprint = jkt
					}
					iss, err := e.m.Create(context.Background(), "dana", opts)
					if err != nil {
						t.Fatal(err)
					}
					wantLoggedOutBrowser(t, e.rawDo(t, http.MethodPost, "/logout", tc.hdr(iss)...))
					if got, want := !e.live(t, iss.Session.ID), !bound; got != want {
						t.Fatalf("after a logout with the token, session revoked = %v; want %v", got, want)
					}
				})
			}
		}
	}
}

// TestSessions_Login_CarriedBoundSession: Login revokes the session the
// browser carried (no fixation), but a device-bound session's cookie
// without its bound cookie, or a DPoP-bound token, is not the browser's
// to end: a thief who signs in to its own account with the victim's
// cookie in its jar leaves the victim signed in.
func TestSessions_Login_CarriedBoundSession(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				setup   func(t *testing.T, e *env) (id sessiond.SessionID, hdr []string)
				revoked bool
			}{
				{"device-bound with its bound cookie", func(t *testing.T, e *env) (sessiond.SessionID, []string) {
					b, d := e.dbscBrowser(t, "ES256")
					register(t, b, d, "alice")
					return e.onlySession(t, "alice"), []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, b.cookie("/", httpsession.DefaultCookieName),
						httpsession.DefaultBoundCookieName, b.cookie("/", httpsession.DefaultBoundCookieName))}
				}, true},
				{"device-bound without its bound cookie", func(t *testing.T, e *env) (sessiond.SessionID, []string) {
					b, d := e.dbscBrowser(t, "ES256")
					register(t, b, d, "alice")
					return e.onlySession(t, "alice"), []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, b.cookie("/", httpsession.DefaultCookieName))}
				}, false},
				{"DPoP-bound as Bearer", func(t *testing.T, e *env) (sessiond.SessionID, []string) {
					iss, err := e.m.Create(context.Background(), "alice", sessiond.CreateOptions{KeyThumbprint: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
					if err != nil {
						t.Fatal(err)
					}
					return iss.Session.ID, []string{"Authorization", "Bearer " + string(iss.AccessToken)}
				}, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := dbscEnv(t, strategy, httpsession.DBSCOptional)
					id, hdr := tc.setup(t, e)
					if r := e.rawDo(t, http.MethodPost, "/login?user=mallory", hdr...); r.StatusCode != http.StatusOK {
						t.Fatalf("POST /login = %d", r.StatusCode)
					}
					if got := !e.live(t, id); got != tc.revoked {
						t.Fatalf("after a login carrying the session's credential, session revoked = %v; want %v", got, tc.revoked)
					}
				})
			}
		})
	}
}

// onlySession is subject's one live session.
func (e *env) onlySession(t *testing.T, subject string) sessiond.SessionID {
	t.Helper()
	list, err := e.m.List(context.Background(), subject)
	if err != nil || len(list) != 1 {
		t.Fatalf("List(%s) = %v, %v; want one session", subject, list, err)
	}
	return list[0].ID
}

// TestSessions_Logout_RecordsWhoEnded: session.revoked of a logout names
// the client that logged out (which may not be the session's: a copied
// cookie), with the client the session was issued to in issued_to.
func TestSessions_Logout_RecordsWhoEnded(t *testing.T) {
	issuedTo := sessiond.Client{IP: "203.0.113.5", UserAgent: "UA-A"}
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, tc := range []struct {
			name string
			hdr  func(iss *sessiond.Issued) []string
		}{
			{"access cookie", func(iss *sessiond.Issued) []string {
				return []string{"Cookie", cookieHeader(httpsession.DefaultCookieName, string(iss.AccessToken))}
			}},
			{"Bearer", func(iss *sessiond.Issued) []string {
				return []string{"Authorization", "Bearer " + string(iss.AccessToken)}
			}},
		} {
			t.Run(string(strategy)+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, envOptions{strategy: strategy})
				iss, err := e.m.Create(context.Background(), "rita", sessiond.CreateOptions{Client: issuedTo})
				if err != nil {
					t.Fatal(err)
				}
				wantLoggedOutBrowser(t, e.rawDo(t, http.MethodPost, "/logout", append(tc.hdr(iss), "User-Agent", "UA-THIEF")...))
				evs := e.events.OfType(sessiond.EventSessionRevoked)
				if len(evs) != 1 {
					t.Fatalf("%d session.revoked events; want 1", len(evs))
				}
				want := sessiond.Client{IP: "127.0.0.1", UserAgent: "UA-THIEF"}
				if got := evs[0].Client; got != want {
					t.Errorf("session.revoked client = %+v; want the logout's %+v", got, want)
				}
				if got := evs[0].Details["issued_to"]; got != issuedTo {
					t.Errorf("session.revoked details.issued_to = %#v; want the session's %+v", got, issuedTo)
				}
			})
		}
	}
}

// TestSessions_Logout_UnboundUnderRequiredPolicy: with DBSC required, a
// session not bound (yet) is refused at every route, but a logout ends it:
// whoever holds its cookie is its owner as much as anyone, and a browser
// that cannot bind must still be able to sign out.
func TestSessions_Logout_UnboundUnderRequiredPolicy(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			e := dbscEnv(t, strategy, httpsession.DBSCRequired)
			b := e.browser(t)
			b.login("alice")
			id := e.onlySession(t, "alice")
			wantLoggedOutBrowser(t, b.do(http.MethodPost, "/logout", nil))
			if e.live(t, id) {
				t.Fatal("an unbound session outlived its logout under the required policy")
			}
		})
	}
}
