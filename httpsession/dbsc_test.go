package httpsession_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/dbscclient"
)

// The DBSC tests drive the middleware with dbscclient, a browser written
// from the W3C draft that shares no code with httpsession.

func dbscEnv(t *testing.T, strategy sessiond.Strategy, policy httpsession.DBSCPolicy) *env {
	t.Helper()
	return newEnv(t, envOptions{strategy: strategy, opts: httpsession.Options{DBSC: httpsession.DBSCOptions{Policy: policy}}})
}

// dbscBrowser is a browser (own jar) with a DBSC key.
func (e *env) dbscBrowser(t *testing.T, alg string) (*browser, *dbscclient.Browser) {
	t.Helper()
	b := e.browser(t)
	d, err := dbscclient.New(b.c, e.srv.URL, alg)
	if err != nil {
		t.Fatal(err)
	}
	return b, d
}

// register logs user in and registers d's key; it returns the login response.
func register(t *testing.T, b *browser, d *dbscclient.Browser, user string) *http.Response {
	t.Helper()
	login := b.login(user)
	resp, err := d.Register(login)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registration = %d %s; want 200", resp.StatusCode, readBody(t, resp))
	}
	return resp
}

// refreshChallenge asks for a bound refresh without a proof, as Chrome
// does first, and returns the session's quoted identifier (the
// Sec-Secure-Session-Id value) and the challenge the 403 carries.
func refreshChallenge(t *testing.T, b *browser, d *dbscclient.Browser) (sid, challenge string) {
	t.Helper()
	sid = `"` + d.Instructions.SessionIdentifier + `"`
	r := b.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil, "Sec-Secure-Session-Id", sid)
	chs, err := dbscclient.ParseChallenges(r.Header)
	challenge = chs[d.Instructions.SessionIdentifier]
	if r.StatusCode != http.StatusForbidden || err != nil || challenge == "" {
		t.Fatalf("refresh without proof = %d, challenge %q, %v; want 403 with a challenge", r.StatusCode, r.Header.Values(httpsession.HeaderSessionChallenge), err)
	}
	return sid, challenge
}

// steal copies the named cookies from victim's jar into thief's.
func steal(victim, thief *browser, names ...string) {
	for _, n := range names {
		for _, path := range []string{"/", httpsession.DefaultRefreshPath} {
			if v := victim.cookie(path, n); v != "" {
				u, _ := url.Parse(victim.e.srv.URL + path)
				thief.jar.SetCookies(u, []*http.Cookie{{Name: n, Value: v, Path: path, Secure: true}})
			}
		}
	}
}

func TestDBSC_RegisterAndRefresh(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256"} {
		for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
			t.Run(alg+"/"+string(strategy), func(t *testing.T) {
				e := dbscEnv(t, strategy, httpsession.DBSCOptional)
				b, d := e.dbscBrowser(t, alg)
				login := b.login("alice")
				regs, err := dbscclient.ParseRegistration(login.Header)
				if err != nil || len(regs) != 1 {
					t.Fatalf("Secure-Session-Registration %q: %v, %d entries; want 1", login.Header.Values("Secure-Session-Registration"), err, len(regs))
				}
				if got := strings.Join(regs[0].Algorithms, " "); got != "ES256 RS256" || regs[0].Path != httpsession.DefaultDBSCRegistrationPath {
					t.Errorf("registration = %+v; want (ES256 RS256) and path %s", regs[0], httpsession.DefaultDBSCRegistrationPath)
				}
				if len(regs[0].Challenge) < 22 {
					t.Errorf("challenge %q is too short for 128 bits", regs[0].Challenge)
				}
				before := b.cookie("/", httpsession.DefaultCookieName)
				resp, err := d.Register(login)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("registration = %d %s", resp.StatusCode, readBody(t, resp))
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("registration Cache-Control = %q; want no-store", cc)
				}
				in := d.Instructions
				if in.RefreshURL != httpsession.DefaultDBSCRefreshPath || len(in.Credentials) != 1 || in.Credentials[0].Type != "cookie" ||
					in.Credentials[0].Name != httpsession.DefaultBoundCookieName {
					t.Fatalf("instructions = %+v", in)
				}
				bound := setCookies(t, resp)[httpsession.DefaultBoundCookieName]
				if bound == nil || bound.MaxAge != 600 || !bound.Secure || !bound.HttpOnly || bound.Path != "/" {
					t.Fatalf("bound cookie = %+v; want Max-Age=600, Secure, HttpOnly, Path=/", bound)
				}
				if want := "Path=/; Secure; HttpOnly; SameSite=Lax"; in.Credentials[0].Attributes != want {
					t.Errorf("attributes = %q; want %q (the Set-Cookie's)", in.Credentials[0].Attributes, want)
				}
				// Registration replaced the session: the old cookie is dead.
				if after := b.cookie("/", httpsession.DefaultCookieName); after == before {
					t.Error("registration kept the unbound session's cookie")
				}
				if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
					t.Fatalf("GET /me after registration = %d", r.StatusCode)
				}
				list, err := e.m.List(t.Context(), "alice")
				if err != nil || len(list) != 1 || !list[0].DeviceBound() {
					t.Fatalf("List = %+v, %v; want one device-bound session", list, err)
				}
				if n := e.events.Count(sessiond.EventDeviceBound); n != 1 {
					t.Errorf("%d session.device_bound events; want 1", n)
				}

				// The bound cookie expires; /me is refused until a refresh.
				e.clock.Advance(11 * time.Minute)
				if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("GET /me with an expired bound cookie = %d; want 401", r.StatusCode)
				}
				resp, challenge, err := d.Refresh()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("Refresh = %v, %v", resp, err)
				}
				if challenge == "" {
					t.Error("refresh asked no proof")
				}
				if setCookies(t, resp)[httpsession.DefaultBoundCookieName] == nil {
					t.Error("refresh set no bound cookie")
				}
				if strategy == sessiond.StrategyHybrid {
					if r := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil); r.StatusCode != http.StatusOK {
						t.Fatalf("token refresh of a bound session with its bound cookie = %d", r.StatusCode)
					}
				}
				if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
					t.Fatalf("GET /me after the DBSC refresh = %d; want 200", r.StatusCode)
				}
				if n := e.events.Count(sessiond.EventDeviceRefreshed); n != 1 {
					t.Errorf("%d session.device_refreshed events; want 1", n)
				}
			})
		}
	}
}

func TestDBSC_StolenCookies(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyDatabase, httpsession.DBSCOptional)
	victim, vd := e.dbscBrowser(t, "ES256")
	register(t, victim, vd, "alice")

	thief := e.browser(t)
	steal(victim, thief, httpsession.DefaultCookieName)
	if r := thief.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stolen session cookie without the bound cookie = %d; want 401", r.StatusCode)
	}
	if n := e.events.Count(sessiond.EventDeviceProofRefused); n != 1 {
		t.Errorf("%d session.device_proof_refused events; want 1", n)
	}
	// A bound cookie from another session does not fit this one.
	other, od := e.dbscBrowser(t, "ES256")
	register(t, other, od, "mallory")
	steal(other, thief, httpsession.DefaultBoundCookieName)
	if r := thief.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("victim's session cookie with another session's bound cookie = %d; want 401", r.StatusCode)
	}

	// The thief refreshes with the victim's cookie and session identifier
	// but its own key.
	d, err := dbscclient.New(thief.c, e.srv.URL, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := vd.RefreshRequest("")
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refresh without proof = %v, %v; want 403", resp, err)
	}
	resp.Body.Close()
	chs, _ := dbscclient.ParseChallenges(resp.Header)
	c := chs[vd.Instructions.SessionIdentifier]
	if c == "" {
		t.Fatalf("403 without a challenge for the session: %q", resp.Header.Values("Secure-Session-Challenge"))
	}
	wrongKey, _ := d.Proof(c, false, nil)
	thiefReq := func(proof string) *http.Response {
		return thief.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil,
			"Sec-Secure-Session-Id", `"`+vd.Instructions.SessionIdentifier+`"`, "Secure-Session-Response", proof)
	}
	r := thiefReq(wrongKey)
	if r.StatusCode != http.StatusForbidden || setCookies(t, r)[httpsession.DefaultBoundCookieName] != nil {
		t.Fatalf("refresh signed by another key = %d with cookies %v; want 403 and no bound cookie", r.StatusCode, r.Header.Values("Set-Cookie"))
	}
	if r.Header.Get("Secure-Session-Challenge") == "" {
		t.Error("a refused refresh carries no fresh challenge")
	}
	// The challenge the thief burnt is gone for the victim too, but a fresh one works.
	if resp, _, err := vd.Refresh(); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("victim's refresh = %v, %v", resp, err)
	}
}

func TestDBSC_RefusedProofs(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyDatabase, httpsession.DBSCOptional)
	b, d := e.dbscBrowser(t, "ES256")
	register(t, b, d, "alice")
	sid := `"` + d.Instructions.SessionIdentifier + `"`
	challenge := func() string {
		t.Helper()
		r := b.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil, "Sec-Secure-Session-Id", sid)
		if r.StatusCode != http.StatusForbidden {
			t.Fatalf("refresh without proof = %d; want 403", r.StatusCode)
		}
		chs, err := dbscclient.ParseChallenges(r.Header)
		if err != nil || chs[d.Instructions.SessionIdentifier] == "" {
			t.Fatalf("challenge %q: %v", r.Header.Values("Secure-Session-Challenge"), err)
		}
		return chs[d.Instructions.SessionIdentifier]
	}
	refresh := func(proof string) int {
		t.Helper()
		r := b.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil, "Sec-Secure-Session-Id", sid, "Secure-Session-Response", proof)
		if r.StatusCode != http.StatusOK && setCookies(t, r)[httpsession.DefaultBoundCookieName] != nil {
			t.Errorf("a refused refresh (%d) set the bound cookie", r.StatusCode)
		}
		return r.StatusCode
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hs := func(c string) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: make([]byte, 32)}, (&jose.SignerOptions{}).WithType("dbsc+jwt"))
		p, _ := json.Marshal(map[string]string{"jti": c})
		j, _ := s.Sign(p)
		out, _ := j.CompactSerialize()
		return out
	}
	wrongTyp := func(c string) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: d.Key}, (&jose.SignerOptions{}).WithType("JWT"))
		p, _ := json.Marshal(map[string]string{"jti": c})
		j, _ := s.Sign(p)
		out, _ := j.CompactSerialize()
		return out
	}
	for _, tc := range []struct {
		name  string
		proof func(c string) string
	}{
		{"AnotherKey", func(c string) string { p, _ := dbscclient.Sign(otherKey, "ES256", c, false, nil); return p }},
		{"KeyInHeader", func(c string) string { p, _ := d.Proof(c, true, nil); return p }},
		{"WrongJTI", func(c string) string { p, _ := d.Proof(c+"x", false, nil); return p }},
		{"InventedChallenge", func(string) string { p, _ := d.Proof("AAAAAAAAAAAAAAAAAAAAAA.9999999999.AAAA", false, nil); return p }},
		{"HS256", hs},
		{"WrongTyp", wrongTyp},
		{"Garbage", func(string) string { return "not.a.jwt" }},
		{"Tampered", func(c string) string { p, _ := d.Proof(c, false, nil); return p[:len(p)-4] + "AAAA" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refresh(tc.proof(challenge())); got != http.StatusForbidden {
				t.Errorf("refresh = %d; want 403", got)
			}
		})
	}
	t.Run("Replay", func(t *testing.T) {
		c := challenge()
		p, _ := d.Proof(c, false, nil)
		if got := refresh(p); got != http.StatusOK {
			t.Fatalf("first refresh = %d; want 200", got)
		}
		if got := refresh(p); got != http.StatusForbidden {
			t.Errorf("replayed Secure-Session-Response = %d; want 403", got)
		}
	})
	t.Run("ExpiredChallenge", func(t *testing.T) {
		c := challenge()
		e.clock.Advance(6 * time.Minute)
		p, _ := d.Proof(c, false, nil)
		if got := refresh(p); got != http.StatusForbidden {
			t.Errorf("refresh with a 6-minute-old challenge = %d; want 403", got)
		}
	})
	t.Run("RegistrationChallengeForRefresh", func(t *testing.T) {
		b2 := e.browser(t)
		regs, _ := dbscclient.ParseRegistration(b2.login("bob").Header)
		p, _ := d.Proof(regs[0].Challenge, false, nil)
		if got := refresh(p); got != http.StatusForbidden {
			t.Errorf("refresh answering a registration challenge = %d; want 403", got)
		}
	})
	// Every refused proof above is of one session and stage: one event a
	// minute (Manager.Record's bound), before and after the 6 minutes.
	if n := e.events.Count(sessiond.EventDeviceProofRefused); n != 2 {
		t.Errorf("%d session.device_proof_refused events; want 2 (one a minute per session and stage)", n)
	}
}

func TestDBSC_RefusedRegistrations(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyHybrid, httpsession.DBSCOptional)
	for _, tc := range []struct {
		name  string
		proof func(d *dbscclient.Browser, challenge string) string
	}{
		{"NoKeyInHeader", func(d *dbscclient.Browser, c string) string { p, _ := d.Proof(c, false, nil); return p }},
		{"WrongJTI", func(d *dbscclient.Browser, c string) string { p, _ := d.Proof("x"+c, true, nil); return p }},
		{"Tampered", func(d *dbscclient.Browser, c string) string {
			p, _ := d.Proof(c, true, nil)
			return p[:len(p)-4] + "AAAA"
		}},
		{"None", func(d *dbscclient.Browser, c string) string {
			return "eyJhbGciOiJub25lIiwidHlwIjoiZGJzYytqd3QifQ." + strings.TrimRight(jsonB64(map[string]string{"jti": c}), "=") + "."
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, d := e.dbscBrowser(t, "ES256")
			regs, _ := dbscclient.ParseRegistration(b.login("alice").Header)
			r, err := d.PostRegistration(regs[0].Path, tc.proof(d, regs[0].Challenge))
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode == http.StatusOK || setCookies(t, r)[httpsession.DefaultBoundCookieName] != nil {
				t.Fatalf("registration = %d, cookies %q; want refused, no bound cookie", r.StatusCode, r.Header.Values("Set-Cookie"))
			}
		})
	}
	t.Run("ReusedChallenge", func(t *testing.T) {
		b, d := e.dbscBrowser(t, "ES256")
		login := b.login("alice")
		regs, _ := dbscclient.ParseRegistration(login.Header)
		p, _ := d.Proof(regs[0].Challenge, true, nil)
		if r, _ := d.PostRegistration(regs[0].Path, p); r.StatusCode != http.StatusOK {
			t.Fatalf("registration = %d", r.StatusCode)
		}
		// The same proof again, for the session registration replaced.
		b2 := e.browser(t)
		d2, _ := dbscclient.New(b2.c, e.srv.URL, "ES256")
		b2.login("alice")
		if r, _ := d2.PostRegistration(regs[0].Path, p); r.StatusCode == http.StatusOK {
			t.Fatal("a registration proof replayed for another session was accepted")
		}
		// And a second registration of the bound session is refused.
		if r, _ := d.PostRegistration(regs[0].Path, p); r.StatusCode != http.StatusForbidden {
			t.Fatalf("second registration of a bound session = %d; want 403", r.StatusCode)
		}
	})
}

func jsonB64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestDBSC_Policies(t *testing.T) {
	t.Run("OptionalWithoutDBSC", func(t *testing.T) {
		e := dbscEnv(t, sessiond.StrategyHybrid, httpsession.DBSCOptional)
		b := e.browser(t) // ignores Secure-Session-Registration
		b.login("alice")
		if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /me without DBSC under optional = %d; want 200", r.StatusCode)
		}
		e.clock.Advance(20 * time.Minute)
		if r := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("token refresh without DBSC under optional = %d; want 200", r.StatusCode)
		}
		if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /me after refresh = %d; want 200", r.StatusCode)
		}
	})
	t.Run("Required", func(t *testing.T) {
		e := dbscEnv(t, sessiond.StrategyDatabase, httpsession.DBSCRequired)
		plain := e.browser(t)
		plain.login("alice")
		if r := plain.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET /me of an unbound session under required = %d; want 401", r.StatusCode)
		}
		b, d := e.dbscBrowser(t, "RS256")
		register(t, b, d, "bob")
		if r := b.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /me of a bound session under required = %d; want 200", r.StatusCode)
		}
	})
	t.Run("Off", func(t *testing.T) {
		e := dbscEnv(t, sessiond.StrategyDatabase, "")
		b := e.browser(t)
		if h := b.login("alice").Header.Get("Secure-Session-Registration"); h != "" {
			t.Errorf("registration offered with DBSC off: %q", h)
		}
		if r := b.do(http.MethodPost, httpsession.DefaultDBSCRegistrationPath, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("registration endpoint with DBSC off = %d; want 404", r.StatusCode)
		}
	})
	t.Run("JWTStrategyRefused", func(t *testing.T) {
		e := dbscEnv(t, sessiond.StrategyDatabase, "")
		if _, err := httpsession.New(httpsession.Options{Manager: e.m, DBSC: httpsession.DBSCOptions{Policy: "sometimes"}}); err == nil {
			t.Error("New accepted an unknown DBSC policy")
		}
		if _, err := httpsession.New(httpsession.Options{Manager: e.m, DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, Key: []byte("short")}}); err == nil {
			t.Error("New accepted a 5-byte DBSC key")
		}
	})
}

func TestDBSC_EndedSession(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyHybrid, httpsession.DBSCOptional)
	b, d := e.dbscBrowser(t, "ES256")
	register(t, b, d, "alice")
	if r := b.do(http.MethodPost, "/logout", nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("logout = %d", r.StatusCode)
	}
	// The jar dropped the cookies; the browser still refreshes its DBSC session.
	resp, _, err := d.Refresh()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || d.Instructions.Continue == nil || *d.Instructions.Continue {
		t.Fatalf("refresh after logout = %d, %+v; want 200 {\"continue\": false}", resp.StatusCode, d.Instructions)
	}
}

// TestDBSC_StolenRefreshCookie: in the hybrid strategy a thief with both
// long-lived cookies cannot refresh the tokens of a bound session, and the
// victim's cookies are not expired by the attempt.
func TestDBSC_StolenRefreshCookie(t *testing.T) {
	e := dbscEnv(t, sessiond.StrategyHybrid, httpsession.DBSCOptional)
	victim, vd := e.dbscBrowser(t, "ES256")
	register(t, victim, vd, "alice")
	thief := e.browser(t)
	steal(victim, thief, httpsession.DefaultCookieName, httpsession.DefaultRefreshCookieName)
	if thief.cookie(httpsession.DefaultRefreshPath, httpsession.DefaultRefreshCookieName) == "" {
		t.Fatal("the thief has no refresh cookie to try")
	}
	before := e.events.Count(sessiond.EventDeviceProofRefused)
	r := thief.do(http.MethodPost, httpsession.DefaultRefreshPath, nil)
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token refresh with stolen cookies and no bound cookie = %d; want 401", r.StatusCode)
	}
	if n := e.events.Count(sessiond.EventDeviceProofRefused) - before; n != 1 {
		t.Errorf("%d session.device_proof_refused events for the refresh; want 1", n)
	}
	// The refresh token was not rotated: the victim refreshes as usual.
	if r := victim.do(http.MethodPost, httpsession.DefaultRefreshPath, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("victim's token refresh after the thief's attempt = %d; want 200", r.StatusCode)
	}
	if r := victim.do(http.MethodGet, "/me", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("victim's GET /me = %d; want 200", r.StatusCode)
	}
}
