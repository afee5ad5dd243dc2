package gatewaytest

// The example proxy configurations against requests a client crafts: forged
// identity headers in other spellings, and request targets the proxy reads
// as a public page while the app receives them as sent. A recording server
// stands where the example app sits, so what reaches "the app" is seen.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// rawGet sends one HTTP/1.1 request with a request target no Go client
// would send as is, and returns the status line and the body.
func rawGet(t *testing.T, base, target string, hdr ...string) (string, string) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n"
	for i := 0; i+1 < len(hdr); i += 2 {
		req += hdr[i] + ": " + hdr[i+1] + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	b := new(strings.Builder)
	_, _ = bufio.NewReader(res.Body).WriteTo(b)
	return res.Status, b.String()
}

// A '#' or dot segments in the request target must not get the real
// example backend (app.py) to serve a protected page without a session.
func TestProxy_FragmentAndDotSegmentsWithApp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NGINX and Caddy")
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	st := startStack(t, ctx)
	defer st.dump(t)
	for _, proxy := range []string{"nginx", "caddy"} {
		for _, target := range []string{"/app#/../login", "/app#/..", "/api/me#/../../login"} {
			status, body := rawGet(t, st.proxies[proxy], target, navigation...)
			if strings.HasPrefix(status, "200") && (strings.Contains(body, "Your page") || strings.Contains(body, `"session_id"`)) {
				t.Errorf("%s: GET %s without a session = %s, the protected page: %.200q", proxy, target, status, body)
			}
		}
	}
}

// recorder is a backend that keeps every request it receives.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	uri    string
	header http.Header
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, recorded{r.RequestURI, r.Header.Clone()})
	rc.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"uri": r.RequestURI, "header": r.Header})
}

func (rc *recorder) last(t *testing.T) recorded {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		t.Fatal("the backend received no request")
	}
	return rc.reqs[len(rc.reqs)-1]
}

// recStack is sessiond and the two proxies with the shipped configurations,
// the recorder in the app's place.
type recStack struct {
	*stack
	rec *recorder
}

func startRecStack(t *testing.T, ctx context.Context) *recStack {
	t.Helper()
	rec := &recorder{}
	st := startStackWith(t, ctx, func(*stack, func() string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: rec}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		return ln.Addr().String()
	})
	return &recStack{st, rec}
}

// loginAPI signs subject in through the API's login code, redeemed through
// the proxy, as the example app does.
func (rs *recStack) loginAPI(t *testing.T, c *client, subject string) {
	t.Helper()
	var out map[string]any
	body := fmt.Sprintf(`{"subject":%q,"login_code":true,"return_to":"/app"}`, subject)
	if code := testenv.CallAPI(t, http.MethodPost, rs.sessiond+"/v1/sessions", apiKey, body, &out); code != 201 {
		t.Fatalf("POST /v1/sessions = %d %v", code, out)
	}
	u, _ := out["login_url"].(string)
	if r := c.do(http.MethodGet, u, "", navigation...); r.status != 303 {
		t.Fatalf("GET %s = %d %s", u, r.status, r.body)
	}
}

// proxySet are the identity headers the proxy sets itself.
var proxySet = map[string]bool{"X-Sessiond-Subject": true, "X-Sessiond-Session-Id": true, "X-Sessiond-Expires-At": true, "X-Sessiond-Step-Up": true}

// phpName is the $_SERVER key PHP gives a request header: the web server's
// CGI name (HTTP_, upper case, '-' as '_'), after which PHP's
// php_register_variable_ex turns '.' and ' ' into '_' as well. WSGI and
// Rack do the same for '-' and '_'.
func phpName(h string) string {
	return "HTTP_" + strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(strings.ToUpper(h))
}

// smuggled lists the headers the backend received that a CGI/WSGI/Rack/PHP
// server would read as one of X-Sessiond-*, but that the proxy did not set
// itself.
func smuggled(h http.Header) []string {
	var out []string
	for k, v := range h {
		if strings.HasPrefix(phpName(k), "HTTP_X_SESSIOND_") && !proxySet[k] {
			out = append(out, k+": "+strings.Join(v, ","))
		}
	}
	return out
}

// CGI-style backends (WSGI, PHP, Rack) read X_Sessiond_Subject as
// X-Sessiond-Subject, and PHP reads X.Sessiond.Subject so too: no spelling
// of the identity headers a client sends may reach the app, on a public
// page or beside a real session's.
func TestProxy_IdentityHeaderSpellings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NGINX and Caddy")
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	rs := startRecStack(t, ctx)
	defer rs.dump(t)
	forged := []string{
		"X_Sessiond_Subject", "alice", "X_Sessiond_Session_Id", "forged", "X_Sessiond_Step_Up", "true",
		"X-Sessiond_Subject", "alice", "X-Sessiond-Expires_At", "2099-01-01T00:00:00Z",
		"X.Sessiond.Subject", "alice", "X-Sessiond.Subject", "alice", "x.sessiond-session-id", "forged",
		"X-Sessiond-Step.Up", "true", "X_Sessiond.Expires-At", "2099-01-01T00:00:00Z",
	}
	for _, proxy := range []string{"nginx", "caddy"} {
		c := newClient(t, rs.proxies[proxy])
		// A public page, no session at all.
		c.do(http.MethodGet, "/", "", append(navigation, forged...)...)
		if s := smuggled(rs.rec.last(t).header); len(s) > 0 {
			t.Errorf("%s: public page without a session: the backend received %q", proxy, s)
		}
		// A protected page, with bob's session: the forged subject rides along.
		rs.loginAPI(t, c, "bob")
		if r := c.do(http.MethodGet, "/app", "", append(navigation, forged...)...); r.status != 200 {
			t.Fatalf("%s: /app with a session = %d", proxy, r.status)
		}
		if s := smuggled(rs.rec.last(t).header); len(s) > 0 {
			t.Errorf("%s: protected page with bob's session: the backend received %q besides X-Sessiond-Subject %q", proxy, s, rs.rec.last(t).header.Get("X-Sessiond-Subject"))
		}
	}
}

// The proxies match locations on the normalised path but forward the
// request target as sent: /app/%2e%2e/login must not pass as the public
// /login and reach an app that routes it by its /app/ prefix unchecked.
func TestProxy_RawPathIsChecked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NGINX and Caddy")
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	rs := startRecStack(t, ctx)
	defer rs.dump(t)
	for _, proxy := range []string{"nginx", "caddy"} {
		for _, target := range []string{"/app/%2e%2e/login", "/app/%2e./login", "/app/.%2E/", "/app/..", "/app;/../login", "/app%3F/../login", "/app%23/../login", "/app#/../login"} {
			rs.rec.mu.Lock()
			n := len(rs.rec.reqs)
			rs.rec.mu.Unlock()
			status, _ := rawGet(t, rs.proxies[proxy], target)
			rs.rec.mu.Lock()
			got := rs.rec.reqs[n:]
			rs.rec.mu.Unlock()
			for _, r := range got {
				if strings.HasPrefix(r.uri, "/app") && r.header.Get("X-Sessiond-Subject") == "" {
					t.Errorf("%s: GET %s without a session = %s; the backend received %q with no identity and no check", proxy, target, status, r.uri)
				}
			}
		}
	}
}
