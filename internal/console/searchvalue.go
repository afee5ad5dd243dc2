package console

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/textsafe"
)

// errSearchQuoted: a search value beginning with a double quote that is
// not a quoted value as the console (or the CLI) writes one.
var errSearchQuoted = errors.New("console: search value: quoted, but not as the console quotes a value")

// searchQuoted says so on a page.
const searchQuoted = `the subject begins with a double quote but is not a value quoted as the console shows one ("alice\u{200b}"); ` +
	`a subject that itself begins with " is searched for as shown, quoted, its quotes and backslashes escaped ("\"alice\"")`

// searchText is the text of a subject search field, and the subject of
// the console's own links to its pages, for the subject s: s as it is,
// unless printable quotes it (a rune it escapes, a leading double quote),
// then that quoted form with its ASCII spaces as typed. searchValue reads
// it back, so that the form sent again, or a link, finds what the page
// showed: the escape text in a field searched for the characters
// `\u{200b}` themselves. Subjects are never cut (256 bytes).
func searchText(s string) string {
	return shown(s, false, !textsafe.Safe(s) || strings.HasPrefix(s, `"`))
}

// maxSearchText bounds the text of a subject search before it is read.
// The searchText of a subject of 256 bytes is up to four times as long,
// and two quotes (128 soft hyphens show as \u{00ad} each, 8 bytes for 2);
// a subject pasted decomposed, which NFC shrinks, is given as much room.
const maxSearchText = 4*4*maxSubject + 2

// searchValue is the subject a search field's value s asks for. A value
// beginning with a double quote is a quoted value as the console shows
// one, unquoted: `"alice\u{200b}"` copied from a table cell finds
// alice followed by a zero-width space. Its escapes are \\, \", \xNN (a
// byte), \u{N…} (one to six hex digits), and the CLI's \uNNNN and
// \UNNNNNNNN; anything else is errSearchQuoted. A value without the
// leading quote is taken as it is, backslashes and all: the console shows
// such a subject unquoted, and one beginning with a double quote quoted
// ("\"alice\""), so no subject has two ways of being asked for.
func searchValue(s string) (string, error) {
	if !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	if len(s) < 2 || !strings.HasSuffix(s, `"`) {
		return "", errSearchQuoted
	}
	body := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(body); {
		switch body[i] {
		case '"':
			return "", errSearchQuoted // unescaped: the value ended before
		case '\\':
		default:
			b.WriteByte(body[i])
			i++
			continue
		}
		if i+1 == len(body) {
			return "", errSearchQuoted
		}
		var hex string
		isByte := false
		switch e := body[i+1]; {
		case e == '\\' || e == '"':
			b.WriteByte(e)
			i += 2
			continue
		case e == 'x' && i+4 <= len(body):
			hex, i, isByte = body[i+2:i+4], i+4, true
		case e == 'u' && strings.HasPrefix(body[i+2:], "{"):
			end := strings.IndexByte(body[i+3:], '}')
			if end < 1 || end > 6 {
				return "", errSearchQuoted
			}
			hex, i = body[i+3:i+3+end], i+4+end
		case e == 'u' && i+6 <= len(body):
			hex, i = body[i+2:i+6], i+6
		case e == 'U' && i+10 <= len(body):
			hex, i = body[i+2:i+10], i+10
		default:
			return "", errSearchQuoted
		}
		n, err := strconv.ParseUint(hex, 16, 32)
		switch {
		case err != nil:
			return "", errSearchQuoted
		case isByte: // as shown for invalid UTF-8
			b.WriteByte(byte(n))
		case !utf8.ValidRune(rune(n)):
			return "", errSearchQuoted
		default:
			b.WriteRune(rune(n))
		}
	}
	return b.String(), nil
}
