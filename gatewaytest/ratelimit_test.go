package gatewaytest

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// A browser address past rate_limit.auth_failures (default burst 20),
// through the shipped NGINX and Caddy configurations: the routes the
// browser calls itself answer 429 with Retry-After, while check keeps its
// refusal, so a protected page still sends a navigation to the login page
// and a script gets 401 (with Retry-After), never NGINX's 500 for an auth_request status it
// does not take; a valid session and an anonymous visitor from the same
// address are served as usual. Both proxies report the browser as
// 127.0.0.1 (X-Real-IP), so they share its bucket.
func TestProxy_GuessFloodPastFailureLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NGINX and Caddy")
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	rs := startRecStack(t, ctx)
	defer rs.dump(t)
	forged := func() []string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return []string{"Cookie", "sessiond=sdat_" + base64.RawURLEncoding.EncodeToString(b)}
	}
	guesser := newClient(t, rs.proxies["nginx"])
	for i := range 25 { // past the default burst of 20
		if r := guesser.do(http.MethodGet, "/sessiond/session", "", append(script, forged()...)...); r.status != 401 && r.status != 429 {
			t.Fatalf("guess %d = %d %s; want 401, then 429", i+1, r.status, r.body)
		}
	}
	for _, proxy := range []string{"nginx", "caddy"} {
		c := newClient(t, rs.proxies[proxy])
		if r := c.do(http.MethodGet, "/sessiond/session", "", append(script, forged()...)...); r.status != 429 || r.h.Get("Retry-After") == "" {
			t.Errorf("%s: /sessiond/session with a guessed cookie past the limit = %d, Retry-After %q; want 429 with it", proxy, r.status, r.h.Get("Retry-After"))
		}
		if r := c.do(http.MethodGet, "/app", "", append(navigation, forged()...)...); r.status != 303 || !strings.HasPrefix(r.h.Get("Location"), "/login") {
			t.Errorf("%s: a page with a guessed cookie past the limit = %d %q; want 303 to the login page", proxy, r.status, r.h.Get("Location"))
		}
		if r := c.do(http.MethodGet, "/app", "", append(script, forged()...)...); r.status != 401 || r.h.Get("Retry-After") == "" {
			t.Errorf("%s: a script's request with a guessed cookie past the limit = %d, Retry-After %q; want 401 with it", proxy, r.status, r.h.Get("Retry-After"))
		}
		if r := c.do(http.MethodGet, "/app", "", navigation...); r.status != 303 {
			t.Errorf("%s: an anonymous visitor from the address = %d; want 303 to the login page", proxy, r.status)
		}
		if r := c.do(http.MethodGet, "/app", "", script...); r.status != 401 || r.h.Get("Retry-After") != "" {
			t.Errorf("%s: an anonymous script's request from the address = %d, Retry-After %q; want 401 without it (no credential was refused)", proxy, r.status, r.h.Get("Retry-After"))
		}
		rs.loginAPI(t, c, "bob")
		if r := c.do(http.MethodGet, "/app", "", navigation...); r.status != 200 {
			t.Errorf("%s: a valid session from the address = %d; want 200", proxy, r.status)
		}
	}
}
