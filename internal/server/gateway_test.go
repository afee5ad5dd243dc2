package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
	"github.com/sessiond/sessiond/internal/testenv"
)

const gatewayKey = "sdak_gateway_0123456789abcdefghijklmnopqrstuvwxy"

// runGateway runs server.Run with the gateway enabled on plain HTTP
// loopback (cookie.secure: false, in development) and returns its URL.
func runGateway(t *testing.T, edit func(*config.Config)) string {
	t.Helper()
	cfg := servertest.GatewayConfig(t)
	if edit != nil {
		edit(&cfg)
	}
	return servertest.Run(t, server.Options{Config: cfg, APIKey: gatewayKey, InsecureDev: true})
}

// apiGet decodes the 200 answer of an API GET of url into out.
func apiGet(t *testing.T, url string, out any) {
	t.Helper()
	res := apiRequest(t, http.MethodGet, url, gatewayKey, "", nil)
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %v", url, res.StatusCode, err)
	}
}

func createWith(t *testing.T, base, body string) map[string]any {
	t.Helper()
	res := apiRequest(t, http.MethodPost, base+"/v1/sessions", gatewayKey, "application/json", strings.NewReader(body))
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/sessions %s = %d %v %v", body, res.StatusCode, out, err)
	}
	return out
}

// TestGateway_Served: the served binary's gateway, from the backend's
// POST /v1/sessions with login_code to a checked cookie, with the cookies
// following cookie.* and a custom prefix.
func TestGateway_Served(t *testing.T) {
	base := runGateway(t, func(c *config.Config) {
		c.Gateway.Prefix = "/auth"
		c.Cookie.RefreshPath = "/auth/refresh"
		c.Cookie.SameSite = "strict"
	})
	out := createWith(t, base, `{"subject":"alice","login_code":true,"return_to":"/orders"}`)
	loginURL, _ := out["login_url"].(string)
	if !strings.HasPrefix(loginURL, "/auth/login?code=sdlc_") || out["login_code"] == nil {
		t.Fatalf("login_url = %q", loginURL)
	}
	hc, jar := testenv.CookieClient(nil)
	res, err := hc.Get(base + loginURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 303 || res.Header.Get("Location") != "/orders" {
		t.Fatalf("login = %d %q; want 303 /orders", res.StatusCode, res.Header.Get("Location"))
	}
	for _, sc := range res.Header.Values("Set-Cookie") {
		if !strings.Contains(sc, "SameSite=Strict") || !strings.Contains(sc, "HttpOnly") {
			t.Errorf("Set-Cookie %q does not follow cookie.same_site: strict", sc)
		}
	}
	u, _ := url.Parse(base + "/auth/refresh")
	if names := jar.Cookies(u); len(names) != 2 {
		t.Errorf("cookies for the refresh route: %v; want sid and rt", names)
	}
	res, err = hc.Get(base + "/auth/check")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Sessiond-Subject") != "alice" || res.Header.Get("X-Request-Id") == "" {
		t.Errorf("check = %d subject %q; want 200 alice (with a request ID)", res.StatusCode, res.Header.Get("X-Sessiond-Subject"))
	}
	// Single use, through the server too.
	if res, _ := hc.Get(base + loginURL); res.StatusCode != 400 {
		t.Errorf("second use = %d; want 400", res.StatusCode)
	}

	// set_cookie: the values a backend relays.
	out = createWith(t, base, `{"subject":"bob","set_cookie":true}`)
	if sc, _ := out["set_cookie"].([]any); len(sc) != 2 || !strings.HasPrefix(sc[0].(string), "sid=") {
		t.Errorf("set_cookie = %v", out["set_cookie"])
	}
}

// TestGateway_ClaimsTooLongForCookie: claims the API accepts but whose
// access JWT would not fit in a browser cookie are refused to the backend
// (400 naming claims), and the session created for them is not left live.
func TestGateway_ClaimsTooLongForCookie(t *testing.T) {
	base := runGateway(t, nil)
	claims := `{"groups":"` + strings.Repeat("g", 3500) + `"}`
	for _, handoff := range []string{`"login_code":true`, `"set_cookie":true`} {
		var problem struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		body := `{"subject":"carol",` + handoff + `,"claims":` + claims + `}`
		code := testenv.CallAPI(t, http.MethodPost, base+"/v1/sessions", gatewayKey, body, &problem)
		if code != 400 || !strings.HasPrefix(problem.Detail, "claims:") || !strings.Contains(problem.Detail, "4096") {
			t.Errorf("POST /v1/sessions with %s and claims too long for a cookie = %d %+v; want 400 naming claims and the 4096-byte limit", handoff, code, problem)
		}
	}
	var list struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	apiGet(t, base+"/v1/subjects/carol/sessions", &list)
	if len(list.Sessions) != 0 {
		t.Errorf("live sessions of carol after the refused handoffs: %v; want none", list.Sessions)
	}
	// Without a handoff the same claims are fine: the API caller keeps the
	// tokens, not a browser.
	out := createWith(t, base, `{"subject":"carol","claims":`+claims+`}`)
	if out["access_token"] == nil {
		t.Errorf("create without a handoff = %v; want tokens", out)
	}
}

// TestGateway_CSRFRejectedEvent: a cross-site POST to a browser route is
// refused and lands in the security event log as request.csrf_rejected.
func TestGateway_CSRFRejectedEvent(t *testing.T) {
	base := runGateway(t, nil)
	for range 2 {
		crossSiteLogout(t, base, "https://evil.example")
	}
	var page struct {
		Events []struct {
			Client  map[string]string `json:"client"`
			Details map[string]any    `json:"details"`
		} `json:"events"`
	}
	apiGet(t, base+"/v1/events?type=request.csrf_rejected", &page)
	if len(page.Events) != 1 {
		t.Fatalf("%d request.csrf_rejected events for 2 cross-site POSTs from one client; want 1", len(page.Events))
	}
	if e := page.Events[0]; e.Client["ip"] == "" || e.Details["path"] != "/sessiond/logout" || e.Details["origin"] != "https://evil.example" {
		t.Errorf("event = %+v; want the caller's IP, path /sessiond/logout, origin https://evil.example", e)
	}
}

// TestGateway_Disabled: without gateway.enabled there is no browser route
// and the handoff flags are refused.
func TestGateway_Disabled(t *testing.T) {
	base := runGateway(t, func(c *config.Config) { c.Gateway.Enabled = false })
	res, err := http.Get(base + "/sessiond/check")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("check without the gateway = %d; want 404", res.StatusCode)
	}
	if code := testenv.CallAPI(t, http.MethodPost, base+"/v1/sessions", gatewayKey, `{"subject":"a","login_code":true}`, nil); code != 400 {
		t.Errorf("login_code without the gateway = %d; want 400", code)
	}
}

// TestGateway_Refused: a gateway configuration the validator rejects
// stops serve in production; trusted proxies it cannot read stop it even
// in insecure development, which starts despite the validator's errors,
// since the gateway would not know whose header to believe.
func TestGateway_Refused(t *testing.T) {
	cases := []struct {
		name        string
		insecureDev bool
		edit        func(*config.Gateway)
	}{
		{"no login_url (SD-GATEWAY-001)", false, func(g *config.Gateway) {}},
		{"trusted_proxies not addresses, insecure development", true, func(g *config.Gateway) {
			g.LoginURL, g.ClientIPHeader, g.TrustedProxies = "/login", "X-Real-IP", []string{"proxy.example"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Store.Driver = "memory"
			cfg.Server.Listen = "127.0.0.1:0"
			cfg.Server.DataDir = t.TempDir()
			cfg.Gateway.Enabled = true
			c.edit(&cfg.Gateway)
			// A configuration wrongly accepted would serve until cancelled:
			// stop it once it listens, so the test fails rather than hangs.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			listening := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- server.Run(ctx, server.Options{Config: cfg, APIKey: gatewayKey, InsecureDev: c.insecureDev,
					Logger: slog.New(slog.DiscardHandler), Listening: func(string) { close(listening) }})
			}()
			select {
			case err := <-done:
				if !errors.Is(err, server.ErrInvalidConfig) {
					t.Errorf("Run = %v; want ErrInvalidConfig", err)
				}
			case <-listening:
				cancel()
				<-done
				t.Error("Run served; want ErrInvalidConfig")
			}
		})
	}
}

// TestGateway_RefreshCookieParentPath: a cookie.refresh_path above the
// refresh route still reaches it; the cookie carries that path.
func TestGateway_RefreshCookieParentPath(t *testing.T) {
	base := runGateway(t, func(c *config.Config) { c.Cookie.RefreshPath = "/sessiond" })
	out := createWith(t, base, `{"subject":"alice","set_cookie":true}`)
	sc, _ := out["set_cookie"].([]any)
	if len(sc) != 2 || !strings.Contains(sc[1].(string), "Path=/sessiond;") {
		t.Errorf("set_cookie = %v; want the refresh cookie on Path=/sessiond", sc)
	}
}

// TestGateway_UnknownCookieEvent (OWASP Session Management Cheat Sheet,
// "Strict Session Management"): a well-formed session cookie sessiond never
// issued is not adopted, and the security event log records a
// session.unknown_id with the caller's address, once however often the
// same client tries within the minute.
func TestGateway_UnknownCookieEvent(t *testing.T) {
	base := runGateway(t, nil)
	forged := "sdat_" + string(sessiond.NewSessionID()) + string(sessiond.NewSessionID())
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, base+"/sessiond/check", nil)
		req.Header.Set("Cookie", "sid="+forged)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("X-Sessiond-Subject") != "" || res.Header.Get("Set-Cookie") != "" {
			t.Fatalf("check with a forged cookie = %d, subject %q, Set-Cookie %q; want 401, nothing adopted",
				res.StatusCode, res.Header.Get("X-Sessiond-Subject"), res.Header.Get("Set-Cookie"))
		}
	}
	var page struct {
		Events []struct {
			Type    string            `json:"type"`
			Subject string            `json:"subject"`
			Client  map[string]string `json:"client"`
			Details map[string]any    `json:"details"`
		} `json:"events"`
	}
	apiGet(t, base+"/v1/events?type=session.unknown_id", &page)
	if len(page.Events) != 1 {
		t.Fatalf("%d session.unknown_id events for 3 tries of one forged cookie; want 1", len(page.Events))
	}
	if e := page.Events[0]; e.Subject != "" || e.Client["ip"] == "" || e.Details["stage"] != "verify" || e.Details["reason"] != "forged" {
		t.Errorf("event = %+v; want no subject, the caller's IP, stage verify, reason forged", e)
	}
}

// A client may send X-Forwarded-For itself, and proxies append to it: only
// the entry the nearest proxy wrote is the browser's; text that is not an
// address falls back to the peer rather than keying the limits by it. The
// header counts only from a trusted proxy (gateway.trusted_proxies, by
// default loopback): a client that reaches the listener directly is taken
// at its connection's address whatever it writes.
func TestGateway_ClientIPHeader(t *testing.T) {
	const proxy = "192.0.2.1:55000"
	cases := []struct {
		name    string
		header  string
		trusted []string // gateway.trusted_proxies
		peer    string   // RemoteAddr
		values  []string
		want    string
	}{
		{"no header configured", "", []string{"192.0.2.1"}, proxy, []string{"203.0.113.7"}, "192.0.2.1"},
		{"header absent", "X-Real-IP", []string{"192.0.2.1"}, proxy, nil, "192.0.2.1"},
		{"empty", "X-Real-IP", []string{"192.0.2.1"}, proxy, []string{""}, "192.0.2.1"},
		{"one address", "X-Real-IP", []string{"192.0.2.1"}, proxy, []string{" 203.0.113.7 "}, "203.0.113.7"},
		{"list: the last entry", "X-Forwarded-For", []string{"192.0.2.1"}, proxy, []string{"198.51.100.9, 203.0.113.7"}, "203.0.113.7"},
		{"lines: the last line", "X-Forwarded-For", []string{"192.0.2.1"}, proxy, []string{"198.51.100.9", "10.0.0.1, 203.0.113.7"}, "203.0.113.7"},
		{"client text", "X-Real-IP", []string{"192.0.2.1"}, proxy, []string{"attacker-chosen"}, "192.0.2.1"},
		{"list ending in text", "X-Forwarded-For", []string{"192.0.2.1"}, proxy, []string{"203.0.113.7, unknown"}, "192.0.2.1"},
		{"with a port", "X-Forwarded-For", []string{"192.0.2.1"}, proxy, []string{"203.0.113.7:4431"}, "203.0.113.7"},
		{"IPv6 with a port", "X-Forwarded-For", []string{"192.0.2.1"}, proxy, []string{"[2001:db8::7]:4431"}, "2001:db8::7"},
		{"IPv4-mapped", "X-Real-IP", []string{"192.0.2.1"}, proxy, []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"zone dropped", "X-Real-IP", []string{"192.0.2.1"}, proxy, []string{"fe80::1%eth0"}, "fe80::1"},

		// Who may set it.
		{"trusted prefix", "X-Real-IP", []string{"192.0.2.0/24"}, proxy, []string{"203.0.113.7"}, "203.0.113.7"},
		{"untrusted peer", "X-Real-IP", []string{"192.0.2.2", "10.0.0.0/8"}, proxy, []string{"203.0.113.7"}, "192.0.2.1"},
		{"untrusted peer, list", "X-Forwarded-For", []string{"10.0.0.0/8"}, proxy, []string{"198.51.100.9, 203.0.113.7"}, "192.0.2.1"},
		{"untrusted peer, malformed header", "X-Real-IP", []string{"10.0.0.0/8"}, proxy, []string{"attacker-chosen"}, "192.0.2.1"},
		{"default: loopback peer", "X-Real-IP", nil, "127.0.0.1:55000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"default: another loopback address", "X-Real-IP", nil, "127.0.0.2:55000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"default: IPv6 loopback peer", "X-Real-IP", nil, "[::1]:55000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"default: remote peer", "X-Real-IP", nil, proxy, []string{"203.0.113.7"}, "192.0.2.1"},
		{"default: remote IPv6 peer", "X-Real-IP", nil, "[2001:db8::1]:55000", []string{"203.0.113.7"}, "2001:db8::1"},
		{"IPv6 peer in a trusted prefix", "X-Real-IP", []string{"2001:db8::/32"}, "[2001:db8::1]:55000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"IPv6 peer outside", "X-Real-IP", []string{"2001:db8::/32"}, "[2001:db9::1]:55000", []string{"203.0.113.7"}, "2001:db9::1"},
		{"IPv4-mapped peer", "X-Real-IP", []string{"192.0.2.1"}, "[::ffff:192.0.2.1]:55000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"zoned peer", "X-Real-IP", []string{"fe80::/10"}, "[fe80::1%eth0]:55000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"unreadable peer", "X-Real-IP", []string{"0.0.0.0/0", "::/0"}, "pipe", []string{"203.0.113.7"}, "pipe"},
		{"every peer trusted", "X-Real-IP", []string{"0.0.0.0/0"}, proxy, []string{"203.0.113.7"}, "203.0.113.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			trusted, err := config.Gateway{TrustedProxies: c.trusted}.TrustedProxyPrefixes()
			if err != nil {
				t.Fatal(err)
			}
			r, err := http.NewRequest(http.MethodGet, "http://app.example/", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.RemoteAddr = c.peer
			for _, v := range c.values {
				r.Header.Add("X-Real-IP", v)
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := server.ClientIP(c.header, trusted, sessiond.IPPrefixes{}, nil)(r); got != c.want {
				t.Errorf("client IP from %s = %q, want %q", c.peer, got, c.want)
			}
		})
	}
}

// TestGateway_ClientIPHeaderFromTrustedProxiesOnly: a request that reaches
// the listener directly, not through a proxy in gateway.trusted_proxies,
// cannot choose the address the security event log records by sending
// X-Real-IP; from a listed proxy the header is what is recorded.
func TestGateway_ClientIPHeaderFromTrustedProxiesOnly(t *testing.T) {
	cases := []struct {
		name    string
		trusted []string
		want    string // client.ip of the event
		debug   bool   // the ignored header is logged at debug level
		v4      int    // events.ipv4_prefix
		peer    string // the debug line's peer
	}{
		{"direct, past a proxy on another host", []string{"192.0.2.10", "10.0.0.0/8"}, "127.0.0.1", true, 0, "127.0.0.1:"},
		{"direct, with event prefixes", []string{"192.0.2.10"}, "127.0.0.0", true, 24, `"peer":"127.0.0.0"`},
		{"through the listed proxy", []string{"127.0.0.1"}, "203.0.113.7", false, 0, ""},
		{"through a proxy on loopback, the default", nil, "203.0.113.7", false, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := servertest.GatewayConfig(t)
			cfg.Gateway.ClientIPHeader = "X-Real-IP"
			cfg.Gateway.TrustedProxies = c.trusted
			cfg.Events.IPv4Prefix = c.v4
			logs := &testenv.SyncBuffer{}
			base := servertest.Run(t, server.Options{Config: cfg, APIKey: gatewayKey, InsecureDev: true,
				Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

			req := testenv.NewRequest(t, http.MethodPost, base+"/sessiond/logout", nil,
				"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "X-Real-IP", "203.0.113.7")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("cross-site POST /sessiond/logout = %d; want 403", res.StatusCode)
			}
			var page struct {
				Events []struct {
					Client map[string]string `json:"client"`
				} `json:"events"`
			}
			apiGet(t, base+"/v1/events?type=request.csrf_rejected", &page)
			if len(page.Events) != 1 {
				t.Fatalf("%d request.csrf_rejected events; want 1", len(page.Events))
			}
			if got := page.Events[0].Client["ip"]; got != c.want {
				t.Errorf("event client.ip = %q with X-Real-IP: 203.0.113.7 and trusted_proxies %q; want %q", got, c.trusted, c.want)
			}
			if got := strings.Contains(logs.String(), "client IP header ignored"); got != c.debug {
				t.Errorf("debug line for the ignored header logged = %v; want %v", got, c.debug)
			}
			// With event prefixes set the peer is cut as events cut it
			// (no port either), as every other logged address is.
			if c.peer != "" && !strings.Contains(logs.String(), c.peer) {
				t.Errorf("debug line's peer: want %s in the log:\n%s", c.peer, logs.String())
			}
		})
	}
}
