package opaquetoken_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
)

var scanner = regexp.MustCompile(`^sd(at|rt|ak)_[a-z2-7]{58}$`)

func TestCodec_RoundTrip(t *testing.T) {
	var c opaquetoken.Codec
	for _, kind := range []sessiond.TokenKind{sessiond.KindAccess, sessiond.KindRefresh, sessiond.KindAPIKey} {
		tok, h, err := c.New(kind)
		if err != nil {
			t.Fatalf("New(%s): %v", kind, err)
		}
		if !scanner.MatchString(string(tok)) {
			t.Errorf("New(%s) = %q; does not match the documented scanner regex", kind, string(tok))
		}
		got, err := c.Parse(kind, tok)
		if err != nil {
			t.Fatalf("Parse(New(%s)): %v", kind, err)
		}
		if got != h || got != sessiond.HashToken(tok) {
			t.Errorf("Parse hash = %x; want %x", got, h)
		}
	}
}

func TestCodec_Unique(t *testing.T) {
	var c opaquetoken.Codec
	seen := make(map[sessiond.Secret]bool)
	for range 10000 {
		tok, _, err := c.New(sessiond.KindAccess)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok] {
			t.Fatal("duplicate token in 10,000")
		}
		seen[tok] = true
	}
}

func TestCodec_ParseRejects(t *testing.T) {
	var c opaquetoken.Codec
	access, _, _ := c.New(sessiond.KindAccess)
	refresh, _, _ := c.New(sessiond.KindRefresh)
	a := string(access)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := []struct {
		name string
		kind sessiond.TokenKind
		tok  string
	}{
		{"empty", sessiond.KindAccess, ""},
		{"garbage", sessiond.KindAccess, "hello world"},
		{"truncated", sessiond.KindAccess, a[:len(a)-1]},
		{"extended", sessiond.KindAccess, a + "a"},
		{"oversized", sessiond.KindAccess, a + strings.Repeat("a", 9000)},
		{"wrong checksum", sessiond.KindAccess, flip(a, len(a)-1)},
		{"body typo", sessiond.KindAccess, flip(a, 10)},
		{"uppercase", sessiond.KindAccess, strings.ToUpper(a)},
		{"bad alphabet", sessiond.KindAccess, a[:10] + "1" + a[11:]},
		{"refresh as access", sessiond.KindAccess, string(refresh)},
		{"access as refresh", sessiond.KindRefresh, a},
		{"access as api key", sessiond.KindAPIKey, a},
		{"prefix swapped", sessiond.KindRefresh, opaquetoken.RefreshPrefix + a[len(opaquetoken.AccessPrefix):]},
		{"unknown kind", sessiond.TokenKind(9), a},
		{"nul bytes", sessiond.KindAccess, strings.Repeat("\x00", opaquetoken.Len)},
		{"jwt", sessiond.KindAccess, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Parse(tc.kind, sessiond.Secret(tc.tok))
			if !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Fatalf("Parse = %v; want ErrInvalidToken", err)
			}
			if len(tc.tok) > 8 && strings.Contains(err.Error(), tc.tok) {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	var c opaquetoken.Codec
	tok, _, _ := c.New(sessiond.KindAccess)
	f.Add(string(tok))
	f.Add("sdrt_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []sessiond.TokenKind{sessiond.KindAccess, sessiond.KindRefresh} {
			h, err := c.Parse(kind, sessiond.Secret(s))
			if err != nil {
				if !errors.Is(err, sessiond.ErrInvalidToken) {
					t.Fatalf("Parse error %v does not match ErrInvalidToken", err)
				}
				continue
			}
			// Whatever parses must be a well-formed token whose hash is its SHA-256.
			if !scanner.MatchString(s) || h != sessiond.HashToken(sessiond.Secret(s)) {
				t.Fatalf("Parse accepted a malformed token")
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	var c opaquetoken.Codec
	tok, _, _ := c.New(sessiond.KindAccess)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Parse(sessiond.KindAccess, tok); err != nil {
			b.Fatal(err)
		}
	}
}
