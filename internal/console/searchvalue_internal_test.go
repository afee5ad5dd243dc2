package console

import (
	"errors"
	"testing"

	"github.com/sessiond/sessiond/internal/subject"
)

// TestSearchValue: a value beginning with a double quote is read as the
// console (or the CLI) quotes one; any other is taken as it is, so that
// typed escapes stay the characters typed.
func TestSearchValue(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "alice", "alice"},
		{"typed escape, unquoted", `alice\u{200b}`, `alice\u{200b}`},
		{"typed CLI escape, unquoted", `alice\u200b`, `alice\u200b`},
		{"a quote inside, unquoted", `al"ice"`, `al"ice"`},
		{"console escape", `"alice\u{200b}"`, "alice\u200b"},
		{"CLI escape", `"alice\u200b"`, "alice\u200b"},
		{"CLI long escape", `"tag\U000e0041"`, "tag\U000e0041"},
		{"console long escape", `"tag\u{e0041}"`, "tag\U000e0041"},
		{"two hex digits in braces are a rune", `"\u{e9}"`, "\u00e9"},
		{"escaped backslash before a typed escape", `"CORP\\alice\\u{200b}"`, `CORP\alice\u{200b}`},
		{"escaped quotes", `"\"alice\""`, `"alice"`},
		{"a space escaped and a space typed", `"a\u{20} b"`, "a  b"},
		{"a byte", `"bad\xff"`, "bad\xff"},
		{"empty quoted", `""`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := searchValue(tc.in); err != nil || got != tc.want {
				t.Errorf("searchValue(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, in := range []string{`"`, `"alice`, `"al"ice"`, `"alice\"`, `"a\q"`, `"a\x4"`, `"a\xzz"`, `"a\u{}"`, `"a\u{1234567}"`, `"a\u{0000041}"`,
		`"a\u{110000}"`, `"a\ud800"`, `"a\u20"`, `"a\U0000"`, `"a\u{20"`, `"a\u{+20}"`} {
		if got, err := searchValue(in); !errors.Is(err, errSearchQuoted) {
			t.Errorf("searchValue(%s) = %q, %v; want errSearchQuoted", in, got, err)
		}
	}
}

// TestSearchText_RoundTrip: what a subject field shows reads back as the
// subject, and two subjects never share a field's text.
func TestSearchText_RoundTrip(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{
		"alice", "alice\u200b", `alice\u{200b}`, `alice\u200b`, `"alice\u{200b}"`, `"alice"`, `"`, `\`, `\"`, `""`,
		"alice ", " alice", "a  b", `"alice `, "CORP\\alice\u200b", `CORP\alice`, "alice\u00a0bob", "tag\U000e0041",
		"a\u202eb", "a\x1bb", "bad\xff", "山田\u3000", "\u2764\ufe0f", "",
	} {
		text := searchText(s)
		if got, err := searchValue(text); err != nil || got != s {
			t.Errorf("searchValue(searchText(%q) = %s) = %q, %v; want %q", s, text, got, err, s)
		}
		if prev, ok := seen[text]; ok {
			t.Errorf("searchText(%q) = searchText(%q) = %s", s, prev, text)
		}
		seen[text] = s
	}
}

// FuzzSearchText: every subject the API takes reads back from its
// searchText as itself, which the subject fields (maxlength) hold, and a value searchValue accepts asks for one subject: the
// searchText of what it returns reads back to the same. (A C1 control and
// an invalid byte are both shown as \xNN; no subject holds either.)
func FuzzSearchText(f *testing.F) {
	for _, s := range []string{"alice", "alice\u200b", `"alice"`, `\`, `"\`, "bad\xff", "\u00ad", `"a\u{20}"`, `"\x80"`, `"\ud800"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if clean, err := subject.Clean("subject", s); err != nil || clean != s {
			return
		}
		text := searchText(s)
		if got, err := searchValue(text); err != nil || got != s {
			t.Fatalf("searchValue(searchText(%q) = %s) = %q, %v", s, text, got, err)
		}
		if len(text) > 4*maxSubject+2 {
			t.Fatalf("searchText(%q) is %d bytes; the subject fields hold %d", s, len(text), 4*maxSubject+2)
		}
		if v, err := searchValue(s); err == nil {
			if got, err := searchValue(searchText(v)); err != nil || got != v {
				t.Fatalf("searchValue(searchText(searchValue(%q) = %q)) = %q, %v", s, v, got, err)
			}
		}
	})
}
