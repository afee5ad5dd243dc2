package gatewaytest

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// X-Sessiond-Step-Up reaches the app only as "true", when an anomaly rule
// asked for a step-up. A session without one must give the app no such
// header at all: Caddy 2.6's copy_headers would send the placeholder's own
// text, which an app testing for the header reads as "step up".
func TestProxy_StepUpHeaderOnlyWhenSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NGINX and Caddy")
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	rs := startRecStack(t, ctx)
	defer rs.dump(t)
	for _, proxy := range []string{"nginx", "caddy"} {
		c := newClient(t, rs.proxies[proxy])
		rs.loginAPI(t, c, "bob")
		// A client's own Step-Up is no step-up either.
		if r := c.do(http.MethodGet, "/app", "", append(navigation, "X-Sessiond-Step-Up", "true")...); r.status != 200 {
			t.Fatalf("%s: /app with a session = %d", proxy, r.status)
		}
		h := rs.rec.last(t).header
		if h.Get("X-Sessiond-Subject") != "bob" {
			t.Fatalf("%s: X-Sessiond-Subject = %q; want bob", proxy, h.Get("X-Sessiond-Subject"))
		}
		if v := h.Values("X-Sessiond-Step-Up"); len(v) > 0 {
			t.Errorf("%s: a session without a step-up: the app received X-Sessiond-Step-Up %q; want no such header", proxy, v)
		}
	}
}

// A page served only with a session, built from identity headers the proxy
// derived from a cookie the app never sees, must not reach a shared cache
// as storable when the app said nothing about caching: here a plain 200
// with Last-Modified, heuristically fresh for a shared cache (RFC 9111
// §4.2.2). The proxies add Cache-Control: private then, and leave the
// app's own Cache-Control as it is.
func TestProxy_ProtectedPagePrivateByDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NGINX and Caddy")
	}
	ctx, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/app/shared" {
			w.Header().Set("Cache-Control", "public, max-age=60")
		}
		w.Header().Set("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<p>Signed in as %s</p>", r.Header.Get("X-Sessiond-Subject"))
	})
	st := startStackWith(t, ctx, func(*stack, func() string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: app}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		return ln.Addr().String()
	})
	defer st.dump(t)
	rs := &recStack{st, nil}
	for _, proxy := range []string{"nginx", "caddy"} {
		c := newClient(t, st.proxies[proxy])
		rs.loginAPI(t, c, "bob")
		for _, tc := range []struct{ path, want string }{
			{"/app", "private"},
			{"/app/shared", "public, max-age=60"},
		} {
			r := c.do(http.MethodGet, tc.path, "", navigation...)
			if r.status != 200 || !strings.Contains(r.body, "bob") {
				t.Fatalf("%s: %s with bob's session = %d %q", proxy, tc.path, r.status, r.body)
			}
			if cc := strings.Join(r.h.Values("Cache-Control"), ", "); cc != tc.want {
				t.Errorf("%s: %s reaches the browser with Cache-Control %q; want %q", proxy, tc.path, cc, tc.want)
			}
		}
	}
}
