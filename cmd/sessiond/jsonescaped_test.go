package main

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/textsafe"
)

// FuzzJSONEscaped: what writeJSON and an `events` line's details print is
// JSON that encoding/json reads back as the value it marshalled, holding
// no rune textsafe reports (a terminal shows it as written); a table cell
// is the value as it is or a Go literal strconv.Unquote reads back, and
// both show as written.
func FuzzJSONEscaped(f *testing.F) {
	for _, s := range []string{"", "alice", "a\u200bb", `a\u200b`, "tag\U000e0041", "\x1b[2J", "\u2764\ufe0f", "a\ufe0f",
		"\u202e", "bad\xff", `"\\`, "\u2028\u2029", "\x7f\u0085", "<&>", "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(map[string]string{s: s})
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got := jsonEscaped(b)
		var back map[string]string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("jsonEscaped(%s) = %s: %v", b, got, err)
		}
		if !maps.Equal(back, want) {
			t.Errorf("jsonEscaped(%s) = %s reads back as %q; want %q", b, got, back, want)
		}
		if !textsafe.Safe(string(got)) {
			t.Errorf("jsonEscaped(%s) = %q holds a rune textsafe escapes", b, got)
		}
		c := cell(s)
		if !textsafe.Safe(c) {
			t.Errorf("cell(%q) = %q holds a rune textsafe escapes", s, c)
		}
		if strings.HasPrefix(c, `"`) {
			if u, err := strconv.Unquote(c); err != nil || u != s {
				t.Errorf("strconv.Unquote(cell(%q)) = %q, %v; want it back", s, u, err)
			}
		} else if c != s {
			t.Errorf("cell(%q) = %q, unquoted; want the value as it is", s, c)
		}
	})
}
