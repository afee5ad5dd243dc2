package gateway_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/gateway"
)

func TestCleanReturnTo(t *testing.T) {
	good := []string{
		"/",
		"/orders",
		"/orders?page=2&sort=desc",
		"/a/b.c/..d/c..",
		"/search?q=caf%C3%A9",
		"/p#section",
		"/%7Euser",
		"/a:b",
		"/x?next=https://elsewhere.example", // a query may hold a URL: it is the app's
		"/x?next=/../..//evil.example",      // dot segments in the query are the app's
		"/x#/..//y",
	}
	for _, s := range good {
		if got, err := gateway.CleanReturnTo(s); err != nil || got != s {
			t.Errorf("CleanReturnTo(%q) = %q, %v; want it unchanged", s, got, err)
		}
	}
	bad := []string{
		"",
		"orders",
		"//evil.example",
		"//evil.example/path",
		"///evil.example",
		"/\\evil.example",
		"\\\\evil.example",
		"/a\\b",
		"https://evil.example/",
		"http:evil.example",
		"javascript:alert(1)",
		"data:text/html,x",
		"mailto:x@example.com",
		"/\t/evil.example",
		"/\n/evil.example",
		"/\r\nSet-Cookie: x=y",
		"/\x00",
		"/\x7f",
		"/\u0085",
		"/ /evil.example",
		"/%2F%2Fevil.example",
		"/%2fevil.example",
		"%2F%2Fevil.example",
		"/%5Cevil.example",
		"/%5cevil.example",
		"/%252F%252Fevil.example",
		"/%25252F%25252Fevil.example",
		"/%09/evil.example",
		"/%0d%0aSet-Cookie:%20x=y",
		"/%00",
		"/%zz",
		"/%",
		"/\xff",
		"/" + strings.Repeat("a", gateway.MaxReturnToBytes),
		"/%2525252525252F",
		// Dot segments: a browser resolves each of these to the path
		// //evil.example, which a self-redirect sends to another origin.
		"/.//evil.example",
		"/..//evil.example",
		"/x/..//evil.example",
		"/%2e//evil.example",
		"/%2E//evil.example",
		"/.%2e//evil.example",
		"/%2e%2E//evil.example",
		"/./%2e//evil.example/",
		"/%252e//evil.example",
		"/x/%2e%2e/%2fevil.example",
		// Any dot segment at all: no legitimate return_to has one.
		"/a/b/../c",
		"/a/./b",
		"/a/..",
		"/a/.?q=1",
	}
	for _, s := range bad {
		if got, err := gateway.CleanReturnTo(s); !errors.Is(err, gateway.ErrBadReturnTo) {
			t.Errorf("CleanReturnTo(%q) = %q, %v; want ErrBadReturnTo", s, got, err)
		}
	}
}

func FuzzCleanReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//x", "/%2F%2Fx", "/\\x", "https://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := gateway.CleanReturnTo(s)
		if err != nil {
			return
		}
		// Whatever passes is a path a browser keeps on this origin.
		if got != s || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\t\r\n") {
			t.Fatalf("CleanReturnTo(%q) accepted a value that can leave the origin", s)
		}
	})
}

// TestRefreshPage_ReturnToDotSegments: the refresh page, which continues to
// its return_to from this origin, refuses one whose dot segments a browser
// resolves to the path //evil.example, rather than sending the visitor
// there.
func TestRefreshPage_ReturnToDotSegments(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, rt := range []string{"/.//evil.example", "/%2e//evil.example", "/..//evil.example", "/x/..//evil.example", "/./%2e//evil.example/"} {
		b := e.browser(t)
		r := b.do(http.MethodGet, "/sessiond/refresh?return_to="+url.QueryEscape(rt), "", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "cross-site", "Accept", "text/html")
		if r.StatusCode != http.StatusBadRequest || strings.Contains(r.body, "data-to=") {
			t.Errorf("GET /sessiond/refresh?return_to=%s = %d, continuing to it: %v; want 400", rt, r.StatusCode, strings.Contains(r.body, "data-to="))
		}
	}
}
