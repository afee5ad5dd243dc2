package httpsession

import (
	"net/http"
	"strings"
	"testing"
)

var cookieSeeds = []string{
	"sid=abc", "a=1; sid=abc; b=2", "  sid = abc ; sid=def", "sid=\"abc\"", "sid=a\\b; sid=ok",
	"sid=; sid=x", "sid", "sids=x; sid=y", "__host-sid=x; sid=y", "sid=a b", "sid= abc ", "x=1;;sid=2",
	"sid=\xff; sid=ok", strings.Repeat("a=1;", 60) + "sid=z", "",
}

// FuzzFirstCookie: when firstCookie answers, it answers what net/http's
// Request.Cookie does.
func FuzzFirstCookie(f *testing.F) {
	for _, s := range cookieSeeds {
		f.Add(s, "")
	}
	f.Add("sid=1", "sid=2")
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		lines := []string{line1}
		if line2 != "" {
			lines = append(lines, line2)
		}
		checkFirstCookie(t, lines)
	})
}

func TestFirstCookie(t *testing.T) {
	for _, s := range cookieSeeds {
		checkFirstCookie(t, []string{s})
	}
	checkFirstCookie(t, []string{"a=1", "sid=two lines"})
	if v, ok := firstCookie([]string{"a=1; sid=abc; b=2"}, "sid"); !ok || v != "abc" {
		t.Errorf("firstCookie = %q, %v; want abc, true", v, ok)
	}
}

func checkFirstCookie(t *testing.T, lines []string) {
	t.Helper()
	v, ok := firstCookie(lines, "sid")
	if !ok {
		return // r.Cookie decides
	}
	r := &http.Request{Header: http.Header{"Cookie": lines}}
	c, err := r.Cookie("sid")
	if err != nil {
		t.Fatalf("firstCookie(%q) = %q; net/http finds no cookie", lines, v)
	}
	if c.Value != v {
		t.Fatalf("firstCookie(%q) = %q; net/http reads %q", lines, v, c.Value)
	}
}
