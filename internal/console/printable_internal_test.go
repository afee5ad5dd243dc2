package console

import "testing"

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
		{"terminal escape", "a\x1b[2Jb", `a\x1b[2Jb`},
		{"C1 control", "c1\u009b31m", `c1\x9b31m`},
		{"invalid UTF-8", "bad\xffutf8", `bad\xffutf8`},
		{"bidi override", "bidi\u202eexe", `bidi\u{202e}exe`},
		{"zero-width space", "zw\u200bsp", `zw\u{200b}sp`},
		{"line separator", "line\u2028sep", `line\u{2028}sep`},
		{"paragraph separator", "para\u2029sep", `para\u{2029}sep`},
		{"Hangul filler", "alice\u3164", `alice\u{3164}`},
		{"Hangul choseong and jungseong fillers", "ali\u115fce\u1160", `ali\u{115f}ce\u{1160}`},
		{"halfwidth Hangul filler", "alice\uffa0", `alice\u{ffa0}`},
		{"combining grapheme joiner", "al\u034fice", `al\u{034f}ice`},
		{"Khmer inherent vowel", "\u17b4alice", `\u{17b4}alice`},
		{"tag character", "alice\U000e0041", `alice\u{e0041}`},
		{"interlinear annotation", "\ufff9alice\ufffb", `\u{fff9}alice\u{fffb}`},
		{"next line (NEL)", "ali\u0085ce", `ali\x85ce`},
		{"emoji presentation selector after an emoji", "\u2764\ufe0f", "\u2764\ufe0f"},
		{"variation selector after a letter", "alice\ufe0f", `alice\u{fe0f}`},
		{"standardized variation selector", "al\ufe00ice", `al\u{fe00}ice`},
		{"ideographic variation selector", "\u845b\U000e0100", "\u845b" + `\u{e0100}`},
		{"Mongolian free variation selector", "alice\u180b", `alice\u{180b}`},
		{"blank Braille pattern", "alice\u2800", `alice\u{2800}`},
		{"null notehead and its presentation selector", "alice\U0001d159\ufe0f", `alice\u{1d159}\u{fe0f}`},
		// Spaces other than ASCII's pass for it: another subject.
		{"no-break space", "alice\u00a0bob", `alice\u{00a0}bob`},
		{"ogham space mark", "alice\u1680bob", `alice\u{1680}bob`},
		{"en quad and hair space", "a\u2000b\u200ac", `a\u{2000}b\u{200a}c`},
		{"narrow no-break and medium mathematical spaces", "a\u202fb\u205f", `a\u{202f}b\u{205f}`},
		{"ideographic space", "山田\u3000太郎", "山田" + `\u{3000}` + "太郎"},
		// An ASCII space a page would hide: at either end (invisible in a
		// cell) or beside another (HTML collapses the run to one).
		{"one space inside", "alice bob", "alice bob"},
		{"trailing space", "alice ", `alice\u{20}`},
		{"leading space", " alice", `\u{20}alice`},
		{"two spaces inside", "alice  bob", `alice\u{20}\u{20}bob`},
		{"only a space", " ", `\u{20}`},
		{"spaces beside escapes", "a \x1b b", `a \x1b b`},
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
