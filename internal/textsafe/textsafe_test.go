package textsafe_test

import (
	"slices"
	"testing"
	"unicode"

	"github.com/sessiond/sessiond/internal/textsafe"
)

// TestUnsafe: the runes shown as escapes are those that act on a
// terminal, reorder the text around them or show as nothing, so that a
// value that holds one does not pass for one that does not.
func TestUnsafe(t *testing.T) {
	const start = -1
	for _, tc := range []struct {
		name    string
		prev, r rune
		want    bool
	}{
		{"letter", start, 'a', false},
		{"space", 'a', ' ', false},
		{"accented letter", start, 'é', false},
		{"combining acute accent", 'e', '\u0301', false},
		{"CJK", start, '日', false},
		{"Arabic", start, 'م', false},
		{"emoji", start, '😀', false},
		{"escape", 'a', '\x1b', true},
		{"NUL", start, 0, true},
		{"tab", 'a', '\t', true},
		{"line feed", 'a', '\n', true},
		{"DEL", 'a', 0x7f, true},
		{"C1 CSI", 'a', 0x9b, true},
		{"next line (NEL)", 'a', 0x85, true},
		{"soft hyphen", 'a', 0xad, true},
		{"right-to-left override", 'a', '\u202e', true},
		{"left-to-right isolate", 'a', '\u2066', true},
		{"pop directional isolate", 'a', '\u2069', true},
		{"right-to-left mark", 'a', '\u200f', true},
		{"Arabic letter mark", 'a', '\u061c', true},
		{"zero-width space", 'a', '\u200b', true},
		{"zero-width joiner", '😀', '\u200d', true},
		{"word joiner", 'a', '\u2060', true},
		{"byte order mark", start, '\ufeff', true},
		{"Mongolian vowel separator", 'a', '\u180e', true},
		{"line separator", 'a', '\u2028', true},
		{"paragraph separator", 'a', '\u2029', true},
		{"interlinear annotation anchor", start, '\ufff9', true},
		{"interlinear annotation terminator", 'a', '\ufffb', true},
		{"Hangul filler", 'a', '\u3164', true},
		{"Hangul choseong filler", 'a', '\u115f', true},
		{"Hangul jungseong filler", 'a', '\u1160', true},
		{"halfwidth Hangul filler", 'a', '\uffa0', true},
		{"combining grapheme joiner", 'a', '\u034f', true},
		{"Khmer inherent vowel", start, '\u17b4', true},
		{"blank Braille pattern", 'a', '\u2800', true},
		{"Braille pattern with dots", 'a', '\u2801', false},
		{"musical symbol null notehead", 'a', '\U0001d159', true},
		{"musical symbol void notehead", 'a', '\U0001d157', false},
		{"Khitan small script filler", 'a', '\U00016fe4', true},
		{"tag letter", 'a', '\U000e0041', true},
		{"language tag", start, '\U000e0001', true},
		{"cancel tag", 'a', '\U000e007f', true},
		{"unassigned default ignorable", 'a', '\U000e0080', true},
		{"shorthand format control", 'a', '\U0001bca0', true},
		{"musical symbol begin beam", 'a', '\U0001d173', true},
		{"emoji presentation selector after an emoji", '\u2764', '\ufe0f', false},
		{"text presentation selector after a symbol", '\u00a9', '\ufe0e', false},
		{"emoji presentation selector after punctuation", '\u203c', '\ufe0f', false},
		{"emoji presentation selector after a letter", 'e', '\ufe0f', true},
		{"emoji presentation selector after a CJK letter", '日', '\ufe0f', true},
		{"emoji presentation selector at the start", start, '\ufe0f', true},
		{"emoji presentation selector after another", '\ufe0f', '\ufe0f', true},
		{"emoji presentation selector after a keycap base", '#', '\ufe0f', true},
		{"emoji presentation selector after an escaped rune", '\u2800', '\ufe0f', true},
		{"emoji presentation selector after a null notehead", '\U0001d159', '\ufe0f', true},
		{"emoji presentation selector after an invalid byte", unicode.ReplacementChar, '\ufe0f', true},
		{"standardized variation selector", '\u2229', '\ufe00', true},
		{"ideographic variation selector", '葛', '\U000e0100', true},
		{"last ideographic variation selector", '葛', '\U000e01ef', true},
		{"Mongolian free variation selector", 'ᠠ', '\u180b', true},
		// Spaces other than ASCII's pass for it (or for two of it): a
		// subject is exact bytes, "alice\u00a0bob" is not "alice bob".
		{"no-break space", 'e', '\u00a0', true},
		{"ogham space mark", 'e', '\u1680', true},
		{"en quad", 'e', '\u2000', true},
		{"hair space", 'e', '\u200a', true},
		{"narrow no-break space", 'e', '\u202f', true},
		{"medium mathematical space", 'e', '\u205f', true},
		{"ideographic space", '山', '\u3000', true},
		{"fourth Mongolian free variation selector", 'ᠠ', '\u180f', true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := textsafe.Unsafe(tc.prev, tc.r); got != tc.want {
				t.Errorf("Unsafe(%U, %U) = %v; want %v", tc.prev, tc.r, got, tc.want)
			}
		})
	}
}

// TestUnsafe_Always: controls, format characters, spaces but ASCII's, the
// line and paragraph separators and the other default ignorables are
// escaped wherever they stand, whatever comes before them.
func TestUnsafe_Always(t *testing.T) {
	always := []*unicode.RangeTable{unicode.Cc, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.In(r, always...) || r == ' ' || r == '\ufe0e' || r == '\ufe0f' {
			continue
		}
		for _, prev := range []rune{-1, 'a', '\u2764', '葛'} {
			if !textsafe.Unsafe(prev, r) {
				t.Errorf("Unsafe(%U, %U) = false; want true", prev, r)
			}
		}
	}
}

// TestUnsafe_ASCII: of ASCII only the controls are escaped, after
// anything (Unsafe answers ASCII without its tables).
func TestUnsafe_ASCII(t *testing.T) {
	for r := rune(0); r < 0x80; r++ {
		for _, prev := range []rune{-1, 'a', '\u2764'} {
			if got, want := textsafe.Unsafe(prev, r), unicode.IsControl(r); got != want {
				t.Errorf("Unsafe(%U, %U) = %v; want %v", prev, r, got, want)
			}
		}
	}
}

func TestSafe(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"Mozilla/5.0 (X11; Linux) Firefox/128.0", true},
		{"héllo 日本 مستخدم 😀", true},
		{"I \u2764\ufe0f sessions", true},
		{"a\x1b[2Jb", false},
		{"bad\xffutf8", false},
		{"bidi\u202eexe", false},
		{"alice\u3164", false},
		{"alice\ufe0f", false},
		{"\ufe0f\u2764", false},
		{"tag\U000e0041", false},
		{"alice\U0001d159\ufe0f", false},
		{"alice bob", true},
		{"alice\u00a0bob", false},
		{"山田\u3000太郎", false},
	} {
		if got := textsafe.Safe(tc.in); got != tc.want {
			t.Errorf("Safe(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

// TestSpaces: an ASCII space shows as itself only between two runes that
// are not spaces; at either end of a value, or beside another, a reader
// cannot see or count it ("alice " passes for "alice", and a terminal
// table or an HTML page shows "a  b" as two columns or as "a b").
func TestSpaces(t *testing.T) {
	for _, tc := range []struct {
		in     string
		hidden bool
		shown  []int // the indexes of the spaces SpaceShown reports
	}{
		{"", false, nil},
		{"alice", false, nil},
		{"alice bob", false, []int{5}},
		{"Mozilla/5.0 (X11; Linux)", false, []int{11, 17}},
		{"a b c", false, []int{1, 3}},
		{" alice", true, nil},
		{"alice ", true, nil},
		{" ", true, nil},
		{"  ", true, nil},
		{"alice  bob", true, nil},
		{"a b  c", true, []int{1}},
		{"日本 語", false, []int{6}},
		{"alice\u00a0bob", false, nil},
		{"a\tb", false, nil},
	} {
		if got := textsafe.HiddenSpaces(tc.in); got != tc.hidden {
			t.Errorf("HiddenSpaces(%q) = %v; want %v", tc.in, got, tc.hidden)
		}
		var shown []int
		for i := range len(tc.in) {
			if tc.in[i] == ' ' && textsafe.SpaceShown(tc.in, i) {
				shown = append(shown, i)
			}
		}
		if !slices.Equal(shown, tc.shown) {
			t.Errorf("SpaceShown(%q, i) for i in %v; want %v", tc.in, shown, tc.shown)
		}
	}
}
