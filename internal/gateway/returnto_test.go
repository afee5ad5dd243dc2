package gateway_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/gateway"
)

func TestCleanReturnTo(t *testing.T) {
	good := []string{
		"/",
		"/orders",
		"/orders?page=2&sort=desc",
		"/a/b/../c",
		"/search?q=caf%C3%A9",
		"/p#section",
		"/%7Euser",
		"/a:b",
		"/x?next=https://elsewhere.example", // a query may hold a URL: it is the app's
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
