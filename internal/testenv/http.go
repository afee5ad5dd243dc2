package testenv

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

// NoRedirect is an http.Client CheckRedirect that hands a redirect answer
// to the caller instead of following it.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// CookieClient is what a test plays a browser with: a copy of base (nil
// for a zero http.Client; an httptest server's Client for TLS) with a
// cookie jar of its own, not following redirects. It returns the jar too.
func CookieClient(base *http.Client) (*http.Client, *cookiejar.Jar) {
	jar, _ := cookiejar.New(nil) // never fails without options
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	c.Jar = jar
	c.CheckRedirect = NoRedirect
	return c, jar
}

// NewRequest is http.NewRequest with the headers hdr, pairs of name and
// value, added; it fails tb on a malformed method or URL.
func NewRequest(tb testing.TB, method, url string, body io.Reader, hdr ...string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

// WantChallenge fails tb unless res is a 401 with exactly one
// WWW-Authenticate header, want (RFC 6750 §3).
func WantChallenge(tb testing.TB, op string, res *http.Response, want string) {
	tb.Helper()
	if res.StatusCode != http.StatusUnauthorized {
		tb.Errorf("%s = %d; want 401", op, res.StatusCode)
		return
	}
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != want {
		tb.Errorf("%s: WWW-Authenticate = %q; want exactly [%q]", op, got, want)
	}
}

// NoCORS fails tb when h grants anything to another origin: any
// Access-Control-* header (Allow-Origin, Allow-Credentials, Allow-Methods,
// Allow-Headers, Expose-Headers, Max-Age).
func NoCORS(tb testing.TB, op string, h http.Header) {
	tb.Helper()
	for name, v := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(name), "Access-Control-") {
			tb.Errorf("%s: answered %s: %q to another origin", op, name, v)
		}
	}
}
