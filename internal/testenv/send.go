package testenv

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Send sends with c the request NewRequest builds (body, when not empty,
// as its body) and returns the response with its body read and closed.
// It fails tb when the request cannot be sent.
func Send(tb testing.TB, c *http.Client, method, url, body string, hdr ...string) (*http.Response, string) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	res, err := c.Do(NewRequest(tb, method, url, rd, hdr...))
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}
