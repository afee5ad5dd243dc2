package testenv

import (
	"io"
	"net/http"
	"net/http/cookiejar"
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
