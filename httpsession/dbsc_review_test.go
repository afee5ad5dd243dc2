package httpsession_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/dbscclient"
)

// TestDBSC_ChallengeOnceHoweverSpelled: a refresh challenge is usable
// once. Its MAC is base64, which can be written several ways that decode
// alike (a line break, the unused low bits of the last character); the
// challenge was remembered by its raw text, so each spelling was "fresh"
// again. It is now remembered by what the MAC covers.
func TestDBSC_ChallengeOnceHoweverSpelled(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyDatabase, httpsession.DBSCOptional)
	b, d := e.dbscBrowser(t, "ES256")
	register(t, b, d, "alice")
	sid, c := refreshChallenge(t, b, d)
	refresh := func(jti string) *http.Response {
		t.Helper()
		p, err := d.Proof(jti, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil, "Sec-Secure-Session-Id", sid, "Secure-Session-Response", p)
	}
	if r := refresh(c); r.StatusCode != http.StatusOK {
		t.Fatalf("first refresh over the challenge = %d; want 200", r.StatusCode)
	}
	// The same challenge (same nonce, expiry and MAC bytes), spelled
	// differently: a newline inside the base64url MAC, and the last MAC
	// character with its two unused low bits flipped.
	mac := c[strings.LastIndex(c, ".")+1:]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, mac[len(mac)-1])
	flipped := c[:len(c)-1] + string(alphabet[last^1])
	for name, variant := range map[string]string{
		"newline":       c[:len(c)-5] + "\n" + c[len(c)-5:],
		"trailing bits": flipped,
	} {
		r := refresh(variant)
		if r.StatusCode == http.StatusOK || setCookies(t, r)[httpsession.DefaultBoundCookieName] != nil {
			t.Errorf("used challenge re-spelled (%s) = %d with a new bound cookie; want 403 and no cookie (challenge not single-use)", name, r.StatusCode)
		}
	}
}

// TestDBSC_RegistrationKeepsNoStolenSessionAlive: a copied token without
// the device key is refused without keeping the owner's idle session
// alive (docs/bound-sessions.md), at the registration route too: it
// verified the cookie with plain Manager.Verify, which in the database
// strategy recorded activity before it noticed the session was already
// bound.
func TestDBSC_RegistrationKeepsNoStolenSessionAlive(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyDatabase, httpsession.DBSCOptional)
	victim, vd := e.dbscBrowser(t, "ES256")
	register(t, victim, vd, "alice")
	list, err := e.m.List(t.Context(), "alice")
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	before := list[0]

	thief := e.browser(t)
	steal(victim, thief, httpsession.DefaultCookieName)
	e.clock.Advance(20 * time.Minute) // victim idle; bound cookie expired
	if r := thief.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stolen cookie alone at /me = %d; want 401", r.StatusCode)
	}
	r := thief.do(http.MethodPost, httpsession.DefaultDBSCRegistrationPath, nil, "Secure-Session-Response", "x.y.z")
	if r.StatusCode == http.StatusOK {
		t.Fatalf("registration with a stolen cookie = 200")
	}
	after, err := e.m.Get(t.Context(), before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !after.IdleExpiresAt.Equal(before.IdleExpiresAt) {
		t.Errorf("a registration attempt with only the stolen session cookie moved the bound session's idle expiry from %s to %s (activity recorded without the device key)",
			before.IdleExpiresAt.Format(time.TimeOnly), after.IdleExpiresAt.Format(time.TimeOnly))
	}
	// And the session indeed survives past its original idle expiry.
	e.clock.Advance(15 * time.Minute)
	if _, err := e.m.Get(t.Context(), before.ID); err == nil {
		t.Errorf("bound session still live 35 minutes after the owner's last request (idle 30m): kept alive by the thief")
	}
}

// TestDBSC_BoundCookieWithDomain: with Options.Domain set, the bound
// cookie must not be __Host- (RFC 6265bis §4.1.3.2: browsers drop a
// __Host- cookie with a Domain, and the user, whose session binding just
// replaced, would be locked out): the default becomes
// __Secure-sessiond-bound, and an explicit __Host- name is refused.
func TestDBSC_BoundCookieWithDomain(t *testing.T) {
	if _, err := httpsession.New(httpsession.Options{Manager: newEnv(t, envOptions{strategy: sessiond.StrategyDatabase}).m,
		CookieName: "__Secure-sid", Domain: "example.com",
		DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, CookieName: "__Host-bound"}}); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("New with Domain and a __Host- bound cookie = %v; want ErrInvalidArgument", err)
	}
	e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase, opts: httpsession.Options{
		CookieName: "__Secure-sid", Domain: "example.com",
		DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional}}})
	// Drive the handlers directly: the test jar would not keep Domain=example.com cookies for 127.0.0.1.
	rec := registerDirect(t, e, "https://example.com", "__Secure-sid")
	bound := false
	for _, line := range rec.Result().Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(strings.ToLower(c.Name), "__host-") && c.Domain != "" {
			t.Errorf("Set-Cookie %q: a __Host- cookie with a Domain attribute, which browsers reject", line)
		}
		if c.Name == "__Secure-sessiond-bound" {
			bound = true
		}
	}
	if !bound {
		t.Errorf("no __Secure-sessiond-bound cookie set: %q", rec.Result().Header.Values("Set-Cookie"))
	}
}

// TestDBSC_BoundCookieInsecureDev: with InsecureDevCookies (the server's
// cookie.secure: false) the bound cookie, like the session cookies, drops
// its __Host- prefix with Secure: browsers silently refuse a __Host-
// cookie without Secure, and a bound session would then be refused on
// its first request after binding. The default name and an explicit one
// alike; the session instructions name the same cookie, without Secure.
func TestDBSC_BoundCookieInsecureDev(t *testing.T) {
	for _, tc := range []struct{ name, cookie, want string }{
		{"default name", "", "sessiond-bound"},
		{"explicit __Host- name", "__Host-bound", "bound"},
		{"explicit __Secure- name", "__secure-bound", "bound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase, opts: httpsession.Options{InsecureDevCookies: true,
				DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, CookieName: tc.cookie}}})
			if got := e.s.BoundCookieName(); got != tc.want {
				t.Errorf("BoundCookieName() = %q; want %q", got, tc.want)
			}
			rec := registerDirect(t, e, "http://127.0.0.1", "sessiond")
			bound := false
			for _, line := range rec.Result().Header.Values("Set-Cookie") {
				c, err := http.ParseSetCookie(line)
				if err != nil {
					t.Fatal(err)
				}
				if (hasFold(c.Name, "__Host-") || hasFold(c.Name, "__Secure-")) && !c.Secure {
					t.Errorf("Set-Cookie %q: a prefixed cookie without Secure, which browsers refuse", line)
				}
				if c.Name == tc.want {
					bound = true
					if c.Secure {
						t.Errorf("bound cookie %q is Secure under InsecureDevCookies", line)
					}
				}
			}
			if !bound {
				t.Errorf("no %s cookie set: %q", tc.want, rec.Result().Header.Values("Set-Cookie"))
			}
			var in httpsession.Instructions
			if err := json.Unmarshal(rec.Body.Bytes(), &in); err != nil || len(in.Credentials) != 1 {
				t.Fatalf("instructions %s: %v", rec.Body, err)
			}
			if c := in.Credentials[0]; c.Name != tc.want || strings.Contains(c.Attributes, "Secure") {
				t.Errorf("instructions credential %q with %q; want %q without Secure", c.Name, c.Attributes, tc.want)
			}
		})
	}
}

// registerDirect logs alice in at origin through e.s.Login and answers
// the registration offer with a fresh P-256 key, calling the handlers
// directly rather than through a browser's cookie jar, so that the
// Set-Cookie lines reach the test exactly as written. The session cookie
// is sent under cookieName. It fails the test unless registration
// answers 200, and returns that answer.
func registerDirect(t *testing.T, e *env, origin, cookieName string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	iss, err := e.s.Login(rec, httptest.NewRequest(http.MethodPost, origin+"/login", nil), "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	regs, err := dbscclient.ParseRegistration(rec.Result().Header)
	if err != nil || len(regs) != 1 {
		t.Fatalf("registration offer: %v %v", regs, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := dbscclient.Sign(key, "ES256", regs[0].Challenge, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, origin+regs[0].Path, nil)
	req.Header.Set("Cookie", cookieName+"="+string(iss.AccessToken))
	req.Header.Set("Secure-Session-Response", proof)
	rec = httptest.NewRecorder()
	e.s.DBSCHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("registration = %d %s", rec.Code, rec.Body)
	}
	return rec
}

func hasFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
