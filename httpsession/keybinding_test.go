package httpsession_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// A session bound to a DPoP key (cnf.jkt) may be used only with a proof
// from the key; the middleware checks none, so it takes no bound token,
// whether it comes as a Bearer header or as the cookie.
func TestSessions_KeyBoundToken(t *testing.T) {
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: strategy})
			if strategy != sessiond.StrategyJWT { // DBSC needs stored sessions
				e = dbscEnv(t, strategy, httpsession.DBSCOptional)
			}
			ctx := context.Background()
			bound, err := e.m.Create(ctx, "alice", sessiond.CreateOptions{KeyThumbprint: jkt})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := e.m.Create(ctx, "bob", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				iss  *sessiond.Issued
				want int
			}{
				{"Bound", bound, http.StatusUnauthorized},
				{"Unbound", plain, http.StatusOK},
			} {
				t.Run(tc.name+"/Bearer", func(t *testing.T) {
					b := e.browser(t)
					if r := b.do(http.MethodGet, "/page", nil, "Authorization", "Bearer "+string(tc.iss.AccessToken)); r.StatusCode != tc.want {
						t.Fatalf("GET /page with Bearer = %d; want %d", r.StatusCode, tc.want)
					}
				})
				t.Run(tc.name+"/Cookie", func(t *testing.T) {
					b := e.browser(t)
					u, _ := url.Parse(e.srv.URL + "/")
					b.jar.SetCookies(u, []*http.Cookie{{Name: e.s.CookieName(), Value: string(tc.iss.AccessToken), Path: "/", Secure: true}})
					if r := b.do(http.MethodGet, "/page", nil); r.StatusCode != tc.want {
						t.Fatalf("GET /page with the cookie = %d; want %d", r.StatusCode, tc.want)
					}
				})
			}
			t.Run("Inspect", func(t *testing.T) {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("Authorization", "Bearer "+string(bound.AccessToken))
				_, err := e.s.Inspect(r)
				if !errors.Is(err, httpsession.ErrKeyProofRequired) || !errors.Is(err, sessiond.ErrInvalidToken) {
					t.Fatalf("Inspect(bound token) = %v; want ErrKeyProofRequired and ErrInvalidToken", err)
				}
				r.Header.Set("Authorization", "Bearer "+string(plain.AccessToken))
				if _, err := e.s.Inspect(r); err != nil {
					t.Fatalf("Inspect(unbound token) = %v; want nil", err)
				}
			})
			t.Run("DBSCRegistration", func(t *testing.T) {
				if strategy == sessiond.StrategyJWT {
					t.Skip("DBSC needs stored sessions")
				}
				// The registration endpoint reads the same credentials: a
				// stolen bound token must not get a registration offer, let
				// alone bind the thief's device key.
				b, d := e.dbscBrowser(t, "ES256")
				p, err := d.Proof("not-a-challenge", true, nil)
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/dbsc/register", nil)
				req.Header.Set("Authorization", "Bearer "+string(bound.AccessToken))
				req.Header.Set("Secure-Session-Response", p)
				r, err := b.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				if r.StatusCode != http.StatusUnauthorized || r.Header.Get("Secure-Session-Registration") != "" {
					t.Fatalf("registration with a bound token = %d, offer %q; want 401 and no offer",
						r.StatusCode, r.Header.Get("Secure-Session-Registration"))
				}
			})
		})
	}
}
