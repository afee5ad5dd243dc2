package main

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

// lookAlikes are values an operator must be able to tell apart: a rune
// shown as an escape beside the same escape typed literally (a subject
// may hold any printable text, backslashes included), and quotes.
var lookAlikes = []string{
	"alice\u200b", `alice\u200b`, `alice\\u200b`,
	"alice\x00", `alice\x00`, "alice\\\x00",
	"tag\U000e0041", `tag\U000e0041`,
	"alice\u00a0bob", `alice\u00a0bob`,
	"alice ", `"alice "`, `alice\x20`,
	`CORP\alice`, "CORP\\alice\u200b", `"CORP\\alice\u200b"`,
	"bad\xff", `bad\xff`, `"bad\xff"`,
	`"`, `\`, `\"`, "", `""`,
}

// TestCell_LookAlikes: two values never show as the same table cell. A
// cell is either the value's exact text, or a Go string literal (quoted)
// whose backslashes and quotes are escaped as well as the runes
// textsafe.Unsafe reports, so that "alice\u200b" (a zero-width space)
// shows as `"alice\u200b"` and the six characters `\u200b` typed in a
// subject show as themselves. A quoted cell reads back as stored.
func TestCell_LookAlikes(t *testing.T) {
	seen := map[string]string{}
	for _, in := range lookAlikes {
		got := cell(in)
		if prev, ok := seen[got]; ok {
			t.Errorf("cell(%q) = cell(%q) = %s", in, prev, got)
		}
		seen[got] = in
		if strings.HasPrefix(got, `"`) {
			if back, err := strconv.Unquote(got); err != nil || back != in {
				t.Errorf("strconv.Unquote(%s) = %q, %v; want %q", got, back, err, in)
			}
		} else if got != in {
			t.Errorf("cell(%q) = %s; unquoted, want the value as it is", in, got)
		}
	}
}

// TestFieldValue: a field of an `events` text line is a cell, quoted also
// when it holds a space, '=' or '"' (so that a subject cannot pass for
// other fields), its escapes written once: strconv.Quote over clean's
// escapes wrote `\\x1b` for an ESC, the same as for the four characters
// `\x1b` typed in a subject.
func TestFieldValue(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "alice", "alice"},
		{"a space", "alice bob", `"alice bob"`},
		{"fields inside", "mallory session=sess_x", `"mallory session=sess_x"`},
		{"a quote", `al"ice`, `"al\"ice"`},
		{"a backslash", `CORP\alice`, `CORP\alice`},
		{"a backslash and a space", `CORP\al ice`, `"CORP\\al ice"`},
		{"an escape and a space", "mallory \x1b[2J", `"mallory \x1b[2J"`},
		{"a zero-width space", "alice\u200b", `"alice\u200b"`},
		{"a zero-width space typed", `alice\u200b`, `alice\u200b`},
		{"a zero-width space typed, and a space", `alice\u200b x`, `"alice\\u200b x"`},
		{"a no-break space", "alice\u00a0bob", `"alice\u00a0bob"`},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fieldValue(tc.in); got != tc.want {
				t.Errorf("fieldValue(%q) = %s; want %s", tc.in, got, tc.want)
			}
		})
	}
	seen := map[string]string{}
	for _, in := range lookAlikes {
		got := fieldValue(in)
		if prev, ok := seen[got]; ok {
			t.Errorf("fieldValue(%q) = fieldValue(%q) = %s", in, prev, got)
		}
		seen[got] = in
	}
}

// TestEventLine: a line of `events` text output writes each escape once,
// in its field (quoted, fieldValue) or in its details (JSON, whose own
// escapes they are: a tag character is a surrogate pair, not Go's
// \U000e0041, which no JSON reader takes), and the details read back as
// sent.
func TestEventLine(t *testing.T) {
	e := client.Event{
		Time: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), Type: sessiond.EventSessionRevoked,
		Subject: "mallory \x1b[2J", SessionID: "sess_x", Client: sessiond.Client{IP: "203.0.113.7"},
		Details: map[string]any{"reason": "tag\U000e0041", "typed": `a\u200b`, "zw": "a\u200b"},
	}
	want := "2026-12-07T01:02:03Z  session.revoked                     " +
		`subject="mallory \x1b[2J" session=sess_x ip=203.0.113.7 {"reason":"tag\udb40\udc41","typed":"a\\u200b","zw":"a\u200b"}` + "\n"
	got := eventLine(e)
	if got != want {
		t.Errorf("eventLine =\n%s; want\n%s", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(got[strings.Index(got, "{"):]), &back); err != nil || !maps.Equal(back, e.Details) {
		t.Errorf("details read back as %q, %v; want %q", back, err, e.Details)
	}
}
