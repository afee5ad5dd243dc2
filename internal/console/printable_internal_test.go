package console

import (
	"testing"

	"github.com/sessiond/sessiond"
)

// TestPrintable: what a page shows of text from clients, stores and other
// operators shows every character that would change how it reads: controls
// and invalid bytes, bidirectional and other format characters, line and
// paragraph separators (a forced line break in a browser), and the letters
// and marks that show as nothing ("alice\u3164" must not pass for "alice").
// It escapes what the CLI escapes (cmd/sessiond clean).
func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Mozilla/5.0 (X11; Linux) Firefox/128.0", "Mozilla/5.0 (X11; Linux) Firefox/128.0"},
		{"letters of other scripts", "héllo 日本 مستخدم", "héllo 日本 مستخدم"},
		{"emoji with a variation selector", "\u2764\ufe0f", "\u2764\ufe0f"},
		{"terminal escape", "a\x1b[2Jb", `"a\x1b[2Jb"`},
		{"C1 control", "c1\u009b31m", `"c1\x9b31m"`},
		{"invalid UTF-8", "bad\xffutf8", `"bad\xffutf8"`},
		{"bidi override", "bidi\u202eexe", `"bidi\u{202e}exe"`},
		{"zero-width space", "zw\u200bsp", `"zw\u{200b}sp"`},
		{"line separator", "line\u2028sep", `"line\u{2028}sep"`},
		{"paragraph separator", "para\u2029sep", `"para\u{2029}sep"`},
		{"Hangul filler", "alice\u3164", `"alice\u{3164}"`},
		{"Hangul choseong and jungseong fillers", "ali\u115fce\u1160", `"ali\u{115f}ce\u{1160}"`},
		{"halfwidth Hangul filler", "alice\uffa0", `"alice\u{ffa0}"`},
		{"combining grapheme joiner", "al\u034fice", `"al\u{034f}ice"`},
		{"Khmer inherent vowel", "\u17b4alice", `"\u{17b4}alice"`},
		{"tag character", "alice\U000e0041", `"alice\u{e0041}"`},
		{"interlinear annotation", "\ufff9alice\ufffb", `"\u{fff9}alice\u{fffb}"`},
		{"next line (NEL)", "ali\u0085ce", `"ali\x85ce"`},
		{"emoji presentation selector after an emoji", "\u2764\ufe0f", "\u2764\ufe0f"},
		{"variation selector after a letter", "alice\ufe0f", `"alice\u{fe0f}"`},
		{"standardized variation selector", "al\ufe00ice", `"al\u{fe00}ice"`},
		{"ideographic variation selector", "\u845b\U000e0100", `"葛\u{e0100}"`},
		{"Mongolian free variation selector", "alice\u180b", `"alice\u{180b}"`},
		{"blank Braille pattern", "alice\u2800", `"alice\u{2800}"`},
		{"null notehead and its presentation selector", "alice\U0001d159\ufe0f", `"alice\u{1d159}\u{fe0f}"`},
		// Spaces other than ASCII's pass for it: another subject.
		{"no-break space", "alice\u00a0bob", `"alice\u{00a0}bob"`},
		{"ogham space mark", "alice\u1680bob", `"alice\u{1680}bob"`},
		{"en quad and hair space", "a\u2000b\u200ac", `"a\u{2000}b\u{200a}c"`},
		{"narrow no-break and medium mathematical spaces", "a\u202fb\u205f", `"a\u{202f}b\u{205f}"`},
		{"ideographic space", "山田\u3000太郎", `"山田\u{3000}太郎"`},
		// An ASCII space a page would hide: at either end (invisible in a
		// cell) or beside another (HTML collapses the run to one).
		{"one space inside", "alice bob", "alice bob"},
		{"trailing space", "alice ", `"alice\u{20}"`},
		{"leading space", " alice", `"\u{20}alice"`},
		{"two spaces inside", "alice  bob", `"alice\u{20}\u{20}bob"`},
		{"only a space", " ", `"\u{20}"`},
		{"spaces beside escapes", "a \x1b b", `"a \x1b b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := printable(tc.in); got != tc.want {
				t.Errorf("printable(%q) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestEditable: a form field's value is printable's but for its ASCII
// spaces, kept as typed: a text box shows them (runs too), and the form
// sent again must ask for the same subject, not "alice\u{20}".
func TestEditable(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "alice", "alice"},
		{"trailing space", "alice ", "alice "},
		{"two spaces inside", " a  b ", " a  b "},
		{"no-break space", "alice\u00a0", `alice\u{00a0}`},
		{"terminal escape", "a\x1b ", `a\x1b `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := editable(tc.in); got != tc.want {
				t.Errorf("editable(%q) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestPrintable_LookAlikes: two values never show as the same text on a
// page. A value shown with an escape is quoted, its backslashes and quotes
// escaped too, so that a zero-width space ("alice\u{200b}", quoted) does
// not pass for the characters `\u{200b}` typed in a subject (shown as
// they are); a value beginning with a quote is quoted as well. The CLI
// does the same with its escapes (cmd/sessiond cell).
func TestPrintable_LookAlikes(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"zero-width space", "alice\u200b", `"alice\u{200b}"`},
		{"zero-width space typed", `alice\u{200b}`, `alice\u{200b}`},
		{"CLI escape typed", `alice\u200b`, `alice\u200b`},
		{"backslash beside an escape", "CORP\\alice\u200b", `"CORP\\alice\u{200b}"`},
		{"quote beside an escape", "a\"b\x1b", `"a\"b\x1b"`},
		{"beginning with a quote", `"alice"`, `"\"alice\""`},
		{"a quote inside", `al"ice`, `al"ice`},
		{"trailing space", "alice ", `"alice\u{20}"`},
		{"invalid byte", "bad\xff", `"bad\xff"`},
		{"invalid byte typed", `bad\xff`, `bad\xff`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := printable(tc.in); got != tc.want {
				t.Errorf("printable(%q) = %s; want %s", tc.in, got, tc.want)
			}
		})
	}
	seen := map[string]string{}
	for _, in := range []string{
		"alice\u200b", `alice\u{200b}`, `alice\\u{200b}`, `"alice\u{200b}"`, `"alice\\u{200b}"`,
		"alice\x00", `alice\x00`, "alice ", `alice\u{20}`, `"alice\u{20}"`,
		"bad\xff", `bad\xff`, `"`, `\`, `\"`, "", `""`,
	} {
		got := printable(in)
		if prev, ok := seen[got]; ok {
			t.Errorf("printable(%q) = printable(%q) = %s", in, prev, got)
		}
		seen[got] = in
	}
}

// TestToRow_Details: an event's details are JSON, which escapes its own
// backslashes and quotes: they are shown escaped but not quoted again, and
// a zero-width space in a detail does not pass for the characters
// `\u{200b}` typed in one.
func TestToRow_Details(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "key leak", `{"reason":"key leak"}`},
		{"zero-width space", "a\u200b", `{"reason":"a\u{200b}"}`},
		{"zero-width space typed", `a\u{200b}`, `{"reason":"a\\u{200b}"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := toRow(sessiond.Event{Details: map[string]any{"reason": tc.in}})
			if row.Details != tc.want {
				t.Errorf("toRow(details %q).Details = %s; want %s", tc.in, row.Details, tc.want)
			}
		})
	}
}
