// Package textsafe holds the one rule of which characters the CLI and the
// console show as escapes rather than as themselves: those that act on a
// terminal, hide, or reorder the text around them, so that what an
// operator reads is what was stored and two values that differ look
// different. Each surface writes the escapes in its own format.
package textsafe

import (
	"unicode"
	"unicode/utf8"
)

// Unsafe reports whether r, following prev in the text (prev < 0 at its
// start), is to be shown as an escape: a control character (C0, DEL, C1,
// NEL among them), a format character (bidirectional controls, zero-width
// ones, tags, interlinear annotation), a space other than ASCII's (the
// no-break space, U+2000–U+200A, the ideographic space…: each passes for
// one or two of it, and "alice bob" is another subject than
// "alice bob"), the line and paragraph separators,
// a letter or mark that shows as nothing (Unicode's other default
// ignorables: Hangul fillers, the combining grapheme joiner…; the blank
// Braille pattern, the musical null notehead, the Khitan filler), and a
// variation selector, but for U+FE0E and U+FE0F right after a symbol or
// punctuation mark outside ASCII that is shown (an emoji's text or emoji
// presentation, which shows): after a letter a selector shows as nothing,
// "alice\ufe0f" would pass for "alice".
func Unsafe(prev, r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		// Of ASCII only the controls: the tables below hold no other
		// ASCII rune, and most text is ASCII (their lookups were most of
		// the time a CLI table of 100,000 sessions took).
		return r < 0x20 || r == 0x7f
	case hidden(r):
		return true
	case r == '\ufe0e' || r == '\ufe0f':
		return !presentable(prev)
	default:
		return unicode.Is(unicode.Variation_Selector, r)
	}
}

// Safe reports whether s is valid UTF-8 without a rune Unsafe reports:
// a surface shows it as it is.
func Safe(s string) bool {
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || Unsafe(prev, r) {
			return false
		}
		prev = r
		i += n
	}
	return true
}

// HiddenSpaces reports whether s holds an ASCII space that SpaceShown
// does not show: one a reader cannot see or count.
func HiddenSpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && !SpaceShown(s, i) {
			return true
		}
	}
	return false
}

// SpaceShown reports whether the ASCII space at s[i] can be shown as
// itself: between two runes that are not ASCII spaces. At either end of a
// value a space cannot be seen ("alice " passes for "alice"), and beside
// another it cannot be counted (HTML draws "a  b" as "a b"; a CLI table
// as two columns). A surface shows the others as an escape or the value
// quoted.
func SpaceShown(s string, i int) bool {
	return i > 0 && i < len(s)-1 && s[i-1] != ' ' && s[i+1] != ' '
}

// hidden: the runes unsafe wherever they stand.
func hidden(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point) ||
		blank(r)
}

// blank: the assigned characters outside the default ignorables that are
// drawn as nothing by design, as Hangul fillers are: as a symbol each
// would also let the presentation selector after it through (presentable).
func blank(r rune) bool {
	switch r {
	case '\u2800', // BRAILLE PATTERN BLANK
		'\U0001d159', // MUSICAL SYMBOL NULL NOTEHEAD
		'\U00016fe4': // KHITAN SMALL SCRIPT FILLER
		return true
	}
	return false
}

// presentable: a rune whose look a text or emoji presentation selector
// changes. Unicode lists them (emoji-variation-sequences.txt); nearly all
// are symbols and punctuation outside ASCII, and for want of that list
// (neither the standard library nor x/text has it) every such rune counts,
// listed or not: a selector after U+2211 passes unseen. The listed others
// (the keycap bases # * 0-9, U+2139) keep their selector escaped, which
// hides nothing.
// U+FFFD stands for invalid bytes, themselves escaped.
func presentable(r rune) bool {
	return r >= 0x80 && r != utf8.RuneError && (unicode.IsSymbol(r) || unicode.IsPunct(r)) && !hidden(r)
}
